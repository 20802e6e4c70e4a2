import t from 'tap';
import { POOL_BYTES, PooledIdGenerator } from '../../sidecar/src/telemetry/ids.js';

/** A fill that writes 0, 1, 2, ... (mod 256) across successive pools, counting its calls. */
function counting(): { fill: (buf: Buffer) => void; calls: () => number } {
  let n = 0;
  let calls = 0;
  return {
    fill: (buf) => {
      calls++;
      for (let i = 0; i < buf.length; i++) buf[i] = n++ & 0xff;
    },
    calls: () => calls,
  };
}

t.test('ids are lowercase hex of W3C length, and never repeat', async (t) => {
  const g = new PooledIdGenerator();
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const tr = g.generateTraceId();
    const sp = g.generateSpanId();
    if (!/^[0-9a-f]{32}$/.test(tr) || !/^[0-9a-f]{16}$/.test(sp)) t.fail(`bad ids ${tr} ${sp}`);
    seen.add(tr);
    seen.add(sp);
  }
  t.equal(seen.size, 10_000, 'every id distinct, across many pools');
});

t.test('ids are the pool bytes in order; an id never straddles two pools', async (t) => {
  const src = counting();
  const g = new PooledIdGenerator(src.fill);
  t.equal(g.generateTraceId(), '000102030405060708090a0b0c0d0e0f');
  t.equal(g.generateSpanId(), '1011121314151617');
  t.equal(src.calls(), 1);
  // 24 bytes used; trace ids up to the last 8 bytes of the pool.
  t.equal(POOL_BYTES % 256, 0, 'the pool ends where the count wraps');
  for (let i = 0; i < (POOL_BYTES - 24 - 8) / 16; i++) g.generateTraceId();
  t.equal(src.calls(), 1, 'still the first pool');
  t.equal(g.generateSpanId(), 'f8f9fafbfcfdfeff', 'the last 8 bytes fit a span id');
  t.equal(src.calls(), 1);
  // The second pool starts where the count wraps (0x00 again).
  t.equal(g.generateSpanId(), '0001020304050607', 'a new pool when the old one is used up');
  t.equal(src.calls(), 2);
  for (let i = 0; i < (POOL_BYTES - 8 - 8) / 16; i++) g.generateTraceId();
  // All but 8 bytes used: a trace id (16) does not fit.
  t.equal(g.generateTraceId(), '000102030405060708090a0b0c0d0e0f', 'a trace id that does not fit takes a new pool');
  t.equal(src.calls(), 3);
});

t.test('an all-zero id is never returned', async (t) => {
  // The first pool is all zeros; the second counts from 1.
  let calls = 0;
  const g = new PooledIdGenerator((buf) => {
    calls++;
    for (let i = 0; i < buf.length; i++) buf[i] = calls === 1 ? 0 : (i + 1) & 0xff;
  });
  t.equal(g.generateTraceId(), '0102030405060708090a0b0c0d0e0f10', 'the zero pool skipped, id by id');
  t.equal(calls, 2);
  const h = new PooledIdGenerator((buf) => {
    buf.fill(0xff);
    buf.fill(0, 0, 8);
  });
  t.equal(h.generateSpanId(), 'ffffffffffffffff', 'a zero span id skipped');
  // A trace id with zero bytes in it is valid: only all-zero is not.
  const k = new PooledIdGenerator((buf) => {
    buf.fill(0);
    buf[15] = 1;
  });
  t.equal(k.generateTraceId(), '00000000000000000000000000000001');
});
