import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compilePolicy, type CompileResult } from '../../../policies/src/compile.js';
import { parsePolicyText, type LoadResult } from '../../../policies/src/load.js';
import type { PolicyProblem } from '../../../policies/src/types.js';
import { must, oneLine, timeBoundedSync } from '../property.js';

/**
 * The policy compiler, from text: `parsePolicyText` (YAML or JSON, a ConfigMap unwrapped) then
 * `compilePolicy` (schema with defaults, semantic checks, the frozen compiled policy). The input
 * is the text itself (bytes read as UTF-8), so mutations of the seed policies stay mostly YAML.
 * Checked on every input:
 * - only typed results: `{ ok: true, ... }` or `{ ok: false, problems }` with at least one
 *   problem, each a JSON pointer and a message on one line without control characters (values
 *   echoed are quoted); nothing thrown;
 * - every problem's pointer points into the document: at a value in it, or at a missing field
 *   of an object or list that is in it;
 * - a compiled policy is deep-frozen, and every duration in it (`...Ms`) is a whole number of
 *   milliseconds (a safe integer, not negative);
 * - the document is not modified by compiling it;
 * - deterministic: the same document compiled again, and an equal copy of it, give the same
 *   result (canonical JSON);
 * Time per input as in property.ts.
 */

export const maxLen = 16384;
export const sync = true;

/** Canonical JSON of anything a result may hold (sets, functions, non-finite numbers included). */
function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return 'fn';
  if (typeof v === 'number' || typeof v === 'bigint') return Number.isFinite(v) || typeof v === 'bigint' ? String(v) : `"${String(v)}"`;
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  if (v instanceof Set) return `Set[${[...v].map(canonical).join(',')}]`;
  if (v instanceof Map) return `Map[${[...v].map(([k, x]) => `${canonical(k)}:${canonical(x)}`).join(',')}]`;
  if (v instanceof Date) return `Date(${String(v.getTime())})`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

function checkProblems(problems: readonly PolicyProblem[], doc: unknown, what: string): void {
  must(Array.isArray(problems) && problems.length > 0, () => `${what}: refused without problems`);
  for (const p of problems) {
    must(
      typeof p.path === 'string' && typeof p.message === 'string' && p.message !== '' && oneLine(p.message) && Object.keys(p).length === 2,
      () => `${what}: a problem that is not { path, message } on one line without control characters: ${JSON.stringify(p)}`,
    );
    must(p.path === '' || p.path.startsWith('/'), () => `${what}: ${JSON.stringify(p.path)} is not a JSON pointer`);
    if (doc === undefined || p.path === '') continue;
    const segs = p.path
      .slice(1)
      .split('/')
      .map((s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    must(
      resolves(doc, segs) || resolves(doc, segs.slice(0, -1)),
      () => `${what}: problem at ${p.path} (${p.message}) points outside the document`,
    );
  }
}

function resolves(doc: unknown, segs: readonly string[]): boolean {
  let at: unknown = doc;
  for (const s of segs) {
    if (Array.isArray(at)) {
      if (!/^(0|[1-9]\d*)$/.test(s) || Number(s) >= at.length) return false;
      at = at[Number(s)];
    } else if (typeof at === 'object' && at !== null && Object.prototype.hasOwnProperty.call(at, s)) {
      at = (at as Record<string, unknown>)[s];
    } else return false;
  }
  return true;
}

/** Every object reachable is frozen; every `...Ms` number whole milliseconds. */
function checkCompiled(v: unknown, path: string, seen: Set<object>): void {
  if (typeof v !== 'object' || v === null || seen.has(v)) return;
  seen.add(v);
  must(Object.isFrozen(v), () => `the compiled policy is not frozen at ${path}`);
  if (v instanceof Set) {
    for (const x of v) checkCompiled(x, `${path}/(set)`, seen);
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    if (k.endsWith('Ms') && x !== undefined) {
      must(typeof x === 'number' && Number.isSafeInteger(x) && x >= 0, () => `${path}/${k} is ${String(x)} ms`);
    }
    checkCompiled(x, `${path}/${k}`, seen);
  }
}

/** The typed-result, pointer, freezing and determinism checks on what the compiler made of `text`. */
function check(loaded: LoadResult, r: CompileResult | undefined): void {
  if (!loaded.ok) {
    checkProblems(loaded.problems, undefined, 'parsePolicyText');
    return;
  }
  must(loaded.ok === true && 'doc' in loaded && r !== undefined, () => `parsePolicyText returned ${canonical(loaded)}`);
  if (r.ok) checkCompiled(r.policy, '', new Set());
  else checkProblems(r.problems, loaded.doc, 'compilePolicy');
  // Deterministic: the same document again, and an equal copy of it, compile the same.
  for (const doc of [loaded.doc, structuredClone(loaded.doc)]) {
    const again = compilePolicy(doc);
    must(
      canonical(again) === canonical(r),
      () => `the same document compiled twice: ${canonical(r).slice(0, 300)} then ${canonical(again).slice(0, 300)}`,
    );
  }
}

/**
 * yaml reports some oddities (a key that is a list or map) through process.emitWarning, which
 * emits on the next tick: in Jazzer's sync mode ticks never run, so each would stay queued (the
 * harness leaking, not the compiler). While a target runs, warnings are dropped instead.
 */
function quietly(f: () => void): void {
  const emit = Object.getOwnPropertyDescriptor(process, 'emitWarning');
  process.emitWarning = () => undefined;
  try {
    f();
  } finally {
    if (emit !== undefined) Object.defineProperty(process, 'emitWarning', emit);
  }
}

export function fuzz(data: Buffer): void {
  quietly(() => {
    const text = data.toString('utf8');
    let loaded = { ok: false, problems: [] } as LoadResult;
    let compiled: CompileResult | undefined;
    let before = '';
    // Timed: what the sidecar, the injector and `sidegate validate` do with the text.
    timeBoundedSync(data, () => {
      loaded = parsePolicyText(text);
      before = loaded.ok ? canonical(loaded.doc) : '';
      compiled = loaded.ok ? compilePolicy(loaded.doc) : undefined;
    });
    must(!loaded.ok || canonical(loaded.doc) === before, () => 'compilePolicy modified the document it was given');
    check(loaded, compiled);
  });
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/**
 * Seed inputs (test/fuzz/corpus/policy/, written by test/fuzz/seeds.ts): every policy in the
 * repository (policies/examples, the invalid fixtures, the chart's example values' defaultPolicy,
 * the README's and docs' YAML blocks holding one).
 */
export function seeds(): Buffer[] {
  const out: Buffer[] = [];
  for (const dir of ['policies/examples', 'test/fixtures/policies/invalid']) {
    for (const f of readdirSync(join(repo, dir))
      .filter((x) => /\.ya?ml$/.test(x))
      .sort())
      out.push(readFileSync(join(repo, dir, f)));
  }
  for (const f of [
    'README.md',
    ...readdirSync(join(repo, 'docs'))
      .sort()
      .map((x) => `docs/${x}`),
    'charts/sidegate/examples/production-sentinel.yaml',
  ]) {
    const text = readFileSync(join(repo, f), 'utf8');
    const blocks = f.endsWith('.md') ? [...text.matchAll(/```ya?ml\n([^]*?)```/g)].map((m) => m[1]!) : [defaultPolicy(text)];
    for (const b of blocks) if (b.includes('kind: Policy')) out.push(Buffer.from(b));
  }
  return out.filter((b) => b.length <= maxLen);
}

/** The chart values' `defaultPolicy:` block, dedented. */
function defaultPolicy(values: string): string {
  const lines = values.split('\n');
  const at = lines.findIndex((l) => /^\s*defaultPolicy:\s*$/.test(l));
  if (at < 0) return '';
  const indent = (l: string): number => l.length - l.trimStart().length;
  const base = indent(lines[at]!);
  const body: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (l.trim() !== '' && indent(l) <= base) break;
    body.push(l);
  }
  const cut = Math.min(...body.filter((l) => l.trim() !== '').map(indent));
  return body.map((l) => l.slice(cut)).join('\n');
}
