import t from 'tap';
import { randomUuid, requestIdFrom } from '../../../sidecar/src/protocol/request-id.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('fresh ids are version 4 UUIDs, all different, every hex digit used', (t) => {
  const seen = new Set<string>();
  const digits = new Set<string>();
  // More than one pool of random bytes (128 ids), so the refill is crossed several times.
  for (let i = 0; i < 1000; i++) {
    const id = randomUuid();
    if (!V4.test(id)) t.fail(`not a v4 UUID: ${id}`);
    seen.add(id);
    for (const c of id.replace(/-/g, '')) digits.add(c);
  }
  t.equal(seen.size, 1000, 'no id repeats');
  t.equal(digits.size, 16, 'all 16 hex digits appear');
  // The variant nibble takes all four of its values: the bits come from the random bytes.
  const variants = new Set([...seen].map((id) => id[19]));
  t.same([...variants].sort(), ['8', '9', 'a', 'b']);
  t.end();
});

t.test('a safe client id is kept; anything else gets a fresh one', (t) => {
  t.equal(requestIdFrom('abc-123'), 'abc-123');
  t.match(requestIdFrom(undefined), V4);
  t.match(requestIdFrom(['a', 'b']), V4, 'a repeated header is not trusted');
  t.match(requestIdFrom('bad id\r\nx: y'), V4, 'separators are refused');
  t.match(requestIdFrom('x'.repeat(129)), V4, 'too long is refused');
  t.end();
});
