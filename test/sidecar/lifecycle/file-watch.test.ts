import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { namesFor, watchFile } from '../../../sidecar/src/lifecycle/file-watch.js';
import { until } from '../../helpers/proxy.js';

/**
 * The policy and revocation files are watched through their directory. Other files there — a log
 * written on every request, an editor's scratch files — must not keep pushing the reload back:
 * before, each event restarted the 50 ms debounce, so a neighbour written more often than that
 * starved the reload (and the poll, which went through the same debounce). Symlinks on the way to
 * the file in the same directory count as the file.
 */

/**
 * A watched `policy.yaml` in a fresh directory, and optionally a neighbour file there appended to
 * every 5 ms. `calls()` counts the reloads.
 */
function watched(
  t: Test,
  pollMs: number,
  busy: boolean,
  neighbourMs?: number,
): { dir: string; file: string; log: string; calls: () => number } {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-watch-'));
  const file = join(dir, 'policy.yaml');
  const log = join(dir, 'access.log');
  writeFileSync(file, 'a');
  let calls = 0;
  const stop = watchFile(file, pollMs, () => calls++, neighbourMs);
  let n = 0;
  const neighbour = busy ? setInterval(() => writeFileSync(log, `line ${n++}\n`, { flag: 'a' }), 5) : undefined;
  t.teardown(() => {
    clearInterval(neighbour);
    stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, log, calls: () => calls };
}

/** A poll (or a check for other entries) far beyond any test: the path under test is the only one that can call. */
const NO_POLL = 3_600_000;
const NO_NEIGHBOUR_CHECK = 3_600_000;

t.test('a busy neighbour gets a check a second, not a call per write', async (t) => {
  const w = watched(t, NO_POLL, true);
  // ~200 writes next door: a call per write would be ~200, a debounce restarted by each would be 0.
  await until(() => existsSync(w.log) && readFileSync(w.log, 'utf8').split('\n').length > 200, 'the neighbour writing', 10_000);
  await until(() => w.calls() >= 1, 'a check for the writes next door');
  t.ok(w.calls() <= 5, `at most a check a second for other files (${w.calls()} calls)`);
});

t.test('a busy neighbour does not starve the reload of the file (watch alone)', async (t) => {
  const w = watched(t, NO_POLL, true, NO_NEIGHBOUR_CHECK);
  await until(() => existsSync(w.log) && readFileSync(w.log, 'utf8').split('\n').length > 40, 'the neighbour writing');
  t.equal(w.calls(), 0, 'writes next door alone do not reload');
  writeFileSync(w.file, 'b');
  await until(() => w.calls() > 0, 'the reload while the neighbour keeps writing');
  t.pass();
});

t.test('a ConfigMap swap (..data) still triggers', async (t) => {
  const w = watched(t, NO_POLL, false, NO_NEIGHBOUR_CHECK);
  writeFileSync(join(w.dir, '..data_tmp'), 'x');
  await until(() => w.calls() > 0, 'a reload for the ..data entry');
  t.pass();
});

t.test('the poll is not starved by a busy neighbour', async (t) => {
  const w = watched(t, 100, true, NO_NEIGHBOUR_CHECK);
  await until(() => w.calls() >= 3, 'three polls while the neighbour writes every 5 ms');
  t.ok(w.calls() >= 3);
});

t.test('symlinks on the way in the same directory are watched by name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // policy.yaml -> policy-v1.yaml (edited in place)
  writeFileSync(join(dir, 'policy-v1.yaml'), 'a');
  symlinkSync('policy-v1.yaml', join(dir, 'policy.yaml'));
  t.same([...namesFor(join(dir, 'policy.yaml'))].sort(), ['policy-v1.yaml', 'policy.yaml']);
  // rules.yaml -> data/rules.yaml, data -> v1 (swapped with ln -s v2 data.tmp && mv -T data.tmp data)
  mkdirSync(join(dir, 'v1'));
  writeFileSync(join(dir, 'v1', 'rules.yaml'), 'a');
  symlinkSync('v1', join(dir, 'data'));
  symlinkSync('data/rules.yaml', join(dir, 'rules.yaml'));
  t.same([...namesFor(join(dir, 'rules.yaml'))].sort(), ['data', 'rules.yaml']);
  // a ConfigMap mount: policy.yaml -> ..data/policy.yaml, ..data -> ..2026_12_07_…
  const cm = join(dir, 'cm');
  mkdirSync(join(cm, '..2026_12_07_00_00_00.1'), { recursive: true });
  writeFileSync(join(cm, '..2026_12_07_00_00_00.1', 'policy.yaml'), 'a');
  symlinkSync('..2026_12_07_00_00_00.1', join(cm, '..data'));
  symlinkSync('..data/policy.yaml', join(cm, 'policy.yaml'));
  t.same([...namesFor(join(cm, 'policy.yaml'))].sort(), ['..data', 'policy.yaml']);
  // a link out of the directory, and no link at all
  symlinkSync(join(dir, 'v1', 'rules.yaml'), join(cm, 'outside.yaml'));
  t.same([...namesFor(join(cm, 'outside.yaml'))], ['outside.yaml']);
  t.same([...namesFor(join(dir, 'policy-v1.yaml'))], ['policy-v1.yaml']);
});

t.test('swapping a directory symlink on the way triggers the reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-watch-'));
  mkdirSync(join(dir, 'v1'));
  mkdirSync(join(dir, 'v2'));
  writeFileSync(join(dir, 'v1', 'rules.yaml'), 'a');
  writeFileSync(join(dir, 'v2', 'rules.yaml'), 'b');
  symlinkSync('v1', join(dir, 'data'));
  symlinkSync('data/rules.yaml', join(dir, 'rules.yaml'));
  let calls = 0;
  const stop = watchFile(join(dir, 'rules.yaml'), NO_POLL, () => calls++, NO_NEIGHBOUR_CHECK);
  t.teardown(() => {
    stop();
    rmSync(dir, { recursive: true, force: true });
  });
  symlinkSync('v2', join(dir, 'data.tmp'));
  renameSync(join(dir, 'data.tmp'), join(dir, 'data'));
  await until(() => calls > 0, 'a reload for the swapped data link');
  t.equal(readFileSync(join(dir, 'rules.yaml'), 'utf8'), 'b');
});
