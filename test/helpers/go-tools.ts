import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The path of a Go program built by `scripts/go-tools.sh` (pinned in tools/*\/go.mod). Throws,
 * naming the command to run, when it has not been built: a test that needs it fails, never skips.
 */
export function goTool(name: string): string {
  const version = toolVersion(name);
  const cache = process.env.SIDEGATE_TOOLS_CACHE ?? join(homedir(), '.cache', 'sidegate-tools');
  const bin = join(cache, `${name}-${version}`, name);
  if (!existsSync(bin)) {
    throw new Error(
      `${name} ${version} is not built: run \`bash scripts/go-tools.sh ${name}\` (npm test does it in pretest); looked for ${bin}`,
    );
  }
  return bin;
}

export interface GoToolLine {
  /** The binary's name: the package's last element (before a /vN suffix), or a `// binary: NAME` comment's. */
  readonly name: string;
  readonly pkg: string;
  /** The version of the longest required module that prefixes the package. */
  readonly version: string;
  /** The folder under tools/ whose go.mod pins it. */
  readonly module: string;
}

/** The version tools/*\/go.mod pins for the module that provides tool `name`. */
export function toolVersion(name: string): string {
  const tool = goTools().find((t) => t.name === name);
  if (tool === undefined) throw new Error(`no tool named ${name} in tools/*/go.mod`);
  return tool.version;
}

/** Every tool line of every tools/*\/go.mod, read the way scripts/go-tools.sh reads them. */
export function goTools(): GoToolLine[] {
  const dir = join(process.cwd(), 'tools');
  return readdirSync(dir)
    .sort()
    .filter((m) => existsSync(join(dir, m, 'go.mod')))
    .flatMap((module) => toolsOf(module, readFileSync(join(dir, module, 'go.mod'), 'utf8')));
}

function toolsOf(module: string, mod: string): GoToolLine[] {
  // `tool PKG` lines, or the lines of a `tool ( ... )` block; each may carry a `// binary: NAME`.
  const block = /^tool \(\n([^)]*)\)/m.exec(mod)?.[1] ?? '';
  const lines = [...mod.matchAll(/^tool\s+([^\s(].*)$/gm)]
    .map((m) => m[1]!)
    .concat(
      block
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('//')),
    );
  const required = [...mod.matchAll(/^\s*(?:require\s+)?(\S+)\s+(v\S+)(?:\s+\/\/.*)?$/gm)].map((m) => ({ path: m[1]!, version: m[2]! }));
  return lines.map((line) => {
    const pkg = line.split(/\s+/)[0]!;
    const parts = pkg.split('/');
    const last = parts.at(-1)!;
    const name = /\/\/\s*binary:\s*(\S+)/.exec(line)?.[1] ?? (/^v\d+$/.test(last) && parts.length > 1 ? parts.at(-2)! : last);
    let best = '';
    let version = '';
    for (const r of required) {
      if ((pkg === r.path || pkg.startsWith(`${r.path}/`)) && r.path.length > best.length) {
        best = r.path;
        version = r.version;
      }
    }
    if (version === '') throw new Error(`tools/${module}/go.mod requires no module providing ${pkg}`);
    return { name, pkg, version, module };
  });
}
