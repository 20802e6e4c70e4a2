import t from 'tap';
import { addSidecarHeaders, H } from '../../../sidecar/src/protocol/headers.js';

void t.test("addSidecarHeaders: request id, then stage headers over the app's", async (t) => {
  const out: Record<string, unknown> = { 'content-type': 'text/plain', ratelimit: 'from-the-app', [H.requestId]: 'app-id' };
  addSidecarHeaders(out, { requestId: 'r1', responseHeaders: { [H.rateLimitPolicy]: '"a";q=1;w=1', [H.rateLimit]: '"a";r=0;t=1' } });
  t.same(out, { 'content-type': 'text/plain', ratelimit: '"a";r=0;t=1', [H.requestId]: 'r1', [H.rateLimitPolicy]: '"a";q=1;w=1' });
  const bare: Record<string, unknown> = {};
  addSidecarHeaders(bare, { requestId: 'r2', responseHeaders: undefined });
  t.same(bare, { [H.requestId]: 'r2' });
});
