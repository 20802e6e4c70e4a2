import { ConfigError } from '../injector/src/config.js';
import { loadInjectorConfig } from '../injector/src/config-file.js';
import { InjectorMetrics } from '../injector/src/metrics.js';
import { startWebhook } from '../injector/src/webhook.js';
import type { CliIo } from './io.js';

const USAGE = `usage: sidegate injector --cert FILE --key FILE [--listen HOST:PORT] [--config FILE]

The admission webhook server (HTTPS, TLS 1.2+): POST /inject (pods), POST /validate (policy
ConfigMaps), GET /healthz, GET /metrics. Certificate files are reloaded when they change.
  --cert FILE         serving certificate (env SIDEGATE_INJECTOR_CERT)
  --key FILE          its private key (env SIDEGATE_INJECTOR_KEY)
  --listen HOST:PORT  default 0.0.0.0:9443 (env SIDEGATE_INJECTOR_LISTEN)
  --config FILE       injector config, YAML or JSON (env SIDEGATE_INJECTOR_CONFIG)
  --shutdown-delay S  on SIGTERM, seconds to keep answering (readiness 503, every answer closing
                      its connection) before closing, so no admission in flight fails; default 5
                      (env SIDEGATE_INJECTOR_SHUTDOWN_DELAY). A second signal exits at once`;

function splitHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(.*):(\d+)$/.exec(s);
  if (m === null) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

/** `sidegate injector`: runs until SIGTERM/SIGINT. */
export async function runInjector(args: string[], io: CliIo): Promise<number> {
  const env = process.env;
  let cert = env.SIDEGATE_INJECTOR_CERT;
  let key = env.SIDEGATE_INJECTOR_KEY;
  let listen = env.SIDEGATE_INJECTOR_LISTEN ?? '0.0.0.0:9443';
  let configPath = env.SIDEGATE_INJECTOR_CONFIG;
  let delay = env.SIDEGATE_INJECTOR_SHUTDOWN_DELAY ?? '5';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--cert') cert = args[++i];
    else if (a === '--key') key = args[++i];
    else if (a === '--listen') listen = args[++i] ?? '';
    else if (a === '--config') configPath = args[++i];
    else if (a === '--shutdown-delay') delay = args[++i] ?? '';
    else if (a === '-h' || a === '--help') {
      io.out(USAGE);
      return 0;
    } else {
      io.err(`sidegate injector: unknown argument ${a}\n${USAGE}`);
      return 2;
    }
  }
  const hp = splitHostPort(listen);
  if (cert === undefined || key === undefined || hp === undefined) {
    io.err(USAGE);
    return 2;
  }
  const delaySeconds = Number(delay);
  if (!/^\d+(\.\d+)?$/.test(delay) || delaySeconds > 600) {
    io.err(`sidegate injector: --shutdown-delay must be seconds from 0 to 600, got ${JSON.stringify(delay)}`);
    return 2;
  }
  let config;
  try {
    config = await loadInjectorConfig(configPath);
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(`sidegate injector: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const log = (level: 'info' | 'warn', msg: string): void => {
    io.out(JSON.stringify({ level, component: 'injector', msg }));
  };
  const hook = await startWebhook({
    config,
    certFile: cert,
    keyFile: key,
    host: hp.host,
    port: hp.port,
    metrics: new InjectorMetrics(),
    log,
  });
  log('info', `listening on ${hp.host}:${hook.port}`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log('info', `shutting down: answering for ${delaySeconds} s more, then closing`);
  const now = new Promise<'now'>((resolve) => {
    process.once('SIGTERM', () => resolve('now'));
    process.once('SIGINT', () => resolve('now'));
  });
  if ((await Promise.race([hook.drain(delaySeconds * 1000, 10_000).then(() => 'drained' as const), now])) === 'now') {
    log('info', 'second signal: closing now');
    await hook.close();
  }
  return 0;
}
