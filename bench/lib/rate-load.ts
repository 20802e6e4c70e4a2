import { Agent, request } from 'node:http';

/**
 * Fixed-rate HTTP/1.1 load from inside the harness, for many targets at a low rate each (the density
 * bench: 20 × 50 req/s). Open loop: request k of a target is due at phase + k / rate, whatever the
 * earlier ones are doing, so a slow proxy meets the load it would in a pod. Keep-alive connections
 * (an http.Agent per target). One timer serves every target.
 */

export interface LoadCounts {
  readonly sent: number;
  readonly ok: number;
  /** Answers other than 2xx. */
  readonly non2xx: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
}

export interface RateTarget {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly rate: number;
  /** Delay of the first request (staggering targets across the period). */
  readonly phaseMs: number;
  /** Keep-alive connections at most (default 4). */
  readonly sockets?: number;
}

interface Running {
  target: RateTarget;
  agent: Agent;
  t0: number;
  counts: { sent: number; ok: number; non2xx: number; errors: number };
  stopped: boolean;
}

export class RateLoad {
  private readonly runs: Running[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;

  /** Starts sending to `target` now (after its phase); returns the index for `counts`/`stop`. */
  add(target: RateTarget): number {
    const agent = new Agent({ keepAlive: true, maxSockets: target.sockets ?? 4 });
    this.runs.push({
      target,
      agent,
      t0: performance.now() + target.phaseMs,
      counts: { sent: 0, ok: 0, non2xx: 0, errors: 0 },
      stopped: false,
    });
    this.timer ??= setInterval(() => this.tick(), 5);
    return this.runs.length - 1;
  }

  counts(i: number): LoadCounts {
    return { ...this.runs[i]!.counts };
  }

  private tick(): void {
    const now = performance.now();
    for (const r of this.runs) {
      if (r.stopped || now < r.t0) continue;
      const due = Math.floor(((now - r.t0) * r.target.rate) / 1000) + 1;
      while (r.counts.sent < due) {
        r.counts.sent++;
        this.send(r);
      }
    }
  }

  private send(r: Running): void {
    this.inFlight++;
    let settled = false;
    const done = (kind: 'ok' | 'non2xx' | 'errors'): void => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      r.counts[kind]++;
    };
    const req = request(r.target.url, { agent: r.agent, headers: { ...r.target.headers }, timeout: 5000 }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      res.once('end', () => done(code >= 200 && code < 300 ? 'ok' : 'non2xx'));
      res.once('error', () => done('errors'));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => done('errors'));
    req.end();
  }

  /** Stops every target and waits (≤ 5 s) for the requests in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const r of this.runs) r.stopped = true;
    const deadline = performance.now() + 5000;
    while (this.inFlight > 0 && performance.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    for (const r of this.runs) r.agent.destroy();
  }
}
