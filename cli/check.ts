/**
 * `sidegate check [TARGET]`: will new pods get a sidecar, and if not, why (like `istioctl x
 * check-inject` and `linkerd check`). Reads the cluster through the kubeconfig; the checks are in
 * cli/check/, the findings and their codes in cli/check/findings.ts (docs/errors.md).
 * Exit 0: no finding of severity error; 1: at least one; 2: usage or kubeconfig error.
 */
import { Cluster, KubeconfigError } from './check/cluster.js';
import { hasErrors, type Finding } from './check/findings.js';
import { runCheck, type Report, type Target, type TargetKind } from './check/run.js';
import type { CliIo } from './io.js';

const USAGE = `usage: sidegate check [TARGET] [flags]

Says whether new pods will get the sidecar and, if not, why: the namespace's labels against the
installed MutatingWebhookConfiguration's selectors, the pod's labels and sidegate.dev/ annotations
(judged by the injector's own code), the injector's endpoints, its serving certificate against the
webhook's caBundle, and the failure policy. For running pods: injected or not, and with what.
Every finding has a stable code (docs/errors.md) and a one-line fix.

TARGET: namespace/NAME, deployment/NAME, statefulset/NAME, daemonset/NAME, replicaset/NAME,
        job/NAME, cronjob/NAME or pod/NAME (ns, deploy, sts, ds, rs, cj, po also work);
        default: the namespace (-n)
  --kubeconfig FILE          default: $KUBECONFIG, else ~/.kube/config, else the pod's service account
  --context NAME             a context of the kubeconfig other than its current one
  -n, --namespace NS         the target's namespace (default: the context's, else default)
  --webhook-config NAME      the MutatingWebhookConfiguration to check (default: the one carrying
                             sidegate's *.sidegate.dev webhooks)
  --injector-address H:PORT  where to reach the injector over TLS when the webhook names a Service
                             (after kubectl -n NS port-forward svc/INJECTOR PORT:443)
  --timeout MS               for each API read and each TLS handshake with the injector (default 10000)
  -o, --output text|json
Exit 0 when no finding is an error, 1 when one is, 2 on usage or kubeconfig errors.`;

const KINDS: Readonly<Record<string, TargetKind>> = {
  ns: 'namespace',
  namespace: 'namespace',
  namespaces: 'namespace',
  po: 'pod',
  pod: 'pod',
  pods: 'pod',
  deploy: 'deployment',
  deployment: 'deployment',
  deployments: 'deployment',
  sts: 'statefulset',
  statefulset: 'statefulset',
  statefulsets: 'statefulset',
  ds: 'daemonset',
  daemonset: 'daemonset',
  daemonsets: 'daemonset',
  rs: 'replicaset',
  replicaset: 'replicaset',
  replicasets: 'replicaset',
  job: 'job',
  jobs: 'job',
  cj: 'cronjob',
  cronjob: 'cronjob',
  cronjobs: 'cronjob',
};

interface Args {
  target: string[];
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  webhookConfig?: string;
  injectorAddress?: { host: string; port: number };
  timeoutMs: number;
  output: 'text' | 'json';
}

function parseArgs(argv: readonly string[]): Args | string {
  const a: Args = { target: [], timeoutMs: 10_000, output: 'text' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    try {
      if (flag === '--kubeconfig') a.kubeconfig = value();
      else if (flag === '--context') a.context = value();
      else if (flag === '-n' || flag === '--namespace') a.namespace = value();
      else if (flag === '--webhook-config') a.webhookConfig = value();
      else if (flag === '--injector-address') {
        const m = /^(.+):(\d+)$/.exec(value());
        if (m === null) return '--injector-address takes HOST:PORT';
        a.injectorAddress = { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
      } else if (flag === '--timeout') {
        a.timeoutMs = Number(value());
        if (!Number.isInteger(a.timeoutMs) || a.timeoutMs <= 0) return '--timeout takes milliseconds';
      } else if (flag === '-o' || flag === '--output') {
        const o = value();
        if (o !== 'text' && o !== 'json') return '--output is text or json';
        a.output = o;
      } else if (flag.startsWith('-')) return `unknown flag ${flag}`;
      else a.target.push(arg);
    } catch (e) {
      return (e as Error).message;
    }
  }
  return a;
}

/** `kind/name` or `kind name`; none: the namespace. */
function parseTarget(words: readonly string[], namespace: string): Target | string {
  if (words.length === 0) return { kind: 'namespace', name: namespace };
  const [kindWord, name] = words.length === 1 ? (words[0]!.split('/', 2) as [string, string | undefined]) : [words[0]!, words[1]];
  const kind = KINDS[kindWord.toLowerCase()];
  if (kind === undefined || name === undefined || name === '' || words.length > 2)
    return `cannot read the target "${words.join(' ')}": use KIND/NAME`;
  return { kind, name };
}

export async function runCheckCommand(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    io.out(USAGE);
    return 0;
  }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.err(`sidegate check: ${args}\n${USAGE}`);
    return 2;
  }
  let cluster: Cluster;
  try {
    cluster = Cluster.open({
      timeoutMs: args.timeoutMs,
      ...(args.kubeconfig === undefined ? {} : { kubeconfig: args.kubeconfig }),
      ...(args.context === undefined ? {} : { context: args.context }),
    });
  } catch (e) {
    if (e instanceof KubeconfigError) {
      io.err(`sidegate check: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const target = parseTarget(args.target, args.namespace ?? cluster.defaultNamespace);
  if (typeof target === 'string') {
    io.err(`sidegate check: ${target}\n${USAGE}`);
    return 2;
  }
  const report = await runCheck(cluster, {
    target,
    namespace: target.kind === 'namespace' ? target.name : (args.namespace ?? cluster.defaultNamespace),
    webhookConfig: args.webhookConfig,
    injectorAddress: args.injectorAddress,
    now: new Date(),
    tlsTimeoutMs: args.timeoutMs,
  });
  const failed = hasErrors(report.findings);
  if (args.output === 'json') io.out(JSON.stringify({ ...report, ok: !failed }, null, 2));
  else for (const line of formatReport(report)) io.out(line);
  return failed ? 1 : 0;
}

const OUTCOME: Readonly<Record<NonNullable<Report['newPods']>['outcome'], string>> = {
  inject: 'get a sidecar',
  refuse: 'are REFUSED by the injector: the controller cannot create them',
  skip: 'start WITHOUT a sidecar: the injector skips them',
  'not-called': 'start WITHOUT a sidecar: no sidegate webhook is called for them',
  'call-fails-refuse': 'are REFUSED: the API server cannot complete the call to the injector (failurePolicy Fail)',
  'call-fails-admit': 'start WITHOUT a sidecar: the API server cannot complete the call to the injector (failurePolicy Ignore)',
};

export function formatReport(r: Report): string[] {
  const out: string[] = [];
  out.push(`webhook configuration: ${r.webhookConfiguration ?? '(none)'}`);
  for (const n of r.notes) out.push(`  ${n}`);
  if (r.newPods !== undefined) {
    const whose = r.target.startsWith('namespace/')
      ? `new pods in namespace ${r.namespace}`
      : r.target.startsWith('pod/')
        ? `a pod like ${r.target}, created now, would`
        : `new pods of ${r.target}`;
    out.push(`${whose} ${OUTCOME[r.newPods.outcome]}${r.newPods.webhook === undefined ? '' : ` (webhook ${r.newPods.webhook})`}`);
  }
  if (r.pods.length > 0) {
    out.push(`pods (${r.pods.filter((p) => p.injected).length} of ${r.pods.length} injected):`);
    for (const p of r.pods) out.push(`  ${p.name} (${p.phase}): ${p.detail}`);
  }
  for (const f of r.findings) out.push(...formatFinding(f));
  const errors = r.findings.filter((f) => f.severity === 'error').length;
  out.push(
    `${errors} error${errors === 1 ? '' : 's'}, ${r.findings.length - errors} warning${r.findings.length - errors === 1 ? '' : 's'}`,
  );
  return out;
}

function formatFinding(f: Finding): string[] {
  return [`${f.severity === 'error' ? 'error  ' : 'warning'} ${f.code} ${f.subject}: ${f.message}`, `        fix: ${f.fix}`];
}
