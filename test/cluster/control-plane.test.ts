/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- Kubernetes objects are untyped JSON in tests */
/**
 * The cluster harness itself, end to end: a Deployment created through the real apiserver becomes a
 * ReplicaSet (deployment controller), a Pod (ReplicaSet controller) that went through the apiserver's
 * admission chain, is bound to a node (scheduler) and reported Running (kwok).
 */
import t from 'tap';
import { startControlPlane } from './control-plane.js';
import { listeningAddresses } from './sockets.js';

const NS = 'smoke';

t.test('control plane: Deployment → ReplicaSet → Pod, scheduled and Running', async (t) => {
  const plane = await startControlPlane();
  t.teardown(() => plane.stop());
  t.comment(
    `Kubernetes ${plane.kubernetesVersion}: etcd ready at ${plane.startup.etcd} ms, kube-apiserver at ${plane.startup.apiserver} ms, ` +
      `controllers, scheduler and kwok's node at ${plane.startup.controllers} ms (total ${plane.startup.total} ms)`,
  );
  const { api } = plane;

  const version = await api.get('/version');
  t.equal(version.body.gitVersion, plane.kubernetesVersion, '/version says the pinned release (stamped at build time)');

  // Nothing listens beyond loopback: every component binds 127.0.0.1 only.
  const pids = plane.pids();
  t.same(
    Object.keys(pids).sort(),
    ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'],
    'all five components run',
  );
  for (const [name, pid] of Object.entries(pids)) {
    const addrs = listeningAddresses(pid);
    t.ok(
      addrs.every((a) => a.startsWith('127.')),
      `${name} listens on loopback only: ${addrs.join(' ') || 'nothing'}`,
    );
  }

  await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await api.create(`/apis/apps/v1/namespaces/${NS}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      // The image is never pulled: kwok's kubelets run nothing.
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/web:1', ports: [{ containerPort: 8080 }] }] },
      },
    },
  });

  const rs = await api.waitFor('the deployment controller creates a ReplicaSet', async () => {
    const r = await api.get(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app%3Dweb`);
    return r.body.items?.[0];
  });
  t.equal(rs.metadata.ownerReferences?.[0]?.kind, 'Deployment', 'the ReplicaSet is owned by the Deployment');

  const pod = await api.waitFor('the ReplicaSet controller creates a Pod, the scheduler binds it and kwok runs it', async () => {
    const r = await api.get(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dweb`);
    const p = r.body.items?.[0];
    return p?.status?.phase === 'Running' ? p : undefined;
  });
  t.equal(pod.metadata.ownerReferences?.[0]?.name, rs.metadata.name, 'the Pod is owned by the ReplicaSet');
  t.equal(pod.spec.nodeName, 'kwok-node-0', 'bound by kube-scheduler to the kwok node');
  t.ok(
    pod.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'),
    'Ready, as kwok reports it',
  );

  // Marks of the admission chain and defaulting: the ServiceAccount plugin mounted the token,
  // DefaultTolerationSeconds added the eviction tolerations, defaulting filled the rest.
  t.equal(pod.spec.serviceAccountName, 'default', 'ServiceAccount admission set the account');
  t.ok(
    pod.spec.volumes.some((v: any) => v.name.startsWith('kube-api-access-') && v.projected !== undefined),
    'ServiceAccount admission added the projected token volume',
  );
  t.ok(
    pod.spec.tolerations.some((x: any) => x.key === 'node.kubernetes.io/not-ready' && x.tolerationSeconds === 300),
    'DefaultTolerationSeconds added its toleration',
  );
  t.equal(pod.spec.containers[0].terminationMessagePolicy, 'File', 'apiserver defaulting ran');

  const dep = await api.waitFor('the Deployment reports one available replica', async () => {
    const r = await api.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`);
    return r.body.status?.availableReplicas === 1 ? r.body : undefined;
  });
  t.equal(dep.status.readyReplicas, 1);

  const plugins = await api.get('/metrics');
  t.equal(plugins.status, 200, 'metrics readable by the admin');
  for (const name of ['MutatingAdmissionWebhook', 'ValidatingAdmissionWebhook']) {
    t.match(
      plugins.body,
      new RegExp(`apiserver_admission_controller_admission_duration_seconds_count\\{name="${name}"`),
      `${name} is in the admission chain`,
    );
  }
});
