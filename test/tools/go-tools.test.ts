import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { goTool, goTools, toolVersion } from '../helpers/go-tools.js';

/** scripts/go-tools.sh and the helper that finds what it built agree, and say what to do when something is missing. */

const script = join(process.cwd(), 'scripts', 'go-tools.sh');
const run = (args: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; out: string; err: string } => {
  const r = spawnSync('bash', [script, ...args], { env, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

t.test('a cached tool: the script prints the path the helper finds, without building', async (t) => {
  const r = run(['jaeger']);
  t.equal(r.code, 0);
  t.equal(r.out.trim(), goTool('jaeger'));
  t.match(r.out.trim(), new RegExp(`/jaeger-${toolVersion('jaeger').replace(/\./g, '\\.')}/jaeger$`), 'keyed by the pinned version');
  t.notMatch(r.err, /building/, 'nothing rebuilt');
  t.ok(existsSync(r.out.trim()));
});

t.test('an unknown tool name is refused', async (t) => {
  const r = run(['nope']);
  t.equal(r.code, 2);
  t.match(r.err, "no tool named 'nope' in tools/*/go.mod");
});

t.test("every module's tools: the script and the helper read the same names, versions and modules", async (t) => {
  const r = run(['--list']);
  t.equal(r.code, 0);
  t.same(
    r.out.trim().split('\n'),
    goTools().map((x) => `${x.name} ${x.version} ${x.module}`),
    'same lines, same order',
  );
  t.notMatch(r.err, /building/, '--list builds nothing');
  const byName = new Map(goTools().map((x) => [x.name, x]));
  t.equal(byName.get('etcd')?.pkg, 'go.etcd.io/etcd/server/v3', 'a `// binary:` comment names a package ending in /v3');
  t.equal(byName.get('etcd')?.module, 'kubernetes', 'etcd is the one k8s.io/kubernetes requires');
  t.equal(byName.get('kube-apiserver')?.version, byName.get('kube-controller-manager')?.version, 'one Kubernetes release');
  t.equal(byName.get('kwok')?.module, 'kwok');
  t.equal(new Set(goTools().map((x) => x.name)).size, goTools().length, 'names unique across modules');
});

t.test('not built: the helper names the command; the script without go says go is needed', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'sidegate-tools-'));
  const saved = process.env.SIDEGATE_TOOLS_CACHE;
  process.env.SIDEGATE_TOOLS_CACHE = empty;
  try {
    t.throws(
      () => goTool('jaeger'),
      { message: `jaeger ${toolVersion('jaeger')} is not built: run \`bash scripts/go-tools.sh jaeger\`` },
      'the message names the command',
    );
  } finally {
    if (saved === undefined) delete process.env.SIDEGATE_TOOLS_CACHE;
    else process.env.SIDEGATE_TOOLS_CACHE = saved;
  }
  const r = run(['jaeger'], { PATH: '/usr/bin:/bin', HOME: empty, SIDEGATE_TOOLS_CACHE: empty });
  t.equal(r.code, 1);
  t.match(r.err, "'go' is not on PATH; it is needed to build jaeger");
});

t.test('tools/kubernetes: every staging module is replaced by its twin of the one pinned release', async (t) => {
  const mod = readFileSync(join(process.cwd(), 'tools', 'kubernetes', 'go.mod'), 'utf8');
  const k8s = toolVersion('kube-apiserver');
  const twin = k8s.replace(/^v1\./, 'v0.');
  const replaces = [...mod.matchAll(/^\s*(k8s\.io\/\S+) => (\S+) (v\S+)$/gm)];
  t.ok(replaces.length >= 30, `${replaces.length} replace lines`);
  for (const [, from, to, version] of replaces) {
    t.equal(to, from, `${from} replaced by itself`);
    t.equal(version, twin, `${from} at ${twin}, the twin of k8s.io/kubernetes ${k8s}`);
  }
});
