/**
 * `sidegate check` as shipped (dist/bin), where no cluster is needed: an API server that never
 * answers is a finding within --timeout, not a hang.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CLI } from '../../helpers/spawn.js';

t.test('an API server that accepts and never answers: every read fails within --timeout', async (t) => {
  const held: Socket[] = [];
  const silent = createServer((s) => {
    held.push(s);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-check-cli-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [
        { name: 'c', cluster: { server: `https://127.0.0.1:${(silent.address() as AddressInfo).port}`, 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'u', user: { token: 'x' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    }),
  );
  const started = Date.now();
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, 'check', '--kubeconfig', kubeconfig, '--timeout', '300', '-o', 'json'], {
      env: { PATH: process.env.PATH, HOME: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.once('error', reject);
    p.once('close', (c) => resolve({ code: c, stdout: out }));
  });
  t.equal(code, 1);
  const report = JSON.parse(stdout) as { findings: { code: string; subject: string; message: string }[]; namespace: string };
  t.same(
    report.findings.map((f) => [f.code, f.subject]),
    [
      ['SIDEGATE_CHECK_API_ERROR', 'mutatingwebhookconfigurations'],
      ['SIDEGATE_CHECK_API_ERROR', 'namespace/default'],
    ],
  );
  t.match(report.findings[0]?.message, /no answer within 300 ms/);
  t.equal(report.namespace, 'default', 'the context names no namespace: default');
  t.ok(Date.now() - started < 10_000, `and it exits (${Date.now() - started} ms)`);
});
