import { spawn } from 'node:child_process';
import t from 'tap';
import { freePort } from '../helpers/ports.js';
import { CLI } from '../helpers/spawn.js';

/**
 * An idle `sidegate proxy` lets V8's memory reducer compact its heap (sidecar/src/lifecycle/
 * memory-reducer.ts). On V8 13 and later, without the embedder tick, every reducer tick of an idle
 * sidecar reads "high alloc" and the first reducing GC waits for the reducer's 100 s watchdog;
 * with it, the reducer starts a GC on its first or second tick: 8–17 s after start on Node.js 22
 * and 24, 30–47 s on 26 (V8 14 delays the reducer's first tick, --gc-memory-reducer-start-delay-ms).
 * V8 traces the decision with --trace-memory-reducer (V8 12.4+; Node.js 20's V8 has no such flag).
 * In the runtime matrix (scripts/runtime-matrix.sh): the workaround is proven on every line.
 */
const DEADLINE_MS = 60_000;
const v8Major = Number(process.versions.v8.split('.')[0]);

t.test(
  "an idle sidecar's memory reducer starts a GC within 60 s, not after its 100 s watchdog",
  { skip: v8Major < 12 && 'no --trace-memory-reducer before V8 12' },
  async (t) => {
    const port = await freePort();
    const admin = await freePort();
    const proc = spawn(
      process.execPath,
      [
        '--trace-memory-reducer',
        CLI,
        'proxy',
        '--listen',
        `127.0.0.1:${port}`,
        '--admin',
        `127.0.0.1:${admin}`,
        '--upstream',
        'http://127.0.0.1:9',
        '--log-level',
        'warn',
      ],
      { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.teardown(() => {
      proc.kill('SIGKILL');
    });
    let out = '';
    const started = new Promise<number>((resolve, reject) => {
      const t0 = Date.now();
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no reducer GC in ${DEADLINE_MS / 1000} s; the reducer said:\n${out
                .split('\n')
                .filter((l) => l.includes('Memory reducer'))
                .join('\n')}`,
            ),
          ),
        DEADLINE_MS,
      );
      const onData = (d: Buffer): void => {
        out += String(d);
        if (out.includes('Memory reducer: started GC')) {
          clearTimeout(timer);
          resolve(Date.now() - t0);
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sidegate proxy exited with ${code}: ${out}`));
      });
    });
    const ms = await started;
    t.ok(ms < DEADLINE_MS, `the reducer started a GC ${(ms / 1000).toFixed(1)} s after start`);
    // A GC the watchdog started follows "high alloc"; this one follows the idle process seen as idle.
    t.match(
      out,
      /Memory reducer: low alloc, foreground\n[^\n]*Memory reducer: started GC #1/,
      'started because the reducer saw the process as idle',
    );
  },
);
