import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, spawnPinned, type Managed } from './procs.js';

/**
 * The Redis the full-policy rows share: a redis-server of the harness's own on the load core and
 * a free port (never the machine's :6379, which other people's tests use), no persistence.
 * `INFO commandstats` before and after a measurement gives Redis commands per request.
 */

export interface BenchRedis {
  readonly managed: Managed;
  readonly port: number;
  readonly url: string;
  /** Calls per command since the server started (`INFO commandstats`). */
  commandStats(): Promise<Map<string, number>>;
}

export async function startRedis(core: number, dir: string): Promise<BenchRedis> {
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--protected-mode',
    'no',
    '--loglevel',
    'warning',
  ];
  const managed = spawnPinned('redis', core, 'redis-server', args, join(dir, 'redis.log'));
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      if ((await command(port, ['PING'])).startsWith('+PONG')) break;
    } catch {
      /* not listening yet */
    }
    if (managed.proc.exitCode !== null) throw new Error(`redis-server exited with ${managed.proc.exitCode}; see ${managed.logFile}`);
    if (performance.now() > deadline) throw new Error(`redis-server not answering on ${port}; see ${managed.logFile}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    managed,
    port,
    url: `redis://127.0.0.1:${port}`,
    commandStats: async () => parseCommandStats(await command(port, ['INFO', 'commandstats'])),
  };
}

/** One command over a fresh connection, the raw reply. Enough for PING and INFO. */
function command(port: number, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    let buf = '';
    s.setTimeout(5000, () => {
      s.destroy();
      reject(new Error('redis: no reply within 5 s'));
    });
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      buf += String(d);
      if (replyComplete(buf)) {
        s.end();
        resolve(buf);
      }
    });
    s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

function replyComplete(buf: string): boolean {
  if (buf.startsWith('$')) {
    const nl = buf.indexOf('\r\n');
    if (nl < 0) return false;
    const len = Number(buf.slice(1, nl));
    return len < 0 || Buffer.byteLength(buf) >= nl + 2 + len + 2;
  }
  return buf.includes('\r\n');
}

/** `cmdstat_evalsha:calls=12,usec=...` lines → { evalsha: 12 }. Pure. */
export function parseCommandStats(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!.toLowerCase(), Number(m[2]));
  return out;
}

export interface RedisUse {
  /** Round trips the proxies started: EVALSHA + EVAL (+ anything else a client sent directly). */
  readonly sent: number;
  /** Every command Redis executed, the scripts' own TIME/GET/SET included. */
  readonly executed: number;
  readonly byCommand: Readonly<Record<string, number>>;
}

/** Scripts' inner commands, counted by commandstats but not sent by a client. */
const INNER = new Set([
  'time',
  'get',
  'set',
  'pexpire',
  'expire',
  'zadd',
  'zremrangebyscore',
  'zcard',
  'incrby',
  'decrby',
  'del',
  'hget',
  'hset',
  'pttl',
  'exists',
  'psetex',
  'incr',
  'mget',
  'zscore',
  'zrem',
  'zcount',
]);

/**
 * What happened between two readings, leaving out the harness's own INFO/PING calls. "sent" counts
 * the commands a client can send on its own (scripts and anything not typically run inside one).
 */
export function redisDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): RedisUse {
  const byCommand: Record<string, number> = {};
  let sent = 0;
  let executed = 0;
  for (const [cmd, n] of after) {
    if (cmd === 'info' || cmd === 'ping') continue;
    const d = n - (before.get(cmd) ?? 0);
    if (d <= 0) continue;
    byCommand[cmd] = d;
    executed += d;
    if (!INNER.has(cmd)) sent += d;
  }
  return { sent, executed, byCommand };
}
