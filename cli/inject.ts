import { readFile } from 'node:fs/promises';
import { ConfigError } from '../injector/src/config.js';
import { loadInjectorConfig } from '../injector/src/config-file.js';
import { injectManifests, ManifestSyntaxError } from '../injector/src/offline.js';
import type { CliIo } from './io.js';

const USAGE = `usage: sidegate inject -f FILE|- [--config FILE] [--namespace NS]

Injects the sidecar into Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and
Lists (multi-document YAML or JSON) and writes the result to stdout. Every namespace is treated as
enabled; pod opt-outs (label sidegate.dev/inject=false), system namespaces and hostNetwork still skip.
Exit 1 when a workload is refused (the message is the one the webhook gives), 2 on usage errors.
  -f, --filename FILE   manifest file, - for stdin
  --config FILE         injector config (YAML/JSON, as the chart's; env SIDEGATE_INJECTOR_CONFIG)
  --namespace NS        namespace for objects that name none (default: default)`;

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/** `sidegate inject`: offline injection, like `istioctl kube-inject`. */
export async function runInject(args: string[], io: CliIo): Promise<number> {
  let file: string | undefined;
  let configPath = process.env.SIDEGATE_INJECTOR_CONFIG;
  let namespace = 'default';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = (): string | undefined => args[++i];
    if (a === '-f' || a === '--filename') file = next();
    else if (a === '--config') configPath = next();
    else if (a === '--namespace' || a === '-n') namespace = next() ?? '';
    else if (a === '-h' || a === '--help') {
      io.out(USAGE);
      return 0;
    } else {
      io.err(`sidegate inject: unknown argument ${a}\n${USAGE}`);
      return 2;
    }
  }
  if (file === undefined || file === '' || namespace === '') {
    io.err(USAGE);
    return 2;
  }
  try {
    const config = await loadInjectorConfig(configPath);
    let text: string;
    if (file === '-') {
      if (io.stdin === undefined) {
        io.err('sidegate inject: no stdin');
        return 2;
      }
      text = await readAll(io.stdin);
    } else {
      text = await readFile(file, 'utf8');
    }
    const r = injectManifests(text, config, { namespace });
    for (const o of r.outcomes) {
      for (const w of o.warnings) io.err(`Warning: ${o.object}: ${w}`);
      if (o.kind === 'skipped') io.err(`sidegate inject: ${o.object} not injected (${o.detail})`);
    }
    if (r.errors.length > 0) {
      for (const e of r.errors) io.err(e);
      return 1;
    }
    io.out(r.output.replace(/\n$/, ''));
    return 0;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ManifestSyntaxError || (e as NodeJS.ErrnoException).code === 'ENOENT') {
      io.err(`sidegate inject: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}
