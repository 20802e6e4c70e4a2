#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=2 --heap-growing-percent=20 --v8-pool-size=1 --no-maglev --bytecode-old-age=2 --no-sparkplug
import { processIo, type CliIo } from './io.js';

const USAGE = `usage: sidegate <command> [flags]

commands:
  proxy          run the sidecar (see: sidegate proxy --help)
  injector       run the admission webhook server (HTTPS)
  inject -f FILE inject the sidecar into manifests offline (- for stdin)
  validate FILE  validate policy files; exit 1 with every problem and its path
  check [TARGET] will new pods get a sidecar, and why not (against the cluster of a kubeconfig)
  explain -f POLICY [METHOD] TARGET
                 which route, maintenance switch, auth rule, identity and limit keys decide a
                 request, and what the sidecar answers (see: sidegate explain --help)
  revoke         revoke tokens (by jti, or an issuer's or subject's issued before a time),
                 in Redis and durably in the sidegate-revocations ConfigMap
  ban IP         ban a client address, the same way
  init-network   install the iptables rules that send inbound traffic to the sidecar
  drain          tell the local sidecar to drain (the preStop hook)
  wait           block until the local sidecar is ready (classic-mode postStart hook)
  demo           run a demo app behind the sidecar with an example policy (npm start)
`;

type Command = (args: string[], io: CliIo) => Promise<number>;

/** Subcommands are loaded lazily: `sidegate validate` should not pay for the proxy's imports. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  proxy: async () => (await import('./proxy.js')).runProxy,
  drain: async () => (await import('./drain.js')).runDrain,
  wait: async () => (await import('./wait.js')).runWait,
  demo: async () => (await import('./demo.js')).runDemo,
  validate: async () => (await import('./validate.js')).runValidate,
  explain: async () => (await import('./explain.js')).runExplain,
  inject: async () => (await import('./inject.js')).runInject,
  check: async () => (await import('./check.js')).runCheckCommand,
  revoke: async () => (await import('./revoke.js')).runRevoke,
  ban: async () => (await import('./revoke.js')).runBan,
  injector: async () => (await import('./injector.js')).runInjector,
  'init-network': async () => (await import('./init-network.js')).runInitNetwork,
};

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const load = COMMANDS[cmd];
  if (load === undefined) {
    io.err(`sidegate: unknown command "${cmd}"\n${USAGE}`);
    return 2;
  }
  return (await load())(rest, io);
}

main(process.argv.slice(2), processIo).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(70);
  },
);
