import { performance } from 'node:perf_hooks';
import type { Pool } from 'undici';
import { ERROR_TABLE, type ErrorCode } from '../../sidecar/src/errors.js';

/** One kind of request in the mix, with the answer a healthy system gives it. */
export interface RequestClass {
  readonly name: string;
  readonly weight: number;
  readonly path: string;
  /** Headers for the next request of this class (e.g. a token picked from a set). */
  readonly headers: () => Record<string, string>;
  /** The answers a healthy system gives; anything else (still documented) counts as degraded. */
  readonly healthy: readonly string[];
}

/** Where requests may go: the load balancer's view of ready sidecars. */
export interface Target {
  readonly id: string;
  readonly pool: Pool;
}

/**
 * How one request ended. `answer` is `app` for the app's own 200, the error code for a sidegate
 * answer (documented or not), or undefined when there was no answer at all (`failure` says why).
 */
export interface Outcome {
  readonly phase: string;
  readonly cls: string;
  readonly target: string;
  /** ms on the performance clock. */
  readonly start: number;
  readonly end: number;
  readonly status: number | undefined;
  readonly answer: string | undefined;
  readonly failure: 'reset' | 'refused' | 'hung' | 'undocumented' | 'no-target' | undefined;
  readonly detail?: string;
  readonly healthy: boolean;
}

export interface LoadOptions {
  /** Requests per second, issued open-loop (a slow system does not slow the offered load). */
  readonly rate: number;
  readonly classes: readonly RequestClass[];
  readonly targets: () => readonly Target[];
  /** Client-side give-up time: an answer later than this is a hang. */
  readonly deadlineMs: number;
}

const DOCUMENTED = new Map<string, number>(Object.entries(ERROR_TABLE).map(([code, spec]) => [code, spec.status]));

/** `app`, or a documented sidegate code whose status matches the table, or undefined. */
export function classify(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): { answer: string; documented: boolean } {
  if (status === 200 && headers['x-chaos-app'] === '1') return { answer: 'app', documented: true };
  let code: string | undefined;
  try {
    code = (JSON.parse(body) as { error?: unknown }).error as string | undefined;
  } catch {
    /* not JSON */
  }
  if (typeof code === 'string' && DOCUMENTED.get(code) === status) return { answer: code, documented: true };
  return { answer: `${status} ${typeof code === 'string' ? code : body.slice(0, 60)}`, documented: false };
}

export function statusOf(code: string): number {
  return code === 'app' ? 200 : (ERROR_TABLE[code as ErrorCode]?.status ?? 0);
}

/**
 * Open-loop load at a fixed rate over whatever targets are ready right now, round robin.
 * Every outcome is kept, tagged with the phase current when the request was issued.
 */
export class LoadGenerator {
  readonly outcomes: Outcome[] = [];
  phase = 'warm-up';
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private began = 0;
  private rr = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly cumulative: number[];
  private readonly totalWeight: number;

  constructor(private readonly o: LoadOptions) {
    let sum = 0;
    this.cumulative = o.classes.map((c) => (sum += c.weight));
    this.totalWeight = sum;
  }

  start(): void {
    this.began = performance.now();
    this.sent = 0;
    this.timer = setInterval(() => this.tick(), 5);
  }

  /** Stop issuing and wait for every request in flight to end. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  private tick(): void {
    const due = Math.floor(((performance.now() - this.began) * this.o.rate) / 1000);
    // After a stall (GC, a busy machine) catch up, but never in one burst larger than 50 ms of load.
    const n = Math.min(due - this.sent, Math.ceil(this.o.rate / 20));
    this.sent = Math.max(this.sent + n, due - Math.ceil(this.o.rate / 20));
    for (let i = 0; i < n; i++) this.issue();
  }

  private pick(): RequestClass {
    const x = Math.random() * this.totalWeight;
    const i = this.cumulative.findIndex((c) => x < c);
    return this.o.classes[i < 0 ? this.o.classes.length - 1 : i]!;
  }

  private issue(): void {
    const cls = this.pick();
    const phase = this.phase;
    const targets = this.o.targets();
    const start = performance.now();
    if (targets.length === 0) {
      this.outcomes.push({
        phase,
        cls: cls.name,
        target: '-',
        start,
        end: start,
        status: undefined,
        answer: undefined,
        failure: 'no-target',
        healthy: false,
      });
      return;
    }
    const target = targets[this.rr++ % targets.length]!;
    const p = this.send(target, cls, phase, start).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private async send(target: Target, cls: RequestClass, phase: string, start: number): Promise<void> {
    const base = { phase, cls: cls.name, target: target.id, start };
    try {
      const r = await target.pool.request({
        path: cls.path,
        method: 'GET',
        headers: cls.headers(),
        headersTimeout: this.o.deadlineMs,
        bodyTimeout: this.o.deadlineMs,
      });
      const body = await r.body.text();
      const end = performance.now();
      const c = classify(r.statusCode, r.headers, body);
      this.outcomes.push({
        ...base,
        end,
        status: r.statusCode,
        answer: c.answer,
        failure: c.documented ? undefined : 'undocumented',
        healthy: c.documented && cls.healthy.includes(c.answer),
      });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const code = e.code ?? '';
      const failure =
        code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'hung' : code === 'ECONNREFUSED' ? 'refused' : 'reset';
      this.outcomes.push({
        ...base,
        end: performance.now(),
        status: undefined,
        answer: undefined,
        failure,
        detail: `${code} ${e.message ?? ''}`.trim(),
        healthy: false,
      });
    }
  }
}
