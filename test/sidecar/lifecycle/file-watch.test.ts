import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { watchFile } from '../../../sidecar/src/lifecycle/file-watch.js';
import { until } from '../../helpers/proxy.js';

/**
 * The policy and revocation files are watched through their directory. Other files there — a log
 * written on every request, an editor's scratch files — must neither call the reload nor keep
 * pushing it back: before, each event restarted the 50 ms debounce, so a neighbour written more
 * often than that starved the reload (and the poll, which went through the same debounce).
 */

/**
 * A watched `policy.yaml` in a fresh directory, and optionally a neighbour file there appended to
 * every 5 ms. `calls()` counts the reloads.
 */
function watched(t: Test, pollMs: number, busy: boolean): { dir: string; file: string; log: string; calls: () => number } {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-watch-'));
  const file = join(dir, 'policy.yaml');
  const log = join(dir, 'access.log');
  writeFileSync(file, 'a');
  let calls = 0;
  const stop = watchFile(file, pollMs, () => calls++);
  let n = 0;
  const neighbour = busy ? setInterval(() => writeFileSync(log, `line ${n++}\n`, { flag: 'a' }), 5) : undefined;
  t.teardown(() => {
    clearInterval(neighbour);
    stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, log, calls: () => calls };
}

/** A poll far beyond any test: only the directory watch can call. */
const NO_POLL = 3_600_000;

t.test('a busy neighbour neither triggers nor starves the reload (watch alone)', async (t) => {
  const w = watched(t, NO_POLL, true);
  // Let the neighbour write ~40 times: none of that is a change of ours.
  await until(() => existsSync(w.log) && readFileSync(w.log, 'utf8').split('\n').length > 40, 'the neighbour writing');
  t.equal(w.calls(), 0, 'writes to another file in the directory do not reload');
  writeFileSync(w.file, 'b');
  await until(() => w.calls() > 0, 'the reload while the neighbour keeps writing');
  t.ok(w.calls() >= 1);
});

t.test('a ConfigMap swap (..data) still triggers', async (t) => {
  const w = watched(t, NO_POLL, false);
  writeFileSync(join(w.dir, '..data_tmp'), 'x');
  await until(() => w.calls() > 0, 'a reload for the ..data entry');
  t.pass();
});

t.test('the poll is not starved by a busy neighbour', async (t) => {
  const w = watched(t, 100, true);
  await until(() => w.calls() >= 3, 'three polls while the neighbour writes every 5 ms');
  t.ok(w.calls() >= 3);
});
