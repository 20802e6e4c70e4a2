/**
 * What the file-backed part of a process's RSS holds: which pages of the Node.js executable are
 * mapped into it, by section and by what the symbols there are (V8's compilers, its builtins,
 * OpenSSL, ICU's data, ...). Issue 9's RSS rows count these pages, and most of a sidecar's RSS is
 * them (docs/benchmarks.md, "Memory: what RSS is made of").
 *
 *   node dist/bench/memory/file-pages.js <pid> [<pid> ...]
 *
 * One column per process. Reads /proc/<pid>/maps and /proc/<pid>/pagemap (root, or the process's
 * owner with CAP_SYS_ADMIN, sees which pages are present), the executable's section headers, and
 * its symbol table through `nm` (binutils). A page counts once, under the symbol it starts in (or
 * the first symbol inside it); "no symbol" is section data no symbol covers (string tables,
 * relocations, padding).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';

const PAGE = 4096;

export interface Mapping {
  readonly start: number;
  readonly end: number;
  readonly perms: string;
  readonly offset: number;
  readonly path: string;
}

/** /proc/<pid>/maps, file-backed or not. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \d+\s*(.*)$/.exec(line);
    if (m === null) continue;
    out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, offset: parseInt(m[4]!, 16), path: m[5]!.trim() });
  }
  return out;
}

/** Addresses of the pages of [start, end) that are present in memory, from /proc/<pid>/pagemap. */
export function presentPages(pagemapFd: number, start: number, end: number): number[] {
  const n = (end - start) / PAGE;
  const buf = Buffer.alloc(n * 8);
  readSync(pagemapFd, buf, 0, buf.length, (start / PAGE) * 8);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if ((buf[i * 8 + 7]! & 0x80) !== 0) out.push(start + i * PAGE); // bit 63: present
  return out;
}

export interface Section {
  readonly name: string;
  readonly addr: number;
  readonly offset: number;
  readonly size: number;
}

/** An ELF64 little-endian file's section headers (name, address, file offset, size). */
export function readSections(file: string): Section[] {
  const fd = openSync(file, 'r');
  try {
    const read = (pos: number, len: number): Buffer => {
      const b = Buffer.alloc(len);
      readSync(fd, b, 0, len, pos);
      return b;
    };
    const eh = read(0, 64);
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
    const shoff = Number(eh.readBigUInt64LE(0x28));
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    const shstrndx = eh.readUInt16LE(0x3e);
    const sh = read(shoff, shentsize * shnum);
    const at = (i: number): { name: number; addr: number; offset: number; size: number } => {
      const o = i * shentsize;
      return {
        name: sh.readUInt32LE(o),
        addr: Number(sh.readBigUInt64LE(o + 16)),
        offset: Number(sh.readBigUInt64LE(o + 24)),
        size: Number(sh.readBigUInt64LE(o + 32)),
      };
    };
    const strtab = at(shstrndx);
    const names = read(strtab.offset, strtab.size);
    const out: Section[] = [];
    for (let i = 1; i < shnum; i++) {
      const s = at(i);
      const end = names.indexOf(0, s.name);
      out.push({ name: names.toString('latin1', s.name, end), addr: s.addr, offset: s.offset, size: s.size });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

export interface Symbols {
  readonly addr: Float64Array;
  readonly size: Float64Array;
  readonly name: string[];
}

/** `nm -S -C --defined-only` output: sized symbols, sorted by address. */
export function parseNm(text: string): Symbols {
  const rows: [number, number, string][] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) \S (.*)$/.exec(line);
    if (m === null) continue;
    const size = parseInt(m[2]!, 16);
    if (size > 0) rows.push([parseInt(m[1]!, 16), size, m[3]!]);
  }
  rows.sort((a, b) => a[0] - b[0]);
  return { addr: Float64Array.from(rows, (r) => r[0]), size: Float64Array.from(rows, (r) => r[1]), name: rows.map((r) => r[2]) };
}

/** The symbol covering `addr`, or else the first one starting inside [addr, addr + len). */
export function symbolAt(s: Symbols, addr: number, len: number): string | undefined {
  let lo = 0;
  let hi = s.addr.length - 1;
  let i = -1;
  while (lo <= hi) {
    // last symbol starting at or before addr
    const mid = (lo + hi) >> 1;
    if (s.addr[mid]! <= addr) {
      i = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (i >= 0 && addr < s.addr[i]! + s.size[i]!) return s.name[i];
  const next = i + 1;
  return next < s.addr.length && s.addr[next]! < addr + len ? s.name[next] : undefined;
}

const OPENSSL =
  /^(?:OPENSSL|OSSL|ossl|EVP|evp|SSL|ssl|tls|BN|bn|RSA|rsa|EC|ec|X509|x509|ASN1|asn1|CRYPTO|ERR|OBJ|PEM|BIO|DH|dh|DSA|dsa|CONF|conf|PKCS|i2d|d2i|v2i|i2v|i2r|a2i|AES|aesni|sha|SHA|MD5|HMAC|cmac|gcm|x25519|ChaCha|poly1305|ecp|PROV|KDF)_/;
const ICU_CODE =
  /^(?:icu_\d+::|u(?:case|props|bidi|norm2?|trie2?|col|res|data|loc|cnv|hash|str|text|set|regex|mtx|cptrie|enum|list|script|iter|block|char|cln|pvec|init|curr|dat|num|prv|_))/;

/** What a symbol of the Node.js executable belongs to, coarsely, by its (demangled) name. */
export function classify(name: string | undefined): string {
  if (name === undefined) return 'no symbol';
  if (name.startsWith('icudt')) return 'ICU data';
  if (name.startsWith('Builtins_')) return 'V8 builtins';
  const v8 =
    /^(?:(?:non-virtual |virtual )?thunk to |vtable for |typeinfo for |guard variable for )?(?:\S+ )?v8::internal::(?:([a-z_]+)::)?/.exec(
      name,
    );
  if (v8 !== null) {
    const ns = v8[1];
    if (ns === 'compiler') return 'V8 TurboFan';
    if (ns === 'maglev') return 'V8 Maglev';
    if (ns === 'wasm') return 'V8 WebAssembly';
    if (ns === 'interpreter') return 'V8 interpreter';
    if (ns === 'baseline') return 'V8 Sparkplug';
    return 'V8 other';
  }
  if (/^(?:\S+ )?(?:v8::|cppgc::|v8_inspector::)/.test(name)) return name.includes('v8_inspector::') ? 'V8 inspector' : 'V8 other';
  if (/^(?:\S+ )?node::/.test(name)) return 'Node.js';
  if (OPENSSL.test(name)) return 'OpenSSL';
  if (ICU_CODE.test(name)) return 'ICU code';
  if (/^uv_/.test(name)) return 'libuv';
  if (/^nghttp2_/.test(name)) return 'nghttp2';
  if (/^ll(?:http|parse)_/.test(name)) return 'llhttp';
  if (/^(?:inflate|deflate|crc32|adler32|Cr_z_|_tr_|zcalloc|zcfree|Brotli|brotli)/.test(name)) return 'zlib, brotli';
  if (/^ares_/.test(name)) return 'c-ares';
  if (/simdutf|^(?:\S+ )?ada::/.test(name)) return 'simdutf, ada';
  if (/^(?:\S+ )?std::/.test(name)) return 'C++ standard library';
  return 'other';
}

export interface FilePages {
  readonly pid: number;
  readonly exe: string;
  /** KiB of the executable's pages present, by section (a remapped copy of a section counts under it). */
  readonly bySection: Map<string, number>;
  /** KiB by what the symbols there belong to. */
  readonly byGroup: Map<string, number>;
  /** KiB of other files' pages (shared libraries, ...). */
  readonly otherFilesKb: number;
  /** From /proc/<pid>/status. */
  readonly rssKb: number;
  readonly anonKb: number;
}

const add = (m: Map<string, number>, k: string, v: number): void => {
  m.set(k, (m.get(k) ?? 0) + v);
};

export function filePages(pid: number, symbolsOf: (exe: string) => Symbols): FilePages {
  const exe = realpathSync(`/proc/${pid}/exe`);
  const sections = readSections(exe)
    .filter((s) => s.offset > 0 && s.size > 0)
    .sort((a, b) => a.offset - b.offset);
  const syms = symbolsOf(exe);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const bySection = new Map<string, number>();
  const byGroup = new Map<string, number>();
  let otherFilesKb = 0;
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    for (const m of parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'))) {
      if (!m.path.startsWith('/')) continue; // anonymous memory, [heap], [stack], [vdso]
      let real: string;
      try {
        real = realpathSync(m.path);
      } catch {
        real = m.path;
      }
      const pages = presentPages(fd, m.start, m.end);
      if (real !== exe) {
        otherFilesKb += pages.length * (PAGE / 1024);
        continue;
      }
      for (const va of pages) {
        // Through the file offset, so that a copy of a section mapped elsewhere (V8 remaps its
        // embedded builtins next to its code) is classified like the original.
        const off = m.offset + (va - m.start);
        const sec = sections.findLast((s) => s.offset <= off && off < s.offset + s.size);
        add(bySection, sec?.name ?? '(headers, padding)', PAGE / 1024);
        const group = sec === undefined ? 'no symbol' : classify(symbolAt(syms, sec.addr + (off - sec.offset), PAGE));
        add(byGroup, group, PAGE / 1024);
      }
    }
  } finally {
    closeSync(fd);
  }
  return { pid, exe, bySection, byGroup, otherFilesKb, rssKb: field('VmRSS'), anonKb: field('RssAnon') };
}

function nmSymbols(exe: string): Symbols {
  let text: string;
  try {
    text = execFileSync('nm', ['-S', '-C', '--defined-only', exe], { maxBuffer: 1 << 30, encoding: 'utf8' });
  } catch (err) {
    throw new Error(`nm failed on ${exe} (install binutils: apt-get install -y binutils): ${(err as Error).message}`, { cause: err });
  }
  return parseNm(text);
}

/** The table: one row per section, then per group, one column per process, MB. */
export function formatTable(results: readonly FilePages[], labels: readonly string[]): string {
  const mb = (kb: number | undefined): string => ((kb ?? 0) / 1024).toFixed(1);
  const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const keys = (f: (r: FilePages) => Map<string, number>): string[] => {
    const tot = new Map<string, number>();
    for (const r of results) for (const [k, v] of f(r)) add(tot, k, v);
    return [...tot].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  };
  const row = (name: string, cells: string[]): string => `| ${name} | ${cells.join(' | ')} |`;
  const lines = [
    row('MB', [...labels]),
    row(
      '---',
      labels.map(() => '---:'),
    ),
  ];
  lines.push(
    row(
      'VmRSS',
      results.map((r) => mb(r.rssKb)),
    ),
  );
  lines.push(
    row(
      'private (RssAnon)',
      results.map((r) => mb(r.anonKb)),
    ),
  );
  lines.push(
    row(
      'other files (shared libraries)',
      results.map((r) => mb(r.otherFilesKb)),
    ),
  );
  lines.push(
    row(
      '**the executable**',
      results.map((r) => `**${mb(sum(r.byGroup))}**`),
    ),
  );
  for (const k of keys((r) => r.bySection))
    lines.push(
      row(
        `section ${k}`,
        results.map((r) => mb(r.bySection.get(k))),
      ),
    );
  for (const k of keys((r) => r.byGroup))
    lines.push(
      row(
        `in ${k}`,
        results.map((r) => mb(r.byGroup.get(k))),
      ),
    );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const pids = process.argv.slice(2).map(Number);
  if (pids.length === 0 || pids.some((p) => !Number.isInteger(p) || p <= 0)) {
    console.error('usage: node dist/bench/memory/file-pages.js <pid> [<pid> ...]');
    process.exit(2);
  }
  const cache = new Map<string, Symbols>();
  const symbolsOf = (exe: string): Symbols => {
    let s = cache.get(exe);
    if (s === undefined) {
      s = nmSymbols(exe);
      cache.set(exe, s);
    }
    return s;
  };
  const results = pids.map((p) => filePages(p, symbolsOf));
  const labels = results.map((r) => {
    const cmd = readFileSync(`/proc/${r.pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((a) => a !== '' && !a.startsWith('--'));
    return `${r.pid} ${cmd
      .slice(1, 3)
      .map((a) => a.split('/').pop())
      .join(' ')}`.slice(0, 40);
  });
  console.log(formatTable(results, labels));
}
