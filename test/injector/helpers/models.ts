/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are arbitrary JSON in these tests */
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { Pod } from 'kubernetes-models/v1';

/** Validates an object against the Kubernetes OpenAPI schema of its kind; throws with the errors. */
export function validateK8s(obj: any): void {
  const ctor: Record<string, new (o: any) => { validate(): void }> = {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
  };
  const C = ctor[String(obj?.kind)];
  if (C === undefined) return;
  new C(obj).validate();
}
