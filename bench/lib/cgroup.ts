import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One memory cgroup per measured process (bench/density.ts): what a pod's memory limit is checked
 * against. cgroup v2 with the memory controller: `memory.current`. Otherwise cgroup v1's memory
 * controller: `memory.usage_in_bytes`, its v1 equivalent (rss + cache + kernel memory charged to
 * the group). The groups are children of the harness's own cgroup (root creates them), removed at
 * the end. The parsers are pure (test/bench/density.test.ts); the rest is thin.
 */

export type CgroupMode = 'v2' | 'v1';

export interface CgroupLayout {
  readonly mode: CgroupMode;
  /** The directory new groups are made under (the harness's own group). */
  readonly base: string;
}

/** Mount points of cgroup2 and of the v1 hierarchy holding the memory controller, from /proc/self/mountinfo. */
export function parseCgroupMounts(mountinfo: string): { v2?: string; v1Memory?: string } {
  const out: { v2?: string; v1Memory?: string } = {};
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const mountPoint = line.slice(0, dash).split(' ')[4];
    const [fstype, , superOpts] = line.slice(dash + 3).split(' ');
    if (mountPoint === undefined) continue;
    if (fstype === 'cgroup2') out.v2 ??= mountPoint;
    if (fstype === 'cgroup' && (superOpts ?? '').split(',').includes('memory')) out.v1Memory ??= mountPoint;
  }
  return out;
}

/** The process's group per hierarchy: `v2` from the `0::/path` line, `v1Memory` from `N:...memory...:/path`. */
export function parseProcCgroup(text: string): { v2?: string; v1Memory?: string } {
  const out: { v2?: string; v1Memory?: string } = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') out.v2 = m[3];
    else if (m[2]!.split(',').includes('memory')) out.v1Memory = m[3];
  }
  return out;
}

/**
 * Where memory groups can be made, or why not. v2 needs memory in the subtree_control of the
 * harness's group or of the root (untested: this machine has no v2 memory controller); on a hybrid
 * machine (v1 memory controller, v2 with none) v1 is used.
 */
export function detectCgroups(): CgroupLayout | { unavailable: string } {
  if (process.getuid?.() !== 0) return { unavailable: 'not root: cannot create cgroups' };
  let mounts: ReturnType<typeof parseCgroupMounts>;
  let self: ReturnType<typeof parseProcCgroup>;
  try {
    mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    self = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  } catch (e) {
    return { unavailable: `cannot read /proc/self: ${(e as Error).message}` };
  }
  if (mounts.v2 !== undefined && self.v2 !== undefined) {
    // v2's "no internal processes" rule: a group holding processes (the harness's own) cannot give
    // its children a controller, the root excepted. So the groups go under a group whose
    // subtree_control already has memory: the harness's own if so, else the hierarchy's root.
    const own = join(mounts.v2, self.v2);
    for (const dir of [own, mounts.v2]) {
      if (readOr(join(dir, 'cgroup.subtree_control'), '').split(/\s+/).includes('memory')) return { mode: 'v2', base: dir };
    }
  }
  if (mounts.v1Memory !== undefined && self.v1Memory !== undefined) {
    const dir = join(mounts.v1Memory, self.v1Memory);
    if (existsSync(join(dir, 'memory.usage_in_bytes'))) return { mode: 'v1', base: dir };
  }
  return {
    unavailable:
      "no memory controller: neither cgroup v2 with memory in the subtree_control of this process's group or of the root, nor a v1 memory hierarchy",
  };
}

function readOr(file: string, dflt: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return dflt;
  }
}

/** A group of the bench's own, with its processes' memory as the kernel charges it. */
export interface MemoryCgroup {
  readonly mode: CgroupMode;
  readonly dir: string;
  /** Where a process's pid is written to move it in (procs.ts spawnPinned's cgroupProcs). */
  readonly procs: string;
}

export interface CgroupMemory {
  /** v2 memory.current, v1 memory.usage_in_bytes. */
  readonly currentBytes: number;
  /** v2 memory.peak (kernel ≥ 5.19), v1 memory.max_usage_in_bytes: the high-water mark. */
  readonly peakBytes?: number;
  /** Anonymous memory charged (v2 memory.stat anon, v1 rss). */
  readonly anonBytes: number;
  /** Page cache charged (v2 file, v1 cache): file pages this group touched first. */
  readonly fileBytes: number;
  /** Kernel memory (v2 kernel; v1: current − rss − cache, which includes the per-CPU charge batching). */
  readonly kernelBytes: number;
}

/** memory.stat's `key value` lines. Pure. */
export function parseMemoryStat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+) (\d+)$/.exec(line.trim());
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** The figures of one group from its files' contents. Pure. */
export function cgroupMemory(mode: CgroupMode, current: string, peak: string | undefined, stat: string): CgroupMemory {
  const s = parseMemoryStat(stat);
  const currentBytes = Number(current.trim());
  const peakBytes = peak === undefined || peak.trim() === '' ? undefined : Number(peak.trim());
  if (mode === 'v2') {
    return { currentBytes, peakBytes, anonBytes: s.get('anon') ?? 0, fileBytes: s.get('file') ?? 0, kernelBytes: s.get('kernel') ?? 0 };
  }
  const anonBytes = s.get('rss') ?? 0;
  const fileBytes = s.get('cache') ?? 0;
  return { currentBytes, peakBytes, anonBytes, fileBytes, kernelBytes: Math.max(0, currentBytes - anonBytes - fileBytes) };
}

export function createCgroup(layout: CgroupLayout, name: string): MemoryCgroup {
  const dir = join(layout.base, name);
  mkdirSync(dir, { recursive: true });
  return { mode: layout.mode, dir, procs: join(dir, 'cgroup.procs') };
}

/**
 * The bench's own group under the layout's base, every measured group inside it. On v2 its
 * subtree_control gets memory so that its children have the controller (it holds no process).
 */
export function createParent(layout: CgroupLayout, name: string): CgroupLayout {
  const dir = join(layout.base, name);
  mkdirSync(dir, { recursive: true });
  if (layout.mode === 'v2') writeFileSync(join(dir, 'cgroup.subtree_control'), '+memory');
  return { mode: layout.mode, base: dir };
}

export function readCgroupMemory(cg: MemoryCgroup): CgroupMemory | undefined {
  try {
    const v2 = cg.mode === 'v2';
    const current = readFileSync(join(cg.dir, v2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8');
    const peakFile = join(cg.dir, v2 ? 'memory.peak' : 'memory.max_usage_in_bytes');
    const peak = existsSync(peakFile) ? readFileSync(peakFile, 'utf8') : undefined;
    return cgroupMemory(cg.mode, current, peak, readFileSync(join(cg.dir, 'memory.stat'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Whether `pid` is in `cg` (its /proc/<pid>/cgroup line of the memory hierarchy ends with the group's path). */
export function inCgroup(pid: number, cg: MemoryCgroup): boolean {
  const own = parseProcCgroup(readOr(`/proc/${pid}/cgroup`, ''));
  const path = cg.mode === 'v2' ? own.v2 : own.v1Memory;
  return path !== undefined && path !== '/' && cg.dir.endsWith(path);
}

/** rmdir, retried while the last process's exit is still being accounted. */
export async function removeCgroup(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
