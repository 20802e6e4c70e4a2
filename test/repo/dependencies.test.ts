import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/**
 * Dependency hygiene: what ships (the code under cli/, sidecar/src, injector/src, policies/src)
 * imports only packages declared in `dependencies`, and every declared runtime dependency is
 * imported by it; a package only tests or the bench use belongs in `devDependencies`.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHIPPED = ['cli', 'sidecar/src', 'injector/src', 'policies/src'];
/** Imported by shipped code yet a dev dependency, on purpose: the bundle carries it, the image's node_modules need not. */
const BUNDLED_DEV: Readonly<Record<string, string>> = {
  '@kubernetes/client-node': "in sidegate check's bundle chunk; its 62 packages (≈ 79 MB) stay out of the image",
};
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield p;
  }
}

/** The package a specifier names ('@scope/name/sub' → '@scope/name'), or undefined for relative and node: ones. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!)) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

const imported = new Map<string, string>();
for (const dir of SHIPPED) {
  for (const file of sources(join(ROOT, dir))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:^|[^.\w])(?:import|export)\s[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|require\(\s*'([^']+)'\s*\)/gm,
    )) {
      const name = packageOf(m[1] ?? m[2] ?? m[3]!);
      if (name !== undefined && !imported.has(name)) imported.set(name, file.slice(ROOT.length));
    }
  }
}

t.test('every package the shipped code imports is a runtime dependency', async (t) => {
  for (const [name, file] of imported) {
    if (name in BUNDLED_DEV) t.ok(name in pkg.devDependencies, `${name}: a dev dependency, bundled (${BUNDLED_DEV[name]})`);
    else t.ok(name in pkg.dependencies, `${name} (imported by ${file}) is in dependencies`);
  }
});

t.test('every runtime dependency is imported by the shipped code', async (t) => {
  for (const name of Object.keys(pkg.dependencies)) t.ok(imported.has(name), `${name} is imported by ${SHIPPED.join(', ')}`);
});

t.test('nothing is declared twice', async (t) => {
  for (const name of Object.keys(pkg.dependencies)) t.notOk(name in pkg.devDependencies, `${name} only once`);
});
