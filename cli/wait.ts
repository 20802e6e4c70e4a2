import { http } from '../sidecar/src/protocol/node-http.js';
import { parseDurationFlag, parseHostPort } from '../sidecar/src/config.js';
import type { CliIo } from './io.js';

const { request } = http;

function ready(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/healthz/ready', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * `sidegate wait [--admin HOST:PORT] [--timeout DURATION]`: block until the local sidecar is
 * ready (exit 0) or the timeout passes (exit 1). The classic-mode injector runs it as the proxy's
 * postStart hook so the app container starts only after the proxy is ready.
 */
export async function runWait(args: string[], io: CliIo): Promise<number> {
  let admin = process.env.SIDEGATE_ADMIN_LISTEN ?? '127.0.0.1:15090';
  let timeoutMs = 120_000;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--admin') admin = args[++i] ?? '';
    else if (args[i] === '--timeout') timeoutMs = parseDurationFlag(args[++i] ?? '', '--timeout');
    else {
      io.err(`sidegate wait: unknown argument ${args[i]}`);
      return 2;
    }
  }
  const hp = parseHostPort(admin, '--admin');
  const host = hp.host === '0.0.0.0' || hp.host === '::' ? '127.0.0.1' : hp.host;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready(host, hp.port)) {
      io.out('sidecar ready');
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  io.err(`sidegate wait: sidecar not ready after ${timeoutMs} ms`);
  return 1;
}
