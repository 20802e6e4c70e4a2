import t from 'tap';
import { RecentIds } from '../../../../sidecar/src/protocol/http2/recent-ids.js';

/**
 * How recent client streams ended (RFC 9113 §5.1), by id: an id is remembered until the stream
 * `slots` opens later (id + 2 × slots) ends.
 */

t.test('remembers each id with its tag until the id 2 × slots higher comes', async (t) => {
  const r = new RecentIds(4);
  t.equal(r.get(1), undefined, 'nothing yet');
  for (const [id, tag] of [
    [1, 0],
    [3, 1],
    [5, 2],
    [7, 0],
  ] as const)
    r.add(id, tag);
  t.same(
    [1, 3, 5, 7, 9].map((id) => r.get(id)),
    [0, 1, 2, 0, undefined],
  );
  r.add(9, 1); // four streams after 1: takes its slot
  t.equal(r.get(1), undefined, 'stream 1 forgotten');
  t.same(
    [3, 5, 7, 9].map((id) => r.get(id)),
    [1, 2, 0, 1],
  );
  // Streams ending out of order: each is still found while its slot is not taken.
  r.add(15, 2);
  r.add(11, 1);
  t.same(
    [5, 7, 9, 11, 15, 13].map((id) => r.get(id)),
    [2, undefined, 1, 1, 2, undefined],
    '7 gave way to 15, 3 to 11; 13 never ended',
  );
});

t.test('the last tag added for an id wins', async (t) => {
  const r = new RecentIds(4);
  r.add(5, 0);
  r.add(5, 2);
  t.equal(r.get(5), 2);
});

t.test('ids up to 2^31 - 1 (the largest stream id); never stream 0', async (t) => {
  const r = new RecentIds(256);
  r.add(2 ** 31 - 1, 2);
  t.equal(r.get(2 ** 31 - 1), 2);
  t.equal(r.get(0), undefined, 'an empty slot is not stream 0');
  t.equal(r.get(2 ** 31 - 1 - 512), undefined, 'the id before it in that slot');
});

t.test('slots must be a power of two', async (t) => {
  t.throws(() => new RecentIds(100), /power of two/);
  t.throws(() => new RecentIds(0), /power of two/);
});
