/**
 * The durable copy of the revocation list: the `sidegate-revocations` ConfigMap of a namespace,
 * read and written through the API server with the kubeconfig's credentials. Writes are
 * read-modify-write on the resourceVersion, retried on a conflict, so two operators revoking at
 * once both land.
 */
import { ApiException, CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import {
  formatRevocations,
  parseRevocations,
  REVOCATIONS_CONFIGMAP,
  REVOCATIONS_KEY,
  type RevocationEntry,
  type RevocationProblem,
} from '../../sidecar/src/revocation/index.js';
import { apiMessage } from '../check/cluster.js';

export class ApiWriteError extends Error {
  override readonly name = 'ApiWriteError';
}

export interface ListRead {
  readonly entries: readonly RevocationEntry[];
  /** Bad entries of the stored list (left out, as the sidecars leave them out). */
  readonly problems: readonly RevocationProblem[];
  readonly exists: boolean;
}

const CONFLICT_RETRIES = 5;

export class RevocationConfigMap {
  private readonly core: CoreV1Api;
  constructor(
    kc: KubeConfig,
    readonly namespace: string,
    readonly name = REVOCATIONS_CONFIGMAP,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async read(): Promise<ListRead> {
    const cm = await this.get();
    if (cm === undefined) return { entries: [], problems: [], exists: false };
    const p = parsed(cm);
    return { entries: p.entries, problems: p.problems, exists: true };
  }

  /**
   * Apply `change` to the stored entries and write the result (creating the ConfigMap when absent).
   * `change` may run more than once (after a conflict); it gets the current entries and returns the new ones.
   */
  async update(
    change: (current: readonly RevocationEntry[], problems: readonly RevocationProblem[]) => RevocationEntry[],
    now: number,
  ): Promise<ListRead> {
    for (let attempt = 0; ; attempt++) {
      const cm = await this.get();
      const cur = cm === undefined ? { entries: [], problems: [], fatal: false } : parsed(cm);
      // Never overwrite what could not be read: it may be someone's revocations in a shape we do not know.
      if (cur.fatal)
        throw new ApiWriteError(
          `configmap ${this.namespace}/${this.name} holds no readable revocation list (${cur.problems.map((p) => `${p.path || '/'}: ${p.message}`).join('; ')}): fix it with kubectl edit, then run this again`,
        );
      const next = change(cur.entries, cur.problems);
      const data = { ...(cm?.data ?? {}), [REVOCATIONS_KEY]: formatRevocations(next, now) };
      try {
        if (cm === undefined) {
          await this.core.createNamespacedConfigMap({
            namespace: this.namespace,
            body: {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: {
                name: this.name,
                namespace: this.namespace,
                labels: { 'app.kubernetes.io/part-of': 'sidegate', 'app.kubernetes.io/component': 'revocations' },
              },
              data,
            },
          });
        } else {
          await this.core.replaceNamespacedConfigMap({ name: this.name, namespace: this.namespace, body: { ...cm, data } });
        }
        return { entries: next, problems: cur.problems, exists: true };
      } catch (e) {
        // 409: someone wrote in between (replace), or created it first (create): read again and redo the change.
        const conflict = e instanceof ApiException && e.code === 409;
        if (conflict && attempt < CONFLICT_RETRIES) continue;
        throw new ApiWriteError(`cannot write configmap ${this.namespace}/${this.name}: ${describe(e)}`);
      }
    }
  }

  private async get(): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ name: this.name, namespace: this.namespace });
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return undefined;
      throw new ApiWriteError(`cannot read configmap ${this.namespace}/${this.name}: ${describe(e)}`);
    }
  }
}

function parsed(cm: V1ConfigMap): { entries: readonly RevocationEntry[]; problems: readonly RevocationProblem[]; fatal: boolean } {
  const text = cm.data?.[REVOCATIONS_KEY];
  if (text === undefined) return { entries: [], problems: [], fatal: false };
  const r = parseRevocations(text);
  return r.ok ? { entries: r.entries, problems: r.problems, fatal: false } : { entries: [], problems: r.problems, fatal: true };
}

function describe(e: unknown): string {
  if (e instanceof ApiException) return `${e.code} ${apiMessage(e.body)}`;
  return e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}` : String(e);
}
