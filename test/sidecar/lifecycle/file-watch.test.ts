import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { watchFile } from '../../../sidecar/src/lifecycle/file-watch.js';
import { until } from '../../helpers/proxy.js';

/**
 * The policy and revocation files are watched through their directory. Other files there — a log
 * written on every request, an editor's scratch files — must neither call the reload nor keep
 * pushing it back: before, each event restarted the 50 ms debounce, so a neighbour written more
 * often than that starved the reload (and the poll, which went through the same debounce).
 */

function busyNeighbour(dir: string): () => void {
  let n = 0;
  const timer = setInterval(() => writeFileSync(join(dir, 'access.log'), `line ${n++}\n`, { flag: 'a' }), 5);
  return () => clearInterval(timer);
}

t.test('a busy neighbour neither triggers nor starves the reload (watch alone)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-watch-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'a');
  let calls = 0;
  // A poll far beyond the test: only the directory watch can call.
  const stop = watchFile(file, 3_600_000, () => calls++);
  const quiet = busyNeighbour(dir);
  t.teardown(() => {
    quiet();
    stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // Let the neighbour write ~40 times: none of that is a change of ours.
  const log = join(dir, 'access.log');
  await until(() => existsSync(log) && readFileSync(log, 'utf8').split('\n').length > 40, 'the neighbour writing');
  t.equal(calls, 0, 'writes to another file in the directory do not reload');
  writeFileSync(file, 'b');
  await until(() => calls > 0, 'the reload while the neighbour keeps writing');
  t.ok(calls >= 1);
});

t.test('a ConfigMap swap (..data) still triggers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-watch-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'a');
  let calls = 0;
  const stop = watchFile(file, 3_600_000, () => calls++);
  t.teardown(() => {
    stop();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, '..data_tmp'), 'x');
  await until(() => calls > 0, 'a reload for the ..data entry');
  t.pass();
});

t.test('the poll is not starved by a busy neighbour', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-watch-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'a');
  let calls = 0;
  const stop = watchFile(file, 100, () => calls++);
  const quiet = busyNeighbour(dir);
  t.teardown(() => {
    quiet();
    stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await until(() => calls >= 3, 'three polls while the neighbour writes every 5 ms');
  t.ok(calls >= 3);
});
