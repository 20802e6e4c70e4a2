import { createRequire } from 'node:module';
import type * as Http from 'node:http';

/**
 * node:http, loaded through `require`, never `import`: on Node.js 24 an ESM import of node:http
 * builds its module facade by reading every export, and three of them (`WebSocket`, `CloseEvent`,
 * `MessageEvent`) are getters that load Node's bundled undici: 25–35 ms of start-up and its heap in
 * every sidecar for a client sidegate never uses. `test/repo/no-undici.test.ts` keeps it that way
 * (type-only imports of node:http are fine: they are erased).
 */
export const http = createRequire(import.meta.url)('node:http') as typeof Http;
