import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../scripts/go-tools.sh', import.meta.url));

/**
 * The path of a Go test peer pinned in tools/go/go.mod, built into the cache by
 * scripts/go-tools.sh if it is not there yet (a fresh machine: the first build of each tool is
 * timed in the README). Throws, naming what to install, when it cannot be built.
 */
export function goTool(name: string): string {
  let out: string;
  try {
    out = execFileSync('bash', [SCRIPT, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`could not build the Go tool ${name} (bash scripts/go-tools.sh ${name}): ${e.stderr ?? e.message}`, { cause: err });
  }
  const m = / (\/\S+)\s*$/.exec(out.trim());
  if (m === null) throw new Error(`scripts/go-tools.sh ${name} printed no path: ${out}`);
  return m[1]!;
}
