import t from 'tap';
import { runWithEnv } from '../helpers/engine-suite.js';

/**
 * With the public HTTP/1.1 parser (http-parser-js held to llhttp's rules, the fallback of
 * sidecar/src/protocol/http1/llhttp.ts; `--http1-parser public` through SIDEGATE_TEST_HTTP1_PARSER, see
 * test/helpers/proxy.ts), the hostile boundary, review and HTTP/1.1 differential suites pass unchanged: the sidecar
 * frames, refuses and forwards as it does on llhttp. Split from its sibling
 * http1-parser-fallback-*.test.ts to fit the per-file timeout.
 */
t.test('the HTTP/1.1 test files pass on the public parser', async (t) => {
  const files = [
    'hostile/boundary',
    'hostile/boundary-upgrade',
    'hostile/review-forwarded-proto',
    'hostile/review-head-get',
    'hostile/review-path-params',
    'hostile/review-token-strip',
    'hostile/review-trailer-url',
    'hostile/review-trailing-slash',
    'hostile/review-upgrade-parse-error',
    'hostile/differential/h1',
    'hostile/differential/cross-protocol',
  ];
  for (const r of await runWithEnv({ SIDEGATE_TEST_HTTP1_PARSER: 'public' }, files, 100_000)) t.equal(r.code, 0, `${r.file}: ${r.report}`);
});
