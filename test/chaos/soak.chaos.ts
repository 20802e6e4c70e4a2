import { writeFileSync } from 'node:fs';
import t from 'tap';
import { judge } from './faults.js';
import { LoadGenerator } from './load.js';
import { Rig } from './rig.js';

/**
 * Steady load through one sidecar for SIDEGATE_SOAK_SECONDS (600 by default): after warm-up its
 * RSS may not grow by 10 % or more, and no file descriptor may leak. Only in the full form
 * (`SIDEGATE_CHAOS=full npm run test:chaos`): it takes ten minutes.
 */
const seconds = Number(process.env.SIDEGATE_SOAK_SECONDS ?? 600);
const rate = Number(process.env.SIDEGATE_CHAOS_RATE ?? 300);
const warmupMs = Math.min(60_000, Math.max(10_000, seconds * 100));
const SAMPLE_MS = 5000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

t.test(`soak: ${seconds} s at ${rate} req/s through one sidecar`, async (t) => {
  // Successes sampled at 1 %: the test keeps every output line in memory for the secrets check.
  const rig = await Rig.start({ sidecars: 1, sampleRate: 0.01 });
  t.teardown(() => rig.close());
  const s = rig.sidecars[0]!;
  const pid = s.p.proc.pid!;
  await sleep(500);
  const quietBefore = Rig.usage(pid).fds;

  const gen = new LoadGenerator({ rate, classes: rig.classes, targets: () => rig.targets(), deadlineMs: 5000 });
  gen.phase = 'soak';
  gen.start();
  const t0 = Date.now();
  const samples: { at: number; rss: number; fds: number }[] = [];
  while (Date.now() - t0 < seconds * 1000) {
    await sleep(SAMPLE_MS);
    samples.push({ at: Date.now() - t0, ...Rig.usage(pid) });
  }
  await gen.stop();
  await s.pool.close();
  // Idle keep-alive connections to the app live as long as the app's Keep-Alive hint (30 s): wait them out.
  let quietAfter = Rig.usage(pid).fds;
  for (const until = Date.now() + 45_000; quietAfter > quietBefore + 2 && Date.now() < until; quietAfter = Rig.usage(pid).fds)
    await sleep(1000);

  const steady = samples.filter((x) => x.at > warmupMs);
  const window = Math.max(1, Math.round(60_000 / SAMPLE_MS));
  const first = steady.slice(0, window);
  const last = steady.slice(-window);
  const rssStart = mean(first.map((x) => x.rss));
  const rssEnd = mean(last.map((x) => x.rss));
  const growth = (rssEnd - rssStart) / rssStart;
  const fdsStart = Math.max(...first.map((x) => x.fds));
  const fdsEnd = Math.max(...last.map((x) => x.fds));
  const r = judge(rig, gen.outcomes, { name: 'soak', allowed: [] }, undefined, undefined, []);
  const answers = [...r.answers.entries()]
    .sort()
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  const summary = [
    `duration ${seconds} s, ${r.requests} requests (${(r.requests / seconds).toFixed(0)} req/s), warm-up ${warmupMs / 1000} s`,
    `answers: ${answers}; worst latency ${Math.round(r.worstMs)} ms`,
    `RSS after warm-up ${mb(rssStart)} (mean of the first minute), at the end ${mb(rssEnd)} (mean of the last minute): ${(growth * 100).toFixed(1)} %`,
    `RSS min/max after warm-up: ${mb(Math.min(...steady.map((x) => x.rss)))} / ${mb(Math.max(...steady.map((x) => x.rss)))}`,
    `open fds under load: ${fdsStart} after warm-up, ${fdsEnd} at the end; idle: ${quietBefore} before, ${quietAfter} after`,
  ];
  t.comment(summary.join('\n'));
  if (process.env.SIDEGATE_SOAK_REPORT)
    writeFileSync(
      process.env.SIDEGATE_SOAK_REPORT,
      `${summary.join('\n')}\n${samples.map((x) => `${x.at}\t${x.rss}\t${x.fds}`).join('\n')}\n`,
    );

  t.same(
    r.failures.slice(0, 5).map((o) => `${o.failure} ${o.detail ?? o.answer}`),
    [],
    'every request answered',
  );
  t.same(
    r.unexpected.slice(0, 5).map((o) => `${o.cls} ${o.answer}`),
    [],
    'only healthy answers',
  );
  t.ok(r.requests > rate * seconds * 0.8, `load was sustained: ${r.requests} requests`);
  t.ok(growth < 0.1, `RSS growth after warm-up ${(growth * 100).toFixed(1)} % < 10 %`);
  t.ok(fdsEnd <= fdsStart + 10, `no fd growth under load (${fdsStart} → ${fdsEnd})`);
  t.ok(quietAfter <= quietBefore + 2, `no fd leak once idle (${quietBefore} → ${quietAfter})`);
  t.same(
    rig.crashed().map((x) => x.id),
    [],
    'the sidecar is alive',
  );
});
