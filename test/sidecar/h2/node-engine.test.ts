import t from 'tap';
import { runWithH2Engine } from '../../helpers/engine-suite.js';

/**
 * The functional HTTP/2 test files again with node:http2 framing inbound HTTP/2 (`--h2-engine
 * node`, the fallback to sidegate's own engine), each in a child process: h2c, gRPC, TLS with
 * ALPN, large bodies both ways, drain with GOAWAY. (Timeouts and limits are mostly HTTP/1.1 and
 * run once.)
 */
t.test('the functional HTTP/2 test files pass with --h2-engine node too', async (t) => {
  const files = ['sidecar/h2c', 'sidecar/grpc', 'sidecar/tls', 'sidecar/large-bodies', 'sidecar/drain'];
  for (const r of await runWithH2Engine('node', files)) t.equal(r.code, 0, `${r.file}: ${r.report}`);
});
