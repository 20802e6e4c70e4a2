import t from 'tap';
import { dashSpellings, namesOtherReading, overrideMethods, rewriteTargets } from '../../../sidecar/src/protocol/method-override.js';

/**
 * The route stage asks `namesOtherReading` first and probes the override and rewrite headers
 * only when it says yes: it must say yes for every spelling either reader knows, whatever else
 * the request carries, or an override would go unjudged.
 */

const SPELLINGS = ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url'].flatMap(
  dashSpellings,
);

t.test('every spelling of an override or rewrite header is seen, among other headers', async (t) => {
  t.equal(SPELLINGS.length, 24, '8 + 4 + 4 + 4 + 4 spellings');
  const others = { host: 'a', 'x-request-id': '1', 'x-forwarded-for': '10.0.0.1', accept: '*/*', 'x-http-method-overrides': 'DELETE' };
  t.notOk(namesOtherReading(others), 'near names are not these headers');
  t.notOk(namesOtherReading({}), 'no headers');
  for (const name of SPELLINGS) {
    const value = name.includes('url') ? '/admin' : 'DELETE';
    t.ok(namesOtherReading({ ...others, [name]: value }), `${name} among others`);
    t.ok(namesOtherReading({ [name]: [value, value] }), `${name} repeated`);
    // What the readers find is what the route stage judges: present whenever the filter says so.
    const found = name.includes('url') ? rewriteTargets({ [name]: value }) : overrideMethods('GET', { [name]: value }, '/');
    t.same(found, [value], `${name}: read`);
  }
  // Without headers the query is still read.
  t.same(overrideMethods('POST', undefined, '/x?_method=delete'), ['DELETE'], '_method in the query without header probes');
});
