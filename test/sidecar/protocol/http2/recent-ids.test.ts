import t from 'tap';
import { RecentIds } from '../../../../sidecar/src/protocol/http2/recent-ids.js';

/** The closed streams an HTTP/2 connection remembers (RFC 9113 §5.1): the last `capacity`, by id. */

t.test('remembers the last ids with their tags; forgets the oldest first', async (t) => {
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
  r.add(9, 1);
  t.equal(r.get(1), undefined, 'the oldest forgotten');
  t.same(
    [3, 5, 7, 9].map((id) => r.get(id)),
    [1, 2, 0, 1],
  );
  t.equal(r.size, 4);
  // Around the ring several times: always the last four.
  for (let id = 11; id < 11 + 2 * 13; id += 2) r.add(id, id % 3);
  const last = [29, 31, 33, 35];
  t.same(
    last.map((id) => r.get(id)),
    last.map((id) => id % 3),
  );
  t.equal(r.get(27), undefined);
});

t.test('the newest tag of an id added twice wins', async (t) => {
  const r = new RecentIds(3);
  r.add(5, 0);
  r.add(5, 2);
  t.equal(r.get(5), 2);
  r.add(7, 1);
  r.add(9, 1); // the first entry for 5 leaves; the second stays
  t.equal(r.get(5), 2);
});

t.test('ids up to 2^31 - 1 (the largest stream id)', async (t) => {
  const r = new RecentIds(2);
  r.add(2 ** 31 - 1, 2);
  t.equal(r.get(2 ** 31 - 1), 2);
  t.equal(r.get(0), undefined, 'an empty slot is not stream 0');
});
