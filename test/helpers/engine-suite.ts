import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * Run compiled test files (`sidecar/h2c` → dist/test/sidecar/h2c.test.js) in child processes with
 * `env` added (e.g. SIDEGATE_TEST_HTTP1_FAST_PATH=off, see helpers/proxy.ts): the same
 * expectations, met another way. Resolves with each file's exit code and, when it failed, its
 * failing lines and the end of its output.
 */
export async function runWithEnv(
  env: NodeJS.ProcessEnv,
  files: readonly string[],
  timeoutMs = 60_000,
): Promise<{ file: string; code: number | null; report: string }[]> {
  const results: { file: string; code: number | null; report: string }[] = [];
  for (const f of files) {
    const file = join(process.cwd(), 'dist', 'test', `${f}.test.js`);
    const { code, out, timedOut } = await new Promise<{ code: number | null; out: string; timedOut: boolean }>((resolve) => {
      const child = spawn(process.execPath, [file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let timedOut = false;
      // A file that hangs is reported by name with what it printed, inside this file's own budget.
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => {
        out += String(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        out += String(d);
      });
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve({ code: c, out, timedOut });
      });
    });
    const failing = out
      .split('\n')
      .filter((l) => /^\s*not ok/.test(l))
      .join('\n');
    const report =
      code === 0 ? 'passed' : `${timedOut ? `did not finish in ${timeoutMs / 1000} s` : 'failed'}:\n${failing}\n${out.slice(-3000)}`;
    results.push({ file: f, code, report });
  }
  return results;
}
