import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * Run compiled test files (`sidecar/h2c` → dist/test/sidecar/h2c.test.js) in child processes with
 * SIDEGATE_TEST_H2_ENGINE=`engine`, which makes every sidecar they start run `--h2-engine
 * <engine>`: the same expectations, met by the other HTTP/2 engine. Resolves with each file's
 * exit code and, when it failed, its failing lines and the end of its output.
 */
export async function runWithH2Engine(engine: 'node' | 'sidegate', files: readonly string[]): Promise<{ file: string; code: number | null; report: string }[]> {
  const results: { file: string; code: number | null; report: string }[] = [];
  for (const f of files) {
    const file = join(process.cwd(), 'dist', 'test', `${f}.test.js`);
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [file], { env: { ...process.env, SIDEGATE_TEST_H2_ENGINE: engine }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += String(d); });
      child.stderr.on('data', (d: Buffer) => { out += String(d); });
      child.on('exit', (c) => resolve({ code: c, out }));
    });
    const failing = out.split('\n').filter((l) => /^\s*not ok/.test(l)).join('\n');
    results.push({ file: f, code, report: code === 0 ? 'passed' : `failed:\n${failing}\n${out.slice(-2000)}` });
  }
  return results;
}
