import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { goTool, toolVersion } from '../helpers/go-tools.js';

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
  t.match(r.err, "no tool named 'nope' in tools/go/go.mod");
});

t.test('not built: the helper names the command; the script without go says go is needed', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'sidegate-tools-'));
  const saved = process.env.SIDEGATE_TOOLS_CACHE;
  process.env.SIDEGATE_TOOLS_CACHE = empty;
  try {
    t.throws(() => goTool('jaeger'), { message: `jaeger ${toolVersion('jaeger')} is not built: run \`bash scripts/go-tools.sh jaeger\`` }, 'the message names the command');
  } finally {
    if (saved === undefined) delete process.env.SIDEGATE_TOOLS_CACHE; else process.env.SIDEGATE_TOOLS_CACHE = saved;
  }
  const r = run(['jaeger'], { PATH: '/usr/bin:/bin', HOME: empty, SIDEGATE_TOOLS_CACHE: empty });
  t.equal(r.code, 1);
  t.match(r.err, "'go' is not on PATH; it is needed to build jaeger");
});
