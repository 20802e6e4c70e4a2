import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { spawnProxy, type ProxyProcess } from '../helpers/spawn.js';

/**
 * An idle sidecar should sleep. prom-client's event-loop-lag monitor samples every 10 ms unless
 * told otherwise: a timer that woke every idle sidecar 100 times a second. The shipped CLI samples
 * every 100 ms (--eventloop-lag-resolution). Counted here as the kernel counts it: the main
 * thread's voluntary context switches (each a sleep in epoll_wait ended by a wake-up).
 */
function sleepsOf(p: ProxyProcess): number {
  const status = readFileSync(`/proc/${p.proc.pid}/task/${p.proc.pid}/status`, 'utf8');
  const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(status);
  if (!m) throw new Error(`no voluntary_ctxt_switches in /proc/${p.proc.pid}/task/${p.proc.pid}/status (needs Linux procfs)`);
  return Number(m[1]);
}

async function idleWakeups(p: ProxyProcess, ms: number): Promise<number> {
  await sleep(1000); // start-up work (compilation, GC) settles
  const a = sleepsOf(p);
  await sleep(ms);
  return sleepsOf(p) - a;
}

t.test('an idle sidecar wakes about 10 times a second, not 100', async (t) => {
  const upstream = 'http://127.0.0.1:9';
  const shipped = await spawnProxy(upstream, ['--log-level', 'warn']);
  const fine = await spawnProxy(upstream, ['--log-level', 'warn', '--eventloop-lag-resolution', '10ms']);
  t.teardown(() => {
    shipped.proc.kill('SIGKILL');
    fine.proc.kill('SIGKILL');
  });
  const [a, b] = await Promise.all([idleWakeups(shipped, 2000), idleWakeups(fine, 2000)]);
  t.ok(a <= 60, `default resolution: ${a} wake-ups in 2 s (≈ 20 expected: 10 lag samples a second and the sweepers)`);
  t.ok(b >= 80 && b >= 3 * a, `--eventloop-lag-resolution 10ms: ${b} wake-ups in 2 s, the rate prom-client's default would give`);
  // The lag series read as the delay itself, whatever the sampling interval: near 0 when idle
  // (Node's histogram records whole intervals; prom-client's series would read 0.010 or 0.100 here).
  // Bounds loose enough for a loaded test machine, tight enough that an unsubtracted interval fails.
  const read = async (p: ProxyProcess): Promise<(q: string) => number> => {
    const text = await (await request(`${p.adminUrl}/metrics`)).body.text();
    t.equal(text.match(/^# TYPE nodejs_eventloop_lag_p99_seconds /gm)?.length, 1, 'exported once');
    return (q) => Number(new RegExp(`^nodejs_eventloop_lag_${q}_seconds (\\S+)$`, 'm').exec(text)?.[1]);
  };
  const d = await read(shipped);
  // min and p50 only: an unsubtracted series reads ≥ 0.1 in every sample, so they fail it; p99 and
  // max can catch one sample delayed by a loaded machine, which says nothing about the subtraction.
  for (const q of ['min', 'p50'])
    t.ok(d(q) >= 0 && d(q) < 0.05, `idle, every 100 ms: nodejs_eventloop_lag_${q}_seconds ${d(q)} (unsubtracted ≥ 0.1)`);
  const f = await read(fine);
  t.ok(f('min') >= 0 && f('min') < 0.005, `idle, every 10 ms: nodejs_eventloop_lag_min_seconds ${f('min')} (unsubtracted ≈ 0.009–0.010)`);
});

t.test('the lag series see a stall of the event loop', async (t) => {
  const { Metrics } = await import('../../sidecar/src/telemetry/metrics.js');
  const m = new Metrics({ eventLoopResolutionMs: 10 });
  await m.registry.metrics(); // starts a window
  await sleep(50);
  const until = Date.now() + 150;
  while (Date.now() < until) {
    /* the event loop is blocked for 150 ms */
  }
  await sleep(30);
  const text = await m.registry.metrics();
  const max = Number(/^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1]);
  const min = Number(/^nodejs_eventloop_lag_min_seconds (\S+)$/m.exec(text)?.[1]);
  t.ok(max >= 0.12 && max < 0.5, `a 150 ms stall reads as max ${max} s`);
  t.ok(min < 0.005, `undelayed samples read near 0, the 10 ms interval subtracted: min ${min} s (unsubtracted ≈ 0.009–0.010)`);
  const after = await m.registry.metrics();
  t.ok(Number(/^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(after)?.[1]) < 0.05, 'each scrape starts a new window');
  m.close();
  const stop = Date.now() + 60;
  while (Date.now() < stop) {
    /* a stall after close */
  }
  await sleep(30);
  t.equal(Number(/^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await m.registry.metrics())?.[1]), 0, 'after close() nothing is sampled');
});
