import { http } from '../sidecar/src/protocol/node-http.js';
import { parseHostPort } from '../sidecar/src/config.js';
import type { CliIo } from './io.js';

const { request } = http;

/**
 * `sidegate drain [--admin HOST:PORT] [--wait DURATION]`: the preStop hook. Tells the local
 * sidecar to start draining (POST /drain on the admin port) and waits until readiness reports
 * the drain, so the pod is removed from endpoints before the container is signalled.
 */
export async function runDrain(args: string[], io: CliIo): Promise<number> {
  let admin = process.env.SIDEGATE_ADMIN_LISTEN ?? '127.0.0.1:15090';
  let waitMs = 5000;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--admin') admin = args[++i] ?? '';
    else if (args[i] === '--wait') waitMs = Number((args[++i] ?? '').replace(/s$/, '')) * 1000;
    else {
      io.err(`sidegate drain: unknown argument ${args[i]}`);
      return 2;
    }
  }
  const hp = parseHostPort(admin, '--admin');
  const host = hp.host === '0.0.0.0' || hp.host === '::' ? '127.0.0.1' : hp.host;
  const status = await new Promise<number>((resolve) => {
    const req = request({ host, port: hp.port, path: '/drain', method: 'POST', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) => {
      io.err(`sidegate drain: ${err.message}`);
      resolve(0);
    });
    req.on('timeout', () => req.destroy(new Error('admin port did not answer in 2 s')));
    req.end();
  });
  if (status !== 202) {
    io.err(`sidegate drain: admin answered ${status}`);
    return 1;
  }
  io.out(`draining; waiting ${waitMs} ms`);
  await new Promise((r) => setTimeout(r, Number.isFinite(waitMs) ? waitMs : 5000));
  return 0;
}
