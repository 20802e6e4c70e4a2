import t from 'tap';
import { compileMatcher } from '../../policies/src/matcher.js';

void t.test('exact paths match only themselves, with or without a trailing slash', (t) => {
  const m = compileMatcher({ paths: ['/healthz', '/api/v1/orders', '/dir/'] });
  t.ok(m.matches('GET', '/healthz'));
  t.ok(m.matches('POST', '/api/v1/orders'));
  // Routers (Express, Flask, Spring) serve /healthz/ with /healthz's handler: so does the rule.
  t.ok(m.matches('GET', '/healthz/'));
  t.ok(m.matches('GET', '/dir'), 'and a rule written with the slash matches without it');
  t.notOk(m.matches('GET', '/healthz//'), 'repeated slashes never reach the matcher (the target validator merges them)');
  t.notOk(m.matches('GET', '/healthzz'));
  t.notOk(m.matches('GET', '/api/v1/orders/1'));
  t.notOk(m.matches('GET', '/'));
  t.equal(m.anyPath, false);
  t.end();
});

void t.test('/x/* matches /x and everything under /x/, nothing else', (t) => {
  const m = compileMatcher({ paths: ['/public/*'] });
  t.ok(m.matches('GET', '/public'));
  t.ok(m.matches('GET', '/public/'));
  t.ok(m.matches('GET', '/public/a/b/c.css'));
  t.notOk(m.matches('GET', '/publicity'));
  t.notOk(m.matches('GET', '/pub'));
  t.notOk(m.matches('GET', '/other/public/x'));
  t.same([...m.prefixes], ['/public/']);
  t.ok(m.exactPaths.has('/public'));
  const nested = compileMatcher({ paths: ['/a/b/*'] });
  t.ok(nested.matches('GET', '/a/b'));
  t.ok(nested.matches('GET', '/a/b/c'));
  t.notOk(nested.matches('GET', '/a'));
  t.notOk(nested.matches('GET', '/a/bc'));
  t.end();
});

void t.test('*, /* and absent paths match any path', (t) => {
  for (const m of [compileMatcher({ paths: ['*'] }), compileMatcher({ paths: ['/*'] }), compileMatcher({}), compileMatcher()]) {
    t.equal(m.anyPath, true);
    t.ok(m.matches('GET', '/'));
    t.ok(m.matches('DELETE', '/anything/at/all'));
  }
  t.ok(compileMatcher({ paths: ['/x', '*'] }).matches('GET', '/y'), 'a * among other paths still matches everything');
  t.end();
});

void t.test('methods are upper-cased; none means any', (t) => {
  const m = compileMatcher({ paths: ['/admin/*'], methods: ['post', 'Delete'] });
  t.same([...m.methods].sort(), ['DELETE', 'POST']);
  t.ok(m.matches('POST', '/admin/users'));
  t.ok(m.matches('DELETE', '/admin'));
  t.notOk(m.matches('GET', '/admin/users'));
  t.notOk(m.matches('POST', '/public'));
  const anyPathPost = compileMatcher({ methods: ['POST'] });
  t.ok(anyPathPost.matches('POST', '/x'));
  t.notOk(anyPathPost.matches('GET', '/x'));
  t.end();
});

void t.test('matchers are frozen', (t) => {
  const m = compileMatcher({ paths: ['/a', '/b/*'], methods: ['GET'] });
  t.ok(Object.isFrozen(m));
  t.ok(Object.isFrozen(m.prefixes));
  t.throws(() => (m.exactPaths as Set<string>).add('/c'), TypeError);
  t.throws(() => (m.methods as Set<string>).delete('GET'), TypeError);
  t.throws(() => (m.methods as Set<string>).clear(), TypeError);
  t.notOk(m.matches('GET', '/c'));
  t.end();
});

void t.test('matching costs no allocation-heavy work (loose bound: the machine is shared)', (t) => {
  const m = compileMatcher({ paths: ['/healthz', '/public/*', '/static/*', '/api/v1/*', '/api/v2/*'], methods: ['GET', 'POST'] });
  const paths = ['/api/v2/orders/17', '/nomatch/at/all', '/healthz', '/public'];
  const n = 200_000;
  const start = process.hrtime.bigint();
  let hits = 0;
  for (let i = 0; i < n; i++) if (m.matches('GET', paths[i & 3] ?? '')) hits++;
  const nsPerCall = Number(process.hrtime.bigint() - start) / n;
  t.equal(hits, (n / 4) * 3);
  t.ok(nsPerCall < 20_000, `${nsPerCall.toFixed(0)} ns per match`);
  t.end();
});

void t.test('GET includes HEAD (frameworks run the GET handler for HEAD); other methods are exact', (t) => {
  const m = compileMatcher({ paths: ['/a'], methods: ['GET'] });
  t.ok(m.matches('GET', '/a'));
  t.ok(m.matches('HEAD', '/a'));
  t.notOk(m.matches('POST', '/a'));
  const p = compileMatcher({ paths: ['/a'], methods: ['POST'] });
  t.notOk(p.matches('HEAD', '/a'));
  t.end();
});
