import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The path of a Go program built by `scripts/go-tools.sh` (pinned in tools/go/go.mod). Throws,
 * naming the command to run, when it has not been built: a test that needs it fails, never skips.
 */
export function goTool(name: string): string {
  const version = toolVersion(name);
  const cache = process.env.SIDEGATE_TOOLS_CACHE ?? join(homedir(), '.cache', 'sidegate-tools');
  const bin = join(cache, `${name}-${version}`, name);
  if (!existsSync(bin)) {
    throw new Error(`${name} ${version} is not built: run \`bash scripts/go-tools.sh ${name}\` (npm test does it in pretest); looked for ${bin}`);
  }
  return bin;
}

/** The version tools/go/go.mod pins for the module that provides tool `name`. */
export function toolVersion(name: string): string {
  const mod = readFileSync(join(process.cwd(), 'tools', 'go', 'go.mod'), 'utf8');
  // `tool PKG` lines, or the lines of a `tool ( ... )` block.
  const block = /^tool \(\n([^)]*)\)/m.exec(mod)?.[1] ?? '';
  const pkgs = [...mod.matchAll(/^tool\s+([^\s(]+)$/gm)].map((m) => m[1]!).concat(block.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('//')));
  const pkg = pkgs.find((p) => p.split('/').at(-1) === name);
  if (pkg === undefined) throw new Error(`no tool named ${name} in tools/go/go.mod`);
  let best = '';
  let version = '';
  for (const m of mod.matchAll(/^\s*(?:require\s+)?(\S+)\s+(v\S+)(?:\s+\/\/.*)?$/gm)) {
    const path = m[1]!;
    if ((pkg === path || pkg.startsWith(`${path}/`)) && path.length > best.length) { best = path; version = m[2]!; }
  }
  if (version === '') throw new Error(`tools/go/go.mod requires no module providing ${pkg}`);
  return version;
}
