import { createRequire } from 'node:module';
import type * as Http2 from 'node:http2';

const load = createRequire(import.meta.url);
let mod: typeof Http2 | undefined;

/**
 * node:http2, loaded on first use: only an h2c upstream and h2c app probes need it (inbound
 * HTTP/2 is sidegate's own engine, protocol/http2/). A bare `node` process grows by 3–5 MB of RSS when
 * it loads it; an idle sidecar measured the same with and without, 61.8–61.9 MB, so this is about
 * not starting what is unused rather than a measured saving.
 */
export function nodeHttp2(): typeof Http2 {
  return (mod ??= load('node:http2') as typeof Http2);
}
