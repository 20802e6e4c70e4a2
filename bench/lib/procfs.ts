import { readdirSync, readFileSync } from 'node:fs';

/**
 * What the kernel says about cores and processes: /proc/stat, /proc/<pid>/stat and /status.
 * The parsers are pure (tested); the readers are thin.
 */

/** Cumulative ticks of one core (USER_HZ, 100 per second on Linux). */
export interface CoreTicks {
  /** user + nice + system + irq + softirq */
  readonly busy: number;
  /** user + nice + system: time spent running tasks, comparable to processes' utime + stime. */
  readonly task: number;
  /** idle + iowait */
  readonly idle: number;
  /** Time the hypervisor gave to someone else while this VM wanted the core. */
  readonly steal: number;
  readonly total: number;
}

export function parseProcStat(text: string): Map<string, CoreTicks> {
  const out = new Map<string, CoreTicks>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const [name, ...rest] = line.trim().split(/\s+/);
    const v = rest.map(Number);
    const f = (i: number): number => v[i] ?? 0;
    const busy = f(0) + f(1) + f(2) + f(5) + f(6);
    const idle = f(3) + f(4);
    const steal = f(7);
    out.set(name!, { busy, task: f(0) + f(1) + f(2), idle, steal, total: busy + idle + steal });
  }
  return out;
}

/** Per-core utilisation between two readings, in percent of the elapsed core time. */
export interface CoreUse {
  readonly busyPct: number;
  readonly stealPct: number;
  /** Elapsed ticks of this core. */
  readonly ticks: number;
  /** Ticks spent running tasks (user + nice + system). */
  readonly taskTicks: number;
}

export function coreUse(a: CoreTicks, b: CoreTicks): CoreUse {
  const ticks = b.total - a.total;
  if (ticks <= 0) return { busyPct: 0, stealPct: 0, ticks: 0, taskTicks: 0 };
  return { busyPct: ((b.busy - a.busy) / ticks) * 100, stealPct: ((b.steal - a.steal) / ticks) * 100, ticks, taskTicks: b.task - a.task };
}

/** Task time on a core not explained by `ownTicks` (our processes pinned there), in percent. */
export function foreignPct(u: CoreUse, ownTicks: number): number {
  return u.ticks <= 0 ? 0 : Math.max(0, ((u.taskTicks - ownTicks) / u.ticks) * 100);
}

export interface PidStat {
  readonly comm: string;
  readonly ticks: number;
  readonly processor: number;
}

/** utime + stime of a process (all its threads), from /proc/<pid>/stat; comm may contain spaces. */
export function parsePidStat(text: string): PidStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`malformed /proc/<pid>/stat: ${text.slice(0, 80)}`);
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // Fields after comm start at field 3 (state): utime is field 14, stime 15, processor 39.
  const at = (field: number): number => Number(f[field - 3]);
  return { comm: text.slice(open + 1, close), ticks: at(14) + at(15), processor: at(39) };
}

/**
 * VmRSS counts the pages of the executable and libraries a process touched: shared with every
 * other process running the same binary (Node's is ~90 MB, ~40 MB of it touched by a busy proxy),
 * kept in the page cache. RssAnon is the process's own memory: what each extra pod costs.
 */
export interface PidMemory {
  readonly rssKb: number;
  readonly hwmKb: number;
  readonly anonKb: number;
}

export function parsePidStatus(text: string): PidMemory {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), anonKb: kb('RssAnon') };
}

export function readCores(): Map<string, CoreTicks> {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'));
}

export function readPidStat(pid: number): PidStat | undefined {
  try {
    return parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export function readPidMemory(pid: number): PidMemory | undefined {
  try {
    return parsePidStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [a ?? 0, b ?? 0, c ?? 0];
}

/** CPU ticks of every process on the machine, to name who else was busy during a noisy run. */
export function snapshotProcesses(): Map<number, PidStat> {
  const out = new Map<number, PidStat>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = readPidStat(pid);
    if (s) out.set(pid, s);
  }
  return out;
}

export interface Consumer {
  readonly pid: number;
  readonly comm: string;
  readonly cpuPct: number;
}

/** The busiest processes between two snapshots, excluding `ours`, in percent of one core. */
export function topConsumers(
  a: Map<number, PidStat>,
  b: Map<number, PidStat>,
  seconds: number,
  ours: ReadonlySet<number>,
  n = 3,
): Consumer[] {
  const out: Consumer[] = [];
  for (const [pid, s] of b) {
    if (ours.has(pid)) continue;
    // A process born during the interval counts with all its ticks; one that was born and died
    // inside it is invisible here (its CPU still shows in the per-core foreign figure).
    const d = s.ticks - (a.get(pid)?.ticks ?? 0);
    if (d > 0) out.push({ pid, comm: s.comm, cpuPct: (d / 100 / seconds) * 100 });
  }
  return out.sort((x, y) => y.cpuPct - x.cpuPct).slice(0, n);
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly kernel: string;
  readonly memTotalMb: number;
}

export function describeMachine(): MachineInfo {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const mem = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return { cpuModel: model, cores, kernel, memTotalMb: mem ? Math.round(Number(mem[1]) / 1024) : 0 };
}

/**
 * How one thread was scheduled, cumulative: /proc/<pid>/task/<tid>/schedstat gives time on a CPU,
 * time runnable but waiting for one (run-queue wait, which includes the time from a wake-up to
 * running), and the number of times it got a CPU. /proc/<pid>/task/<tid>/status gives the
 * voluntary switches (it blocked: each is a sleep in epoll_wait and a wake-up later) and
 * involuntary ones (it was preempted).
 */
export interface ThreadSched {
  readonly tid: number;
  readonly cpuNs: number;
  readonly waitNs: number;
  readonly slices: number;
  readonly voluntary: number;
  readonly involuntary: number;
}

export function parseSchedstat(text: string): { cpuNs: number; waitNs: number; slices: number } {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < 3 || f.some((n) => !Number.isFinite(n))) throw new Error(`malformed schedstat: ${text.slice(0, 80)}`);
  return { cpuNs: f[0]!, waitNs: f[1]!, slices: f[2]! };
}

export function parseCtxtSwitches(status: string): { voluntary: number; involuntary: number } {
  const n = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { voluntary: n('voluntary_ctxt_switches'), involuntary: n('nonvoluntary_ctxt_switches') };
}

/** Every thread of `pid`, the main thread (tid = pid) first; empty when the process is gone. */
export function readThreads(pid: number): ThreadSched[] {
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
  } catch {
    return [];
  }
  const out: ThreadSched[] = [];
  for (const tid of tids) {
    try {
      const dir = `/proc/${pid}/task/${tid}`;
      const s = parseSchedstat(readFileSync(`${dir}/schedstat`, 'utf8'));
      const c = parseCtxtSwitches(readFileSync(`${dir}/status`, 'utf8'));
      out.push({ tid, ...s, ...c });
    } catch {
      /* the thread ended between readdir and read */
    }
  }
  return out;
}

/** What the proxy's threads did between two readings (threads that started in between count from 0). */
export interface SchedUse {
  /** The main thread (the event loop). */
  readonly main: Omit<ThreadSched, 'tid'>;
  /** CPU of every other thread (V8's GC and compiler helpers, libuv's pool), summed. */
  readonly othersCpuNs: number;
  readonly threads: number;
}

export function schedDelta(pid: number, a: readonly ThreadSched[], b: readonly ThreadSched[]): SchedUse | undefined {
  const before = new Map(a.map((t) => [t.tid, t]));
  const main0 = before.get(pid);
  const main1 = b.find((t) => t.tid === pid);
  if (main0 === undefined || main1 === undefined) return undefined;
  const d = (k: 'cpuNs' | 'waitNs' | 'slices' | 'voluntary' | 'involuntary'): number => main1[k] - main0[k];
  let othersCpuNs = 0;
  for (const t of b) if (t.tid !== pid) othersCpuNs += t.cpuNs - (before.get(t.tid)?.cpuNs ?? 0);
  return {
    main: { cpuNs: d('cpuNs'), waitNs: d('waitNs'), slices: d('slices'), voluntary: d('voluntary'), involuntary: d('involuntary') },
    othersCpuNs,
    threads: b.length,
  };
}

/**
 * /proc/<pid>/smaps_rollup: what a process costs once its shared pages are accounted for. RSS
 * counts every resident page it maps; PSS divides each page by the number of processes mapping it
 * (N sidecars of one executable share its file pages N ways); USS is what only it maps
 * (Private_Clean + Private_Dirty + Private_Hugetlb): what ending it would give back.
 */
export interface SmapsRollup {
  readonly rssKb: number;
  readonly pssKb: number;
  readonly ussKb: number;
  readonly pssAnonKb: number;
  readonly pssFileKb: number;
}

export function parseSmapsRollup(text: string): SmapsRollup {
  const kb = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const rssKb = kb('Rss');
  const pssKb = kb('Pss');
  if (rssKb === undefined || pssKb === undefined) throw new Error(`not /proc/<pid>/smaps_rollup: ${text.slice(0, 80)}`);
  return {
    rssKb,
    pssKb,
    ussKb: (kb('Private_Clean') ?? 0) + (kb('Private_Dirty') ?? 0) + (kb('Private_Hugetlb') ?? 0),
    pssAnonKb: kb('Pss_Anon') ?? 0,
    pssFileKb: kb('Pss_File') ?? 0,
  };
}

export function readSmapsRollup(pid: number): SmapsRollup | undefined {
  try {
    return parseSmapsRollup(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  } catch {
    return undefined;
  }
}
