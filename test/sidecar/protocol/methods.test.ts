import t from 'tap';
import { IDEMPOTENT_METHODS, resendable, type ResendCandidate } from '../../../sidecar/src/protocol/methods.js';

function req(over: Partial<ResendCandidate> & { headersSent?: boolean; closed?: boolean } = {}): ResendCandidate {
  return {
    method: over.method ?? 'GET',
    hasBody: over.hasBody ?? false,
    upgrade: over.upgrade,
    sink: { headersSent: over.headersSent ?? false, closed: over.closed ?? false },
  };
}

void t.test('the idempotent methods of RFC 9110 §9.2.2', async (t) => {
  t.same([...IDEMPOTENT_METHODS].sort(), ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PUT', 'TRACE']);
});

void t.test('resendable: idempotent, bodiless, not a switch, unanswered, client still there', async (t) => {
  for (const m of IDEMPOTENT_METHODS) t.ok(resendable(req({ method: m })), m);
  t.notOk(resendable(req({ method: 'POST' })), 'POST is not idempotent');
  t.notOk(resendable(req({ method: 'PATCH' })), 'PATCH is not idempotent');
  t.notOk(resendable(req({ hasBody: true })), 'a body cannot be replayed');
  t.notOk(resendable(req({ upgrade: { protocol: 'websocket' } })), 'not a protocol switch');
  t.notOk(resendable(req({ headersSent: true })), 'the client already has a response head');
  t.notOk(resendable(req({ closed: true })), 'the client is gone');
});
