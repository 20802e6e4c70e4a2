import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { goTool, toolVersion } from '../helpers/go-tools.js';
import { freePort } from '../helpers/ports.js';
import { KubeApi } from './kube-api.js';
import { makePki, type CertPair, type ControlPlanePki } from './pki.js';

/**
 * A real Kubernetes control plane on loopback, from the binaries scripts/go-tools.sh builds
 * (tools/kubernetes/go.mod, tools/kwok/go.mod): etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, and kwok standing in for the kubelets of `nodes` fake nodes, so a Deployment's
 * pods are created by the ReplicaSet controller, bound by the scheduler and reported Running.
 *
 * Every listener is on 127.0.0.1 and every client dials 127.0.0.1. The service range and kwok's pod
 * IPs (10.x) are data in objects only: no component here routes to them, and webhooks must be
 * registered with a `url` on 127.0.0.1, never a `service` (the apiserver would dial the ClusterIP).
 */
export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** The admin kubeconfig (system:masters), for kubectl, helm and tests. */
  readonly kubeconfig: string;
  readonly pki: ControlPlanePki;
  /** A client as the admin. */
  readonly api: KubeApi;
  readonly kubernetesVersion: string;
  /** Milliseconds from the call to each component being ready, and in total. */
  readonly startup: Readonly<Record<'etcd' | 'apiserver' | 'controllers' | 'total', number>>;
  /** The last 16 KiB of one component's log (all of it is in `dir`/NAME.log). */
  logTail(name: ComponentName): string;
  /** Each running component's process id. */
  pids(): Partial<Record<ComponentName, number>>;
  readonly dir: string;
  stop(): Promise<void>;
}

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';

export interface ControlPlaneOptions {
  /** Fake nodes kwok manages (named kwok-node-0, …). Default 1. */
  readonly nodes?: number;
  /** More kube-apiserver flags (a later --flag=value wins over the harness's). */
  readonly apiserverFlags?: readonly string[];
  /** Keep the directory (logs, certs, kubeconfig) after stop(), to read after a failure. */
  readonly keepDir?: boolean;
}

/**
 * The admission plugins on, beyond kube-apiserver's defaults (which already include
 * NamespaceLifecycle, LimitRanger, ServiceAccount, PodSecurity, Priority, DefaultTolerationSeconds,
 * ResourceQuota, MutatingAdmissionWebhook, ValidatingAdmissionWebhook and the policy plugins):
 * NodeRestriction as kubeadm adds it, and the two webhook plugins named so the intent is visible.
 */
export const ADMISSION_PLUGINS = ['NodeRestriction', 'MutatingAdmissionWebhook', 'ValidatingAdmissionWebhook'] as const;

const STAGES = join(process.cwd(), 'test', 'cluster', 'kwok-stages.yaml');

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now();
  const bins = {
    etcd: goTool('etcd'),
    apiserver: goTool('kube-apiserver'),
    controllerManager: goTool('kube-controller-manager'),
    scheduler: goTool('kube-scheduler'),
    kwok: goTool('kwok'),
  };
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-k8s-'));
  const procs: Component[] = [];
  const stop = async (): Promise<void> => {
    // Dependents first, etcd last, so none of them logs a storm of connection errors on the way out.
    for (const p of [...procs].reverse()) await p.stop();
    if (opts.keepDir !== true) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pki = makePki(dir);
    const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const server = `https://127.0.0.1:${apiPort}`;

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    procs.push(
      Component.start(dir, 'etcd', bins.etcd, [
        '--name=etcd0',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=etcd0=http://127.0.0.1:${etcdPeer}`,
        // A test cluster's data dies with the test: no fsync keeps writes fast on a shared disk.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ]),
    );
    await procs[0]!.waitUntil('etcd /health', 30_000, async () => {
      const r = await request(`${etcdUrl}/health`);
      return r.statusCode === 200 && ((await r.body.json()) as { health?: string }).health === 'true';
    });
    const tEtcd = Date.now() - t0;

    const apiserver = Component.start(dir, 'kube-apiserver', bins.apiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--advertise-address=127.0.0.1',
      `--tls-cert-file=${pki.apiserver.certFile}`,
      `--tls-private-key-file=${pki.apiserver.keyFile}`,
      `--client-ca-file=${pki.ca.certFile}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPubFile}`,
      `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=Node,RBAC',
      `--enable-admission-plugins=${ADMISSION_PLUGINS.join(',')}`,
      '--allow-privileged=true',
      // The `kubernetes` Service's endpoint would be 127.0.0.1, which Endpoints validation refuses
      // (loopback): the reconciler would log that error every 10 s for nothing.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      ...(opts.apiserverFlags ?? []),
    ]);
    procs.push(apiserver);
    const api = new KubeApi(server, { ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key });
    await apiserver.waitUntil('kube-apiserver /readyz', 60_000, async () => {
      const r = await api.get('/readyz');
      return r.status === 200;
    });
    const tApiserver = Date.now() - t0;

    const kubeconfig = writeKubeconfig(join(dir, 'admin.kubeconfig'), server, pki.ca, pki.admin, 'kubernetes-admin');
    const kcmConfig = writeKubeconfig(
      join(dir, 'controller-manager.kubeconfig'),
      server,
      pki.ca,
      pki.controllerManager,
      'system:kube-controller-manager',
    );
    const schedConfig = writeKubeconfig(join(dir, 'scheduler.kubeconfig'), server, pki.ca, pki.scheduler, 'system:kube-scheduler');

    procs.push(
      Component.start(dir, 'kube-controller-manager', bins.controllerManager, [
        `--kubeconfig=${kcmConfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        '--leader-elect=false',
        // Each controller acts as its own service account, as in kubeadm clusters, so RBAC is real.
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.serviceAccountKeyFile}`,
        `--root-ca-file=${pki.ca.certFile}`,
        `--cluster-signing-cert-file=${pki.ca.certFile}`,
        `--cluster-signing-key-file=${pki.ca.keyFile}`,
      ]),
    );
    procs.push(
      Component.start(dir, 'kube-scheduler', bins.scheduler, [
        `--kubeconfig=${schedConfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${schedPort}`,
        `--cert-dir=${join(dir, 'scheduler-certs')}`,
        '--leader-elect=false',
      ]),
    );
    // kwok acts as the admin: it writes node and pod status, leases and events for every node.
    procs.push(
      Component.start(dir, 'kwok', bins.kwok, [
        `--kubeconfig=${kubeconfig}`,
        `--config=${STAGES}`,
        '--manage-all-nodes=true',
        '--node-lease-duration-seconds=40',
      ]),
    );

    const nodes = opts.nodes ?? 1;
    for (let i = 0; i < nodes; i++) await api.create('/api/v1/nodes', fakeNode(`kwok-node-${i}`));
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    const healthz = async (port: number): Promise<boolean> => {
      const r = await request(`https://127.0.0.1:${port}/healthz`, { dispatcher: insecure });
      await r.body.dump();
      return r.statusCode === 200;
    };
    const [kcm, sched, kwok] = [procs[2]!, procs[3]!, procs[4]!];
    await Promise.all([
      kcm.waitUntil(
        'kube-controller-manager /healthz and the default ServiceAccount',
        60_000,
        async () => (await healthz(kcmPort)) && (await api.get('/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
      ),
      sched.waitUntil('kube-scheduler /healthz', 60_000, () => healthz(schedPort)),
      kwok.waitUntil(`${nodes} node(s) Ready`, 60_000, async () => {
        const r = await api.get('/api/v1/nodes');
        const ready = (r.body?.items ?? []).filter((n: { status?: { conditions?: { type: string; status: string }[] } }) =>
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === nodes;
      }),
    ]);
    await insecure.close();
    const tControllers = Date.now() - t0;

    const byName = new Map(procs.map((p) => [p.name, p]));
    return {
      server,
      kubeconfig,
      pki,
      api,
      dir,
      kubernetesVersion: toolVersion('kube-apiserver'),
      startup: { etcd: tEtcd, apiserver: tApiserver, controllers: tControllers, total: Date.now() - t0 },
      logTail: (name) => byName.get(name)?.tail() ?? '',
      pids: () => Object.fromEntries(procs.flatMap((p) => (p.pid === undefined ? [] : [[p.name, p.pid]]))),
      stop: async () => {
        await api.close();
        await stop();
      },
    };
  } catch (err) {
    const tails = procs.map((p) => `--- ${p.name} (exit ${p.exitDescription()}) ---\n${p.tail()}`).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n${tails}`, { cause: err });
  }
}

/** A Node object for kwok to bring up; no taint, since every node of this cluster is kwok's. */
function fakeNode(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
    },
  };
}

function writeKubeconfig(file: string, server: string, ca: CertPair, user: CertPair, userName: string): string {
  // JSON is YAML: kubeconfig readers (client-go, helm, kwok) take either.
  writeFileSync(
    file,
    JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'sidegate-test', cluster: { server, 'certificate-authority': ca.certFile } }],
        users: [{ name: userName, user: { 'client-certificate': user.certFile, 'client-key': user.keyFile } }],
        contexts: [{ name: 'sidegate-test', context: { cluster: 'sidegate-test', user: userName } }],
        'current-context': 'sidegate-test',
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  return file;
}

/**
 * One component's process. Its output goes straight to DIR/NAME.log (a file, not a pipe: a test
 * that blocks the event loop, in a spawnSync say, must not stall the apiserver on a full pipe).
 */
class Component {
  private constructor(
    readonly name: ComponentName,
    private readonly proc: ChildProcess,
    private readonly logFile: string,
  ) {}

  static start(dir: string, name: ComponentName, bin: string, args: readonly string[]): Component {
    const logFile = join(dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    try {
      return new Component(name, spawn(bin, args, { stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH, HOME: dir } }), logFile);
    } finally {
      closeSync(fd);
    }
  }

  get pid(): number | undefined {
    return this.proc.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined;
  }

  /** The last 16 KiB of the log. */
  tail(): string {
    try {
      const buf = readFileSync(this.logFile);
      return buf.subarray(Math.max(0, buf.length - 16_384)).toString();
    } catch {
      return '';
    }
  }

  exitDescription(): string {
    return this.proc.exitCode !== null ? String(this.proc.exitCode) : (this.proc.signalCode ?? 'running');
  }

  /** Polls `ready` every 100 ms; fails at once if the process exits, or after `timeoutMs`. */
  async waitUntil(what: string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null)
        throw new Error(`${this.name} exited (${this.exitDescription()}) before ${what}`);
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  }
}
