/**
 * What a request allocates, and where: one of the bench's sidegate rows (default `sidegate-full`)
 * under closed-loop load, V8's sampling heap profiler on through the inspector, counting objects
 * the young- and old-generation collections freed too (by default the profile keeps only what is
 * still alive). Bytes per request = the profile's estimate of all bytes allocated while sampling,
 * divided by the requests sidegate counted in that time (/metrics). Frames of the bundle are mapped
 * back to the TypeScript through its source maps.
 *
 *   node dist/bench/memory/alloc-profile.js [--protocol=h1|h2c] [--seconds=6] [--target=sidegate-full|trace-R]
 *     [--root=<built checkout>] [--depth=1] [--top=30] [--out=<file>.heapprofile] [--cpu]
 *
 * `--cpu`: V8's sampling CPU profiler instead (100 µs interval): main-thread self time per place,
 * in µs per request. Tracing rows send their spans to a real Jaeger, as in the bench.
 *
 * Runs on the bench's machine layout: the proxy on core 0, nginx (the app), Redis and the load
 * generator (wrk for HTTP/1.1, h2load for h2c) on core 1. The profiler costs time, so requests per
 * second here are not capacity figures; bytes per request do not depend on it.
 * docs/benchmarks.md, "Allocation per request", has the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJaeger } from '../../test/helpers/jaeger.js';
import { APP_PATH, startApp } from '../lib/app.js';
import { freePort } from '../lib/procs.js';
import { startRedis } from '../lib/redis.js';
import { generateKeys, mint } from '../lib/tokens.js';
import { LOAD_CORE, TARGETS, traceRow, type BenchEnv } from '../targets.js';

/** A node of a CDP `HeapProfiler.SamplingHeapProfile`. */
export interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber: number };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

/**
 * Bytes allocated by each place (`depth` frames, innermost first, joined by " < "), and in all.
 * `name` turns a frame into its label. Pure.
 */
export function aggregate(
  head: ProfileNode,
  depth: number,
  name: (f: ProfileNode['callFrame']) => string,
): { total: number; by: Map<string, number> } {
  const by = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfileNode, stack: readonly string[]): void => {
    const here = [name(n.callFrame), ...stack].slice(0, Math.max(depth, 1));
    if (n.selfSize > 0) {
      total += n.selfSize;
      const k = here.join(' < ');
      by.set(k, (by.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(head, []);
  return { total, by };
}

/** A CDP `Profiler.Profile`. */
export interface CpuProfile {
  readonly nodes: readonly { id: number; callFrame: ProfileNode['callFrame']; hitCount?: number; children?: readonly number[] }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
}

/** A CPU profile as a tree whose `selfSize` is each node's sample count, for `aggregate`. Pure. */
export function cpuTree(p: CpuProfile): ProfileNode {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const build = (id: number): ProfileNode => {
    const n = byId.get(id)!;
    return { callFrame: n.callFrame, selfSize: n.hitCount ?? 0, children: (n.children ?? []).map(build) };
  };
  return build(p.nodes[0]!.id);
}

/** Labels frames `function file:line`, mapping files of `<root>/dist/bin` through their `.map`. */
export function frameNamer(root: string): (f: ProfileNode['callFrame']) => string {
  const maps = new Map<string, SourceMap | null>();
  const bin = join(root, 'dist', 'bin');
  return (f) => {
    const file = f.url.split('/').pop() ?? '';
    const fn = f.functionName === '' ? '(anonymous)' : f.functionName;
    if (!f.url.includes('/dist/bin/')) return `${fn} ${file === '' ? '(native)' : file}:${f.lineNumber + 1}`;
    let m = maps.get(file);
    if (m === undefined) {
      try {
        m = new SourceMap(JSON.parse(readFileSync(join(bin, `${file}.map`), 'utf8')));
      } catch {
        m = null;
      }
      maps.set(file, m);
    }
    const e = m?.findEntry(f.lineNumber, f.columnNumber);
    if (e === undefined || !('originalSource' in e)) return `${fn} ${file}:${f.lineNumber + 1}`;
    const src = e.originalSource.replace(/^.*?\/(?:dist|node_modules)\/(?:\.\.\/)*/, '').replace(/^(\.\.\/)+/, '');
    return `${(e as { name?: string }).name ?? fn} ${src}:${e.originalLine + 1}`;
  };
}

function arg(name: string, dflt: string): string {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? dflt : a.slice(name.length + 3);
}

const exited = (p: ChildProcess): Promise<void> => new Promise((r) => p.once('exit', () => r()));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const root = resolve(arg('root', fileURLToPath(new URL('../../../', import.meta.url))));
  const proto = arg('protocol', 'h1');
  const seconds = Number(arg('seconds', '6'));
  const depth = Number(arg('depth', '1'));
  const top = Number(arg('top', '30'));
  const name = arg('target', 'sidegate-full');
  const cpu = process.argv.includes('--cpu');
  if (proto !== 'h1' && proto !== 'h2c') throw new Error(`--protocol: h1 or h2c, not ${proto}`);
  const spec = traceRow(name) ?? TARGETS.find((t) => t.name === name && t.name.startsWith('sidegate'));
  if (spec === undefined) throw new Error(`--target: a sidegate row of bench/targets.ts or trace-R, not ${name}`);

  const dir = mkdtempSync(join(tmpdir(), 'sidegate-alloc-'));
  const stops: (() => unknown)[] = [];
  try {
    const { h1Port, h2cPort, managed: app } = await startApp(root, dir, LOAD_CORE);
    stops.push(() => app.stop());
    const keys = generateKeys();
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(keys.jwks));
    const token = mint(keys, { sub: 'bench-user' });
    const redis = await startRedis(LOAD_CORE, dir);
    stops.push(() => redis.managed.stop());
    // Tracing rows send their spans to a real Jaeger, as in the bench.
    const jaeger = spec.needs?.includes('otlp') ? await startJaeger({ cpu: LOAD_CORE }) : undefined;
    if (jaeger !== undefined) stops.push(() => jaeger.close());
    const inspect = await freePort();
    process.env.SIDEGATE_BENCH_NODE_ARGS = `${process.env.SIDEGATE_BENCH_NODE_ARGS ?? ''} --inspect=127.0.0.1:${inspect}`;
    const env: BenchEnv = {
      dir,
      root,
      app: { h1Port, h2cPort },
      path: APP_PATH,
      auth: { token, jwksFile, publicPemFile: '', poolFile: '', poolUrlFiles: () => [] },
      redis: { url: redis.url },
      ...(jaeger !== undefined && { otlp: { endpoint: () => jaeger.otlpHttp } }),
    };
    const run = await spec.start(env);
    stops.push(() => run.stop());
    const url = run.urls[proto]!;
    const admin = run.adminUrl!;

    const list = (await (await fetch(`http://127.0.0.1:${inspect}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    const ws = new WebSocket(list[0]!.webSocketDebuggerUrl);
    await new Promise((r, j) => {
      ws.addEventListener('open', r);
      ws.addEventListener('error', j);
    });
    stops.push(() => ws.close());
    let id = 0;
    const pending = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
    ws.addEventListener('message', (e) => {
      const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (m.id !== undefined) pending.get(m.id)?.(m);
    });
    const cdp = async <T>(method: string, params: object = {}): Promise<T> => {
      const m = await new Promise<{ result?: unknown; error?: { message: string } }>((r) => {
        pending.set(++id, r);
        ws.send(JSON.stringify({ id, method, params }));
      });
      if (m.error) throw new Error(`${method}: ${m.error.message}`);
      return m.result as T;
    };
    const served = async (): Promise<number> => {
      let n = 0;
      for (const l of (await (await fetch(`${admin}/metrics`)).text()).split('\n'))
        if (l.startsWith('sidegate_http_requests_total')) n += Number(l.slice(l.lastIndexOf(' ') + 1));
      return n;
    };
    const auth = run.headers?.authorization;
    const load = (s: number): ChildProcess => {
      const h = auth === undefined ? [] : ['-H', `authorization: ${auth}`];
      return proto === 'h1'
        ? spawn('taskset', ['-c', String(LOAD_CORE), 'wrk', '-t1', '-c50', `-d${s}s`, ...h, url], { stdio: 'ignore' })
        : spawn('taskset', ['-c', String(LOAD_CORE), 'h2load', '-c10', '-m10', '-D', String(s), ...h, url], { stdio: 'ignore' });
    };

    await exited(load(4)); // warm-up: optimised code, leases, caches
    const l = load(seconds + 2);
    const done = exited(l);
    await sleep(1000);
    const n0 = await served();
    const out = arg('out', '');
    const namer = frameNamer(root);
    if (cpu) {
      // CPU mode: V8's sampling CPU profiler; self time per place, in µs per request.
      await cdp('Profiler.enable');
      await cdp('Profiler.setSamplingInterval', { interval: 100 });
      await cdp('Profiler.start');
      await sleep(seconds * 1000);
      const { profile } = await cdp<{ profile: CpuProfile }>('Profiler.stop');
      const requests = (await served()) - n0;
      await done;
      if (out !== '') writeFileSync(out, JSON.stringify(profile));
      const { total, by } = aggregate(cpuTree(profile), depth, namer);
      const usPerHit = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
      const idle = by.get('(idle) (native):0') ?? 0;
      console.log(
        `${name}, ${proto}: ${requests} requests while sampling, ${(((total - idle) * usPerHit) / requests).toFixed(1)} µs of main-thread CPU per request (idle excluded)`,
      );
      console.log('µs/request  where (innermost frame first)');
      for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, top))
        console.log(`${((v * usPerHit) / requests).toFixed(2).padStart(10)}  ${k}`);
      return;
    }
    await cdp('HeapProfiler.enable');
    await cdp('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    await sleep(seconds * 1000);
    const { profile } = await cdp<{ profile: { head: ProfileNode } }>('HeapProfiler.stopSampling');
    const requests = (await served()) - n0;
    await done;
    if (out !== '') writeFileSync(out, JSON.stringify(profile));

    const { total, by } = aggregate(profile.head, depth, namer);
    console.log(`${name}, ${proto}: ${requests} requests while sampling, ${(total / requests).toFixed(0)} bytes allocated per request`);
    console.log('bytes/request  where (innermost frame first)');
    for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(v / requests).toFixed(0).padStart(13)}  ${k}`);
  } finally {
    for (const s of stops.reverse()) await s();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
