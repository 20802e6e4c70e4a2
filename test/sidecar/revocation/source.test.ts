import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { formatRevocations } from '../../../sidecar/src/revocation/index.js';
import { startHttpApp } from '../../helpers/apps.js';
import { startProxy } from '../../helpers/proxy.js';

/**
 * The mounted list in a real sidecar: read at start, live-reloaded, bad entries named and left
 * out, a file that is not a list kept out (the last good list stays in force), and the process
 * serving throughout. Reloads are driven with refresh() (what the watch calls), not by waiting.
 */
t.test('reloads, problems and the last good list', async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-revocations-'));
  const file = join(dir, 'revocations.yaml');
  const put = (text: string): void => {
    writeFileSync(join(dir, '.next'), text);
    renameSync(join(dir, '.next'), file);
  };
  const clock = new ManualClock(Date.parse('2026-12-06T21:00:00Z'), 0);
  const later = clock.now() + 3_600_000;
  const proxy = await startProxy(app.url, ['--revocations', file, '--policy-overlay', '{"spec":{"clientAddress":{"trustedHops":1}}}'], {
    clock,
  });
  t.teardown(() => proxy.close());
  const from = async (ip: string): Promise<number> => (await fetch(`${proxy.url}/x`, { headers: { 'x-forwarded-for': ip } })).status;
  const metric = async (re: RegExp): Promise<boolean> => re.test(await (await fetch(`${proxy.adminUrl}/metrics`)).text());

  t.equal(await from('10.1.1.1'), 200, 'no file: nothing banned, and serving');
  t.ok(proxy.logs.some((l) => l.msg === 'no revocation list mounted yet (ConfigMap sidegate-revocations absent): nothing revoked'));

  put(formatRevocations([{ kind: 'ip', ip: '10.1.1.1', expires: later }], clock.now()));
  await proxy.proxy.revocations.refresh();
  t.equal(await from('10.1.1.1'), 403, 'banned once the list appears');
  t.equal(await from('10.1.1.2'), 200);
  t.ok(await metric(/^sidegate_revocation_entries\{kind="ip"\} 1$/m));
  t.ok(await metric(/^sidegate_revocation_copy_age_seconds\{copy="file"\} 0$/m), 'file age: just read (manual clock)');

  put(
    'apiVersion: sidegate.dev/v1\nkind: Revocations\nbans:\n  - { ip: 10.1.1.2, expires: "2099-01-01T00:00:00Z" }\n  - { ip: 10.1.1.0/24, expires: "2099-01-01T00:00:00Z" }\n',
  );
  await proxy.proxy.revocations.refresh();
  t.equal(await from('10.1.1.2'), 403, 'the good entry applies');
  t.equal(await from('10.1.1.1'), 200, 'the replaced list no longer bans .1');
  t.ok(await metric(/^sidegate_revocation_list_problems 1$/m), 'one problem');
  const warn = proxy.logs.find((l) => l.msg === 'revocation list: bad entries left out, the rest applied');
  t.same(warn?.problems, [
    { path: '/bans/1/ip', message: '"10.1.1.0/24" is a range: ban single addresses (CIDR ranges are not supported)' },
  ]);

  put('bans: [ oops\n');
  await proxy.proxy.revocations.refresh();
  t.equal(await from('10.1.1.2'), 403, 'not a list: the last good one stays in force');
  t.ok(proxy.logs.some((l) => l.msg === 'revocation list rejected: not a revocation list; keeping the entries in force'));
  t.ok(await metric(/^sidegate_revocation_list_problems 1$/m));

  // The watch and its 2 s poll run on real time: stopped, so no read lands between the clock's
  // move and the scrape (refresh() still reads).
  proxy.proxy.revocations.close();
  clock.advance(5000);
  t.ok(await metric(/^sidegate_revocation_copy_age_seconds\{copy="file"\} 5$/m), 'age grows with the clock until the next read');
  await proxy.proxy.revocations.refresh();
  t.ok(await metric(/^sidegate_revocation_copy_age_seconds\{copy="file"\} 0$/m), 'and resets on a read');
  clock.advance(3_600_000);
  t.equal(await from('10.1.1.2'), 403, 'a 2099 ban still holds an hour later');
  t.equal((await fetch(`${proxy.adminUrl}/healthz/ready`)).status, 200, 'ready throughout');
});
