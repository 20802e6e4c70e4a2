import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Jazzer.js 4.0.0's prebuilt libFuzzer addon (`@jazzer.js/fuzzer`, linked on a newer distribution)
 * asks for two symbol versions Debian 12 does not have: GLIBC_2.38 (the C23 names
 * `__isoc23_strtol` / `__isoc23_strtoul`, which libFuzzer uses to read its `-flag=N` options) and
 * GLIBCXX_3.4.32 (`std::ios_base_library_init`, GCC 13's iostream start-up hook). Everything else it
 * needs, Debian 12 has. Rather than build our own libFuzzer, we load the published binary unchanged
 * except for one bit: those two version requirements are marked weak (VER_FLG_WEAK, so the loader
 * does not refuse the library for them), and a ten-line shim preloaded into the fuzzing process
 * defines the three symbols on top of glibc 2.36's `strtol`/`strtoul` and libstdc++'s
 * `ios_base::Init`. Where the addon loads as shipped (glibc ≥ 2.38), nothing is touched.
 */

const WEAKENED = ['GLIBC_2.38', 'GLIBCXX_3.4.32'];
const VER_FLG_WEAK = 0x2;
const SHT_GNU_VERNEED = 0x6ffffffe;

const SHIM = `// Built by sidegate's test/fuzz/compat.ts for Jazzer.js's prebuilt addon on glibc < 2.38.
#include <cstdlib>
#include <ios>
// C23 strtol/strtoul also read a 0b prefix with base 0 or 2; libFuzzer's flags are decimal.
extern "C" long __isoc23_strtol(const char *s, char **e, int b) { return std::strtol(s, e, b); }
extern "C" unsigned long __isoc23_strtoul(const char *s, char **e, int b) { return std::strtoul(s, e, b); }
namespace std { void ios_base_library_init() { static ios_base::Init init; } }
`;

export function addonPath(): string {
  const require = createRequire(import.meta.url);
  const core = dirname(require.resolve('@jazzer.js/core/package.json'));
  const fuzzer = dirname(createRequire(join(core, 'package.json')).resolve('@jazzer.js/fuzzer/package.json'));
  return join(fuzzer, 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
}

function tryLoad(addon: string, env: NodeJS.ProcessEnv): string | undefined {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addon)})`], { env, encoding: 'utf8' });
  return r.status === 0 ? undefined : (r.stderr.match(/Error: .*/)?.[0] ?? r.stderr.slice(-500));
}

/**
 * Set VER_FLG_WEAK on the named version requirements of an ELF64 little-endian shared object
 * (`write` false: only look). Returns how many of them are weak now.
 */
export function weakenVersions(file: string, names: readonly string[], write = true): number {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) throw new Error(`${file}: not a 64-bit little-endian ELF file`);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const section = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      type: b.readUInt32LE(o + 4),
      offset: Number(b.readBigUInt64LE(o + 0x18)),
      link: b.readUInt32LE(o + 0x28),
      info: b.readUInt32LE(o + 0x2c),
    };
  };
  let changed = 0;
  let weak = 0;
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_GNU_VERNEED) continue;
    const strtab = section(s.link).offset;
    let need = s.offset;
    for (let n = 0; n < s.info; n++) {
      const cnt = b.readUInt16LE(need + 2);
      let aux = need + b.readUInt32LE(need + 8);
      for (let k = 0; k < cnt; k++) {
        const nameAt = strtab + b.readUInt32LE(aux + 8);
        const name = b.toString('latin1', nameAt, b.indexOf(0, nameAt));
        const flags = b.readUInt16LE(aux + 4);
        if (names.includes(name)) {
          weak++;
          if ((flags & VER_FLG_WEAK) === 0) {
            b.writeUInt16LE(flags | VER_FLG_WEAK, aux + 4);
            changed++;
          }
        }
        const next = b.readUInt32LE(aux + 12);
        if (next === 0) break;
        aux += next;
      }
      const next = b.readUInt32LE(need + 12);
      if (next === 0) break;
      need += next;
    }
  }
  if (changed > 0 && !write) return weak - changed;
  if (changed > 0) {
    const tmp = `${file}.tmp.${process.pid}`;
    writeFileSync(tmp, b, { mode: 0o755 });
    renameSync(tmp, file);
  }
  return weak;
}

function buildShim(): string {
  const hash = createHash('sha256').update(SHIM).digest('hex').slice(0, 12);
  const dir = join(process.env.SIDEGATE_TOOLS_CACHE ?? join(homedir(), '.cache', 'sidegate-tools'), `jazzer-glibc-shim-${hash}`);
  const so = join(dir, 'shim.so');
  if (existsSync(so)) return so;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'shim.cc'), SHIM);
  const r = spawnSync('g++', ['-shared', '-fPIC', '-O2', '-o', `${so}.tmp`, join(dir, 'shim.cc')], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0)
    throw new Error(`fuzz: compiling the glibc shim needs g++ (apt-get install g++): ${r.error?.message ?? r.stderr}`);
  renameSync(`${so}.tmp`, so);
  return so;
}

/**
 * The environment under which Jazzer.js's addon loads on this machine: {} where it loads as
 * shipped, else LD_PRELOAD of the shim (after weakening the two version requirements once).
 * Throws, saying what is missing, when neither works.
 */
export function jazzerEnv(): NodeJS.ProcessEnv {
  const addon = addonPath();
  const plain = tryLoad(addon, process.env);
  // Loads as shipped: nothing to do, unless a run before us made the requirements weak (the
  // symbols behind them are then still missing, and only the shim provides them).
  if (plain === undefined && weakenVersions(addon, WEAKENED, false) === 0) return {};
  if (plain !== undefined) {
    if (!/version `(GLIBC_2\.38|GLIBCXX_3\.4\.32)' not found/.test(plain))
      throw new Error(`fuzz: Jazzer.js's addon does not load: ${plain}`);
    weakenVersions(addon, WEAKENED);
    process.stderr.write(
      `fuzz: marked ${WEAKENED.join(' and ')} weak in ${addon} (glibc/libstdc++ here are older; see test/fuzz/compat.ts)\n`,
    );
  }
  const env = { LD_PRELOAD: buildShim() };
  const shimmed = tryLoad(addon, { ...process.env, ...env });
  if (shimmed !== undefined) throw new Error(`fuzz: Jazzer.js's addon does not load even with the shim: ${shimmed}`);
  return env;
}
