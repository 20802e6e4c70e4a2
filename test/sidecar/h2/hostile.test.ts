import t from 'tap';
import { runWithH2Engine } from '../../helpers/engine-suite.js';

/**
 * The hostile HTTP/2 test files again with node:http2 framing inbound HTTP/2 (`--h2-engine node`,
 * the fallback to sidegate's own engine): the same attacks must be refused the same way, and the
 * process stay up and bounded, whichever engine frames them.
 */
t.test('the hostile HTTP/2 test files pass with --h2-engine node', async (t) => {
  const files = ['hostile/h2-misbehaviour', 'hostile/paths', 'hostile/identity'];
  for (const r of await runWithH2Engine('node', files)) t.equal(r.code, 0, `${r.file}: ${r.report}`);
});
