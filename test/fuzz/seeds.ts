import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Writes each fuzz target's `seeds()` into test/fuzz/corpus/<target>/seed-<n> (the committed seed
 * corpus; files of other names there, kept from fuzzing runs, are left alone). Run after changing
 * a target's seeds: `npx tsc -p . && node dist/test/fuzz/seeds.js`.
 */
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
for (const f of readdirSync(join(here, 'targets'))
  .filter((x) => x.endsWith('.js'))
  .sort()) {
  const m = (await import(pathToFileURL(join(here, 'targets', f)).href)) as { seeds?: () => Buffer[] };
  if (m.seeds === undefined) continue;
  const dir = join(repo, 'test', 'fuzz', 'corpus', f.slice(0, -3));
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir).filter((x) => x.startsWith('seed-'))) rmSync(join(dir, old));
  const seeds = m.seeds();
  seeds.forEach((s, i) => writeFileSync(join(dir, `seed-${String(i).padStart(2, '0')}`), s));
  process.stdout.write(`${f.slice(0, -3)}: ${seeds.length} seeds\n`);
}
