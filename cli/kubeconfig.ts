/**
 * The kubeconfig every cluster-facing command loads, as kubectl does: --kubeconfig FILE, else
 * $KUBECONFIG (a list, merged), else ~/.kube/config, else the pod's service account. Never the
 * client library's fallback of http://localhost:8080.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
}

export interface LoadedKubeconfig {
  readonly kc: KubeConfig;
  readonly server: string;
  /** The context's namespace, else `default`. */
  readonly namespace: string;
}

export function loadKubeconfig(opts: {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
}): LoadedKubeconfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig !== undefined) kc.loadFromFile(opts.kubeconfig);
    else if ((process.env.KUBECONFIG ?? '') !== '' || existsSync(join(homedir(), '.kube', 'config'))) kc.loadFromDefault();
    else if (process.env.KUBERNETES_SERVICE_HOST !== undefined) kc.loadFromCluster();
    else throw new KubeconfigError('no kubeconfig: pass --kubeconfig FILE or set KUBECONFIG');
  } catch (e) {
    if (e instanceof KubeconfigError) throw e;
    throw new KubeconfigError(`cannot load kubeconfig: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (opts.context !== undefined) {
    if (kc.getContextObject(opts.context) === null) throw new KubeconfigError(`no context "${opts.context}" in the kubeconfig`);
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new KubeconfigError(`the kubeconfig's context "${kc.getCurrentContext()}" names no cluster`);
  return { kc, server: cluster.server, namespace: kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default' };
}
