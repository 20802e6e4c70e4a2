import type { Exchange } from '../exchange.js';
import { H } from '../headers.js';
import { upgradeTokens } from '../upgrade.js';

/** A WebSocket key: base64 of 16 bytes (RFC 6455 §4.1, item 7). */
const WS_KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * What to do with an HTTP/1.1 request that offers a protocol switch (`Upgrade` with
 * `Connection: upgrade`). Whatever the answer, the request first runs through the pipeline like
 * any other, and the connection becomes a tunnel only after the app answers 101:
 *
 * - `h2c`: declined (`false`): RFC 9113 §3.1 deprecates the upgrade to HTTP/2, and RFC 9110 §7.8
 *   lets a server ignore Upgrade. The request is served over HTTP/1.1 without it.
 * - `websocket`: tunnelled (`true`) when the handshake is valid (RFC 6455 §4.2.1), else refused.
 * - any other protocol: tunnelled when the request has no body, else refused.
 *
 * Refusals are a string: why the request is answered 400.
 */
export function judgeUpgrade(ex: Exchange, minorVersion: number, hasBody: boolean): boolean | string {
  if (ex.method === 'CONNECT' || ex.invalid !== undefined) return false; // refused as a request already
  const offered = upgradeTokens(ex.headers[H.upgrade]);
  if (offered.length === 0) return false;
  if (offered.some((p) => p === 'h2c' || p.startsWith('h2c/'))) return false;
  if (hasBody) return 'an Upgrade request may not have a body';
  if (!offered.some((p) => p === 'websocket')) return true;
  if (offered.length > 1) return 'invalid WebSocket handshake: Upgrade must offer websocket alone';
  if (ex.method !== 'GET') return 'invalid WebSocket handshake: the method must be GET';
  if (minorVersion < 1) return 'invalid WebSocket handshake: HTTP/1.1 is required';
  const key = ex.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !WS_KEY.test(key.trim()))
    return 'invalid WebSocket handshake: Sec-WebSocket-Key must be base64 of 16 bytes';
  if (ex.headers['sec-websocket-version'] !== '13') return 'invalid WebSocket handshake: Sec-WebSocket-Version must be 13';
  return true;
}
