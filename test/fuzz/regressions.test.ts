import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { targets } from './run.js';

/**
 * Every committed fuzz input, run through its target without the fuzzer: the seed corpus
 * (test/fuzz/corpus/<target>/) and every input a fuzzing run ever failed on
 * (test/fuzz/regressions/<target>/, the file named as libFuzzer wrote it). Each must pass all of
 * the target's properties, so a finding fixed once stays fixed.
 */
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

for (const target of await targets()) {
  t.test(target.name, async (t) => {
    const mod = (await import(target.file)) as { fuzz: (b: Buffer) => void | Promise<void> };
    let n = 0;
    for (const kind of ['corpus', 'regressions']) {
      const dir = join(repo, 'test', 'fuzz', kind, target.name);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).sort()) {
        const input = readFileSync(join(dir, f));
        await t.resolves(async () => {
          await mod.fuzz(input);
        }, `${kind}/${target.name}/${f} (${input.length} bytes)`);
        n++;
      }
    }
    t.ok(n > 0, `${n} committed inputs for ${target.name}`);
  });
}
