import hpack from 'hpack.js';
import t from 'tap';
import { encodeBlock, type FieldValues, HpackDecoder, STATIC_TABLE } from '../../../../sidecar/src/protocol/http2/hpack.js';
import { CODE_LENGTHS, codes, huffmanDecode } from '../../../../sidecar/src/protocol/http2/huffman.js';

/**
 * sidegate's HPACK (RFC 7541) against the RFC's own examples and an independent implementation
 * (hpack.js): its Huffman table, decoding of what another encoder produced (dynamic table,
 * Huffman, every byte value), refusal of bad blocks, and an encoder another decoder reads back.
 */

/** Random bytes from a seeded generator, so a failure repeats. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

/** One literal field (no indexing) whose value is `bytes`, Huffman-coded by hpack.js. */
function huffField(bytes: number[]): Buffer {
  const enc = hpack.encoder.create();
  enc.encodeStr(bytes, true);
  return Buffer.concat([Buffer.from([0x00, 0x01, 0x78]), ...enc.render()]); // name "x", raw
}

t.test("Huffman table: the canonical codes are the RFC's and hpack.js's", async (t) => {
  const c = codes();
  // Rows of RFC 7541 Appendix B: (sym) code as hex [len].
  const rows: [number, number, number][] = [
    [0, 0x1ff8, 13],
    [1, 0x7fffd8, 23],
    [32, 0x14, 6],
    [48, 0x0, 5],
    [97, 0x3, 5],
    [10, 0x3ffffffc, 30],
    [255, 0x3ffffee, 26],
    [256, 0x3fffffff, 30],
  ];
  for (const [sym, code, len] of rows) {
    t.equal(c[sym], code, `symbol ${sym}: code`);
    t.equal(CODE_LENGTHS[sym], len, `symbol ${sym}: length`);
  }
  const other = hpack.huffman.encode;
  let same = 0;
  for (let s = 0; s <= 256; s++) if (other[s]![0] === CODE_LENGTHS[s] && other[s]![1] === c[s]) same++;
  t.equal(same, 257, 'all 257 codes agree with hpack.js');
});

t.test('Huffman decoding: every byte value, random strings, and invalid codings', async (t) => {
  const dec = new HpackDecoder();
  const all = Array.from({ length: 256 }, (_, i) => i);
  t.same(dec.decode(huffField(all), 10), ['x', Buffer.from(all).toString('latin1')], 'all 256 byte values in one string');
  const r = rng(7);
  let ok = 0;
  for (let i = 0; i < 500; i++) {
    const bytes = Array.from({ length: Math.floor(r() * 60) }, () => (r() < 0.8 ? 32 + Math.floor(r() * 95) : Math.floor(r() * 256)));
    const got = dec.decode(huffField(bytes), 10)[1];
    if (got === Buffer.from(bytes).toString('latin1')) ok++;
  }
  t.equal(ok, 500, '500 random strings decode to what was coded');
  // 'a' is 00011 (5 bits): padded with 111 it is one valid byte.
  t.equal(huffmanDecode(Buffer.from([0b00011111]), 0, 1), 'a');
  t.equal(huffmanDecode(Buffer.from([0b00011000]), 0, 1), undefined, "padding that is not EOS's prefix (zeros)");
  t.equal(huffmanDecode(Buffer.from([0b00011111, 0xff]), 0, 2), undefined, 'padding longer than 7 bits');
  t.equal(huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xfc]), 0, 4), undefined, 'EOS (30 ones) inside a string');
  t.equal(huffmanDecode(Buffer.alloc(0), 0, 0), '', 'empty');
});

t.test('long literals repeated on a connection (a bearer token): same bytes, same string; any other bytes decoded', async (t) => {
  const dec = new HpackDecoder();
  const rawField = (bytes: number[]): Buffer => Buffer.concat([Buffer.from([0x00, 0x01, 0x78, bytes.length]), Buffer.from(bytes)]); // < 128
  const r = rng(11);
  let checked = 0;
  for (let i = 0; i < 300; i++) {
    const bytes = Array.from({ length: 64 + Math.floor(r() * 60) }, () => 32 + Math.floor(r() * 95));
    // The same token again, then one byte of it changed (same length), then the same bytes sent raw.
    const flipped = bytes.slice();
    const at = Math.floor(r() * bytes.length);
    flipped[at] = flipped[at] === 65 ? 66 : 65;
    for (const [field, want] of [
      [huffField(bytes), bytes],
      [huffField(bytes), bytes],
      [huffField(flipped), flipped],
      [rawField(flipped), flipped],
      [huffField(flipped), flipped],
    ] as const) {
      t.equal(dec.decode(field, 10)[1], Buffer.from(want).toString('latin1'));
      checked++;
    }
  }
  t.equal(checked, 1500);
  // A block whose bytes match the remembered literal's up to an invalid coding is still refused.
  const token = Array.from({ length: 80 }, (_, i) => 97 + (i % 26));
  t.equal(dec.decode(huffField(token), 10)[1], Buffer.from(token).toString('latin1'));
  const bad = huffField(token);
  bad[bad.length - 1] = 0x00; // padding that is not EOS's prefix (or a different code): never the old string
  t.not(
    (() => {
      try {
        return dec.decode(bad, 10)[1];
      } catch (e) {
        return (e as Error).name;
      }
    })(),
    Buffer.from(token).toString('latin1'),
  );
});

t.test('RFC 7541 C.3 and C.4: three requests sharing a dynamic table, raw and Huffman', async (t) => {
  const first = [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'];
  const second = [...first, 'cache-control', 'no-cache'];
  const third = [
    ':method',
    'GET',
    ':scheme',
    'https',
    ':path',
    '/index.html',
    ':authority',
    'www.example.com',
    'custom-key',
    'custom-value',
  ];
  const cases: [string, string[]][] = [
    [
      'C.3',
      [
        '828684410f7777772e6578616d706c652e636f6d',
        '828684be58086e6f2d6361636865',
        '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
      ],
    ],
    ['C.4', ['828684418cf1e3c2e5f23a6ba0ab90f4ff', '828684be5886a8eb10649cbf', '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf']],
  ];
  for (const [name, blocks] of cases) {
    const dec = new HpackDecoder();
    t.same(dec.decode(Buffer.from(blocks[0]!, 'hex'), 100), first, `${name}.1`);
    t.same(dec.decode(Buffer.from(blocks[1]!, 'hex'), 100), second, `${name}.2`);
    t.same(dec.decode(Buffer.from(blocks[2]!, 'hex'), 100), third, `${name}.3`);
  }
});

t.test("blocks from hpack.js's compressor (dynamic table, evictions, Huffman) decode field for field", async (t) => {
  for (const size of [4096, 256]) {
    const comp = hpack.compressor.create({ table: { maxSize: size } });
    const dec = new HpackDecoder();
    const r = rng(size);
    let same = 0;
    for (let i = 0; i < 300; i++) {
      const fields = [
        { name: ':method', value: 'GET' },
        { name: ':path', value: `/p/${Math.floor(r() * 20)}?q=${'z'.repeat(Math.floor(r() * 40))}` },
      ];
      for (let k = 0; k < 1 + Math.floor(r() * 6); k++) {
        fields.push({
          name: `x-h${Math.floor(r() * 15)}`,
          value: `v${Math.floor(r() * 1e6)}`,
          huffman: r() < 0.5,
          incremental: r() < 0.7,
        } as never);
      }
      comp.write(fields);
      const got = dec.decode(comp.read()!, 100);
      if (JSON.stringify(got) === JSON.stringify(fields.flatMap((f) => [f.name, f.value]))) same++;
    }
    t.equal(same, 300, `300 blocks with a ${size}-byte table`);
  }
});

t.test('bad blocks are HpackErrors, never a crash or a wrong field', async (t) => {
  const bad: [string, string][] = [
    ['index 0', '80'],
    ['index past both tables', 'ff00'],
    ['literal name index past the tables', '7f00'],
    ['integer that never ends', 'ff' + 'ff'.repeat(8)],
    ['integer cut short', 'ff'],
    ['string longer than the block', '000a61'],
    ['table size update above the setting', '3fe21f'],
    ['table size update after a field', '8220'],
    ['invalid Huffman string', '0001788100'],
  ];
  for (const [name, hex] of bad) {
    t.throws(() => new HpackDecoder().decode(Buffer.from(hex, 'hex'), 100), { name: 'HpackError' }, name);
  }
  t.throws(() => new HpackDecoder().decode(Buffer.from('82'.repeat(11), 'hex'), 10), { name: 'HpackError' }, 'more fields than allowed');
  // A size update to 0 empties the table: the entry added before is gone.
  const dec = new HpackDecoder();
  dec.decode(Buffer.from('400178017a', 'hex'), 10); // literal with indexing: x: z → index 62
  t.same(dec.decode(Buffer.from('be', 'hex'), 10), ['x', 'z'], 'the entry is at index 62');
  t.throws(() => dec.decode(Buffer.from('20be', 'hex'), 10), { name: 'HpackError' }, 'after a size update to 0 it is gone');
});

t.test('encoder: hpack.js reads back what sidegate writes', async (t) => {
  t.equal(STATIC_TABLE.length, 61);
  t.same(
    STATIC_TABLE.map(([n, v]) => `${n}: ${v}`),
    hpack['static-table'].table.map((e) => `${e.name}: ${e.value}`),
    'static table as hpack.js has it',
  );
  const cases: [number, FieldValues][] = [
    [200, { 'content-type': 'text/plain', 'content-length': '1024', 'x-request-id': 'abc' }],
    [503, { 'retry-after': 1, 'set-cookie': ['a=1', 'b=2'], 'x-empty': '', 'x-skip': undefined }],
    [-1, { 'grpc-status': '0', 'grpc-message': 'ok' }],
    [404, { 'x-long': 'y'.repeat(300) }],
  ];
  for (const [status, fields] of cases) {
    const d = hpack.decompressor.create({ table: { maxSize: 4096 } });
    d.write(encodeBlock(0, status, fields));
    d.execute();
    const got: string[] = [];
    for (let f = d.read(); f !== null; f = d.read()) got.push(f.name, f.value);
    const want = status < 0 ? [] : [':status', String(status)];
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      for (const x of Array.isArray(v) ? v : [v]) want.push(k, String(x));
    }
    t.same(got, want, `status ${status}`);
  }
  const b = encodeBlock(9, 200, {});
  t.equal(b.length, 10, 'room for the frame header left in front');
  t.equal(b[9], 0x88, ':status 200 is static index 8');
});
