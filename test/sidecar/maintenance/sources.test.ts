/**
 * The three places maintenance mode can come from, as a sidecar merges them: chart defaults
 * (SIDEGATE_POLICY_DEFAULTS, from the injector config), the policy file (the ConfigMap), and the
 * annotation overlay (SIDEGATE_POLICY_OVERLAY).
 */
import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../../helpers/apps.js';
import { startProxy } from '../../helpers/proxy.js';

const defaultsOn = JSON.stringify({ spec: { maintenance: { enabled: true, message: 'cluster upgrade until 04:00 UTC' } } });
const fileOff = 'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: orders }\nspec:\n  maintenance: { enabled: false }\n';

async function answer(url: string): Promise<{ status: number; error?: string; message?: string }> {
  const r = await request(`${url}/api/x`);
  const body = (await r.body.json()) as { error?: string; message?: string };
  return { status: r.statusCode, error: body.error, message: body.message };
}

t.test("chart defaults switch it on; a service's ConfigMap switches itself off; the annotation wins over both", async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());

  const cluster = await startProxy(app.url, ['--policy-defaults', defaultsOn]);
  t.teardown(() => cluster.close());
  t.same(
    await answer(cluster.url),
    { status: 503, error: 'SIDEGATE_ERR_MAINTENANCE', message: 'cluster upgrade until 04:00 UTC' },
    'defaults alone: on',
  );

  const optedOut = await startProxy(app.url, ['--policy-defaults', defaultsOn], { policy: fileOff });
  t.teardown(() => optedOut.close());
  t.equal((await answer(optedOut.url)).status, 200, 'the ConfigMap says enabled: false');

  const annotated = await startProxy(
    app.url,
    ['--policy-defaults', defaultsOn, '--policy-overlay', JSON.stringify({ spec: { maintenance: { enabled: true, retryAfter: '5m' } } })],
    { policy: fileOff },
  );
  t.teardown(() => annotated.close());
  const r = await request(`${annotated.url}/api/x`);
  t.equal(r.statusCode, 503, 'the annotation overlay turns it back on');
  t.equal(r.headers['retry-after'], '300');
  t.match(await r.body.json(), { message: 'cluster upgrade until 04:00 UTC' }, 'with the fields it did not set from below');
});
