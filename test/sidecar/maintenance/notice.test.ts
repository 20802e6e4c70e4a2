import { Writable } from 'node:stream';
import t from 'tap';
import { compilePolicy } from '../../../policies/src/compile.js';
import type { CompiledPolicy } from '../../../policies/src/types.js';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { MaintenanceNotice } from '../../../sidecar/src/policy/maintenance-notice.js';
import { createLogger } from '../../../sidecar/src/telemetry/logger.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';

function policy(spec: Record<string, unknown>): CompiledPolicy {
  const r = compilePolicy({ apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'orders' }, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.policy;
}

t.test('the gauge follows the policy in force; warn on, warn while on, info off', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(
    'info',
    new Writable({
      write(c: Buffer, _e, cb) {
        for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const metrics = new Metrics({ processMetrics: false });
  const clock = new ManualClock();
  const n = new MaintenanceNotice({ log, metrics, clock }, 0); // no timer: remind() is called by hand
  t.teardown(() => n.close());
  const gauge = async (): Promise<number> => (await metrics.maintenanceActive.get()).values[0]?.value ?? -1;

  n.update(policy({}));
  t.equal(await gauge(), 0, 'no section: 0');
  t.equal(lines.length, 0, 'nothing said while off');

  n.update(policy({ maintenance: { message: 'upgrade', retryAfter: '10m', except: [{ paths: ['/healthz'] }] } }));
  t.equal(await gauge(), 1);
  t.match(lines.at(-1), {
    level: 'warn',
    maintenance: true,
    message: 'upgrade',
    retry_after_s: 600,
    except: 1,
    allow_list: false,
    policy: 'orders',
    msg: /^maintenance mode on/,
  });

  clock.advance(30 * 60_000);
  n.remind();
  t.match(lines.at(-1), { level: 'warn', maintenance: true, on_for_s: 1800, msg: 'maintenance mode still on' });

  const before = lines.length;
  n.update(
    policy({
      maintenance: { message: 'upgrade', retryAfter: '10m', except: [{ paths: ['/healthz'] }] },
      routes: [{ name: 'x', match: {} }],
    }),
  );
  t.equal(lines.length, before, 'a reload that leaves maintenance as it was says nothing new');
  n.update(policy({ maintenance: { message: 'upgrade, now until 04:00', retryAfter: '10m' } }));
  t.match(lines.at(-1), { level: 'warn', message: 'upgrade, now until 04:00', msg: 'maintenance mode settings changed' });

  clock.advance(15 * 60_000);
  n.update(policy({ maintenance: { enabled: false } }));
  t.equal(await gauge(), 0);
  t.match(lines.at(-1), { level: 'info', maintenance: false, on_for_s: 2700, msg: /^maintenance mode off/ });
  const after = lines.length;
  n.remind();
  t.equal(lines.length, after, 'no reminder once off');
});

t.test('the reminder runs on its own timer while on, and stops when off', async (t) => {
  const lines: string[] = [];
  const log = createLogger(
    'info',
    new Writable({
      write(c: Buffer, _e, cb) {
        lines.push(c.toString());
        cb();
      },
    }),
  );
  const n = new MaintenanceNotice({ log, metrics: new Metrics({ processMetrics: false }), clock: new ManualClock() }, 20);
  t.teardown(() => n.close());
  n.update(policy({ maintenance: {} }));
  const still = (): number => lines.filter((l) => l.includes('maintenance mode still on')).length;
  while (still() < 2) await new Promise((r) => setTimeout(r, 5));
  n.update(policy({}));
  const stopped = still();
  await new Promise((r) => setTimeout(r, 80));
  t.equal(still(), stopped, 'no reminder after it went off');
});
