import { readFileSync, realpathSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import {
  classify,
  filePages,
  formatTable,
  parseMaps,
  parseNm,
  readSections,
  symbolAt,
  type FilePages,
} from '../../bench/memory/file-pages.js';

t.test('parseMaps reads file-backed and anonymous mappings', async (t) => {
  const maps = parseMaps(
    [
      '00400000-00b6f000 r--p 00000000 fe:00 260689                             /usr/bin/node',
      '00b72000-025fe000 r-xp 00772000 fe:00 260689                             /usr/bin/node',
      '19ef4000-1a3ce000 rw-p 00000000 00:00 0                                  [heap]',
      '7ff364000000-7ff364089000 rw-p 00000000 00:00 0 ',
      'garbage',
    ].join('\n'),
  );
  t.equal(maps.length, 4);
  t.same(maps[1], { start: 0xb72000, end: 0x25fe000, perms: 'r-xp', offset: 0x772000, path: '/usr/bin/node' });
  t.equal(maps[2]!.path, '[heap]');
  t.equal(maps[3]!.path, '');
  t.equal(maps[3]!.start, 0x7ff364000000, 'addresses above 2^32 survive');
});

t.test('symbolAt finds the covering symbol, else the first one starting in the page', async (t) => {
  const s = parseNm(
    [
      '0000000000001000 0000000000000100 T v8::internal::compiler::Pipeline::Run()',
      '0000000000000800 0000000000000010 T uv_run',
      '0000000000003000 0000000000000000 T zero_sized_is_skipped',
      '0000000000002100 0000000000000040 R icudt78_dat',
      '                 U undefined_is_skipped',
    ].join('\n'),
  );
  t.same([...s.addr], [0x800, 0x1000, 0x2100], 'sized symbols, sorted by address');
  t.equal(symbolAt(s, 0x1080, 4096), 'v8::internal::compiler::Pipeline::Run()');
  t.equal(symbolAt(s, 0x900, 4096), 'v8::internal::compiler::Pipeline::Run()', 'a page starting in a gap takes the next symbol inside it');
  t.equal(symbolAt(s, 0x1200, 0x100), undefined, 'a gap with no symbol');
  t.equal(symbolAt(s, 0x0, 0x100), undefined);
  t.equal(symbolAt(s, 0x2120, 4096), 'icudt78_dat');
});

t.test('classify groups symbols of the Node.js executable', async (t) => {
  const cases: [string | undefined, string][] = [
    ['icudt78_dat', 'ICU data'],
    ['Builtins_ArrayPrototypePush', 'V8 builtins'],
    ['v8::internal::compiler::Pipeline::Run()', 'V8 TurboFan'],
    ['non-virtual thunk to v8::internal::compiler::GraphReducer::Reduce(v8::internal::compiler::Node*)', 'V8 TurboFan'],
    ['vtable for v8::internal::maglev::MaglevCompiler', 'V8 Maglev'],
    ['v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)', 'V8 other'],
    ['void v8::internal::wasm::Foo<int>()', 'V8 WebAssembly'],
    ['cppgc::internal::Heap::Heap()', 'V8 other'],
    ['node::crypto::Hash::New(v8::FunctionCallbackInfo<v8::Value> const&)', 'Node.js'],
    ['EVP_DigestVerify', 'OpenSSL'],
    ['ossl_rsa_verify', 'OpenSSL'],
    ['icu_78::UnicodeString::append(char16_t)', 'ICU code'],
    ['ucase_props_singleton', 'ICU code'],
    ['uv_run', 'libuv'],
    ['nghttp2_session_send', 'nghttp2'],
    ['llhttp_execute', 'llhttp'],
    ['std::__cxx11::basic_string<char>::reserve(unsigned long)', 'C++ standard library'],
    ['main', 'other'],
    [undefined, 'no symbol'],
  ];
  for (const [name, group] of cases) t.equal(classify(name), group, String(name));
});

t.test("readSections reads this Node.js executable's section headers", async (t) => {
  const exe = realpathSync(process.execPath);
  const secs = readSections(exe);
  const text = secs.find((s) => s.name === '.text');
  const rodata = secs.find((s) => s.name === '.rodata');
  t.ok(text && text.size > 1_000_000, '.text is megabytes');
  t.ok(rodata && rodata.size > 1_000_000, '.rodata is megabytes');
  // Checked against readelf's own reading, when it is there (binutils, which nm needs too).
  const re = execFileSync('readelf', ['-SW', exe], { encoding: 'utf8' });
  const m = /\]\s+\.text\s+PROGBITS\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(re);
  t.ok(m, 'readelf lists .text');
  t.same([text!.addr, text!.offset, text!.size], [parseInt(m![1]!, 16), parseInt(m![2]!, 16), parseInt(m![3]!, 16)]);
  t.throws(() => readSections('/proc/self/status'), /not a 64-bit little-endian ELF file/);
});

t.test("filePages accounts for this very process's resident executable pages", async (t) => {
  let asked = 0;
  const r: FilePages = filePages(process.pid, (exe) => {
    asked++;
    return parseNm(execFileSync('nm', ['-S', '-C', '--defined-only', exe], { maxBuffer: 1 << 30, encoding: 'utf8' }));
  });
  t.equal(asked, 1, 'symbols read once');
  const total = [...r.byGroup.values()].reduce((a, b) => a + b, 0);
  t.equal(
    [...r.bySection.values()].reduce((a, b) => a + b, 0),
    total,
    'every page counted once by section and once by group',
  );
  t.ok(total > 10 * 1024, `more than 10 MB of the executable is resident in a running Node.js (${(total / 1024).toFixed(1)} MB)`);
  t.ok((r.bySection.get('.text') ?? 0) > 1024, '.text pages are resident');
  t.ok((r.byGroup.get('V8 builtins') ?? 0) > 0, "V8's embedded builtins are resident (they run every JavaScript call)");
  t.ok((r.byGroup.get('V8 other') ?? 0) > 1024, "V8's own code is resident");
  const status = readFileSync('/proc/self/status', 'utf8');
  const fileKb = Number(/^RssFile:\s+(\d+)/m.exec(status)![1]);
  // RssFile counts the same pages the kernel's way; they were read moments apart.
  t.ok(
    total + r.otherFilesKb <= fileKb * 1.2 + 2048 && total + r.otherFilesKb >= fileKb * 0.8 - 2048,
    `executable ${total} KB + other files ${r.otherFilesKb} KB ≈ RssFile ${fileKb} KB`,
  );
  const table = formatTable([r], ['self']);
  t.match(table, /^\| MB \| self \|$/m);
  t.match(table, /^\| in V8 builtins \| \d+\.\d \|$/m);
});
