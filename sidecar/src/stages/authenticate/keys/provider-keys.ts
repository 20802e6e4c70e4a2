import type { JwksSource } from '../../../../../policies/src/types.js';
import type { KeyDeps } from '../deps.js';
import { importJwks, type VerifyKey } from './jwk-import.js';
import type { KeySource } from './key-source.js';

const NO_KEYS: readonly VerifyKey[] = [];
const MAX_BACKOFF_MS = 30_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Timing knobs; defaults for sources that have no `jwks` block (HMAC secrets). */
export type KeyTiming = Pick<JwksSource, 'refreshIntervalMs' | 'staleIfErrorMs' | 'cooldownMs' | 'timeoutMs'>;
export const DEFAULT_TIMING: KeyTiming = { refreshIntervalMs: 300_000, staleIfErrorMs: 86_400_000, cooldownMs: 30_000, timeoutMs: 5_000 };

/**
 * The key set of one provider and its life cycle:
 *
 *   empty ──fetch ok──▶ fresh ──refreshInterval──▶ stale (refetching) ──staleIfError──▶ expired
 *                         ▲                           │
 *                         └──────────fetch ok─────────┘
 *
 * Fresh and stale keys verify tokens; expired (or never fetched) keys do not, and the provider
 * is not ready. Refreshes run on a timer and also when a request notices the set is stale. An
 * unknown `kid` triggers an immediate fetch, at most once per cooldown, with concurrent misses
 * sharing one fetch: a spray of random kids costs the IdP one request per cooldown.
 * All times are `clock.monotonic()` milliseconds.
 */
export class ProviderKeys {
  /** Bumped whenever the key material changes; cached verdicts from older generations are re-verified. */
  generation = 0;
  /** Keys verify tokens while `monotonic() <= usableUntil`. */
  usableUntil = -Infinity;
  /** A request seeing `monotonic() >= refreshDue` kicks a background refresh. */
  refreshDue = Infinity;

  private byKid = new Map<string, VerifyKey[]>();
  private all: readonly VerifyKey[] = NO_KEYS;
  private fingerprint: string | undefined;
  private lastSuccess = -Infinity;
  private lastMissFetch = -Infinity;
  private nextAttempt = -Infinity;
  private failures = 0;
  private inflight: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private abort: AbortController | undefined;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly source: KeySource,
    private readonly timing: KeyTiming,
    private readonly deps: KeyDeps,
  ) {}

  start(): void {
    this.unwatch = this.source.watch?.(() => {
      void this.refresh('watch');
    });
    void this.refresh('start');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.unwatch?.();
    this.abort?.abort();
  }

  hasKeys(): boolean {
    return this.all.length > 0;
  }

  /** Seconds since the last successful load, or undefined before the first. */
  ageSeconds(): number | undefined {
    return this.lastSuccess === -Infinity ? undefined : (this.deps.clock.monotonic() - this.lastSuccess) / 1000;
  }

  /** Keys with this kid, or every key when the token names none. */
  candidates(kid: string | undefined): readonly VerifyKey[] | undefined {
    return kid === undefined ? this.all : this.byKid.get(kid);
  }

  /** Called on the request path: start a refresh if the set is due and no attempt is pending. */
  maybeRefresh(now: number): void {
    if (now >= this.refreshDue && this.inflight === undefined && now >= this.nextAttempt) void this.refresh('stale');
  }

  /**
   * An unknown kid: the promise settles when a refetch (new or already running) is done, or
   * `undefined` when the cooldown forbids one.
   */
  unknownKid(now: number): Promise<boolean> | undefined {
    if (this.inflight !== undefined) return this.inflight;
    if (now - this.lastMissFetch < this.timing.cooldownMs) return undefined;
    this.lastMissFetch = now;
    return this.refresh('unknown_kid');
  }

  /** Load now unless a load is already running (then share it). Resolves true on success. */
  refresh(trigger: string): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return (this.inflight ??= this.load(trigger).finally(() => {
      this.inflight = undefined;
    }));
  }

  private async load(trigger: string): Promise<boolean> {
    const { metrics, logger, clock } = this.deps;
    clearTimeout(this.timer);
    const ac = new AbortController();
    this.abort = ac;
    const timeout = setTimeout(
      () => ac.abort(new Error(`timed out after ${this.timing.timeoutMs} ms`)),
      Math.min(this.timing.timeoutMs, MAX_TIMER_MS),
    );
    try {
      const jwks = await this.source.load(ac.signal);
      const fp = JSON.stringify(jwks);
      if (fp !== this.fingerprint) {
        const { keys, refused } = await importJwks(jwks, this.source.secret);
        for (const r of refused) logger.warn({ provider: this.name, kid: r.kid, why: r.why }, 'auth: key refused');
        if (keys.length === 0) throw new Error(`no usable key among ${jwks.length} published`);
        this.install(keys, fp);
        logger.info(
          { provider: this.name, source: this.source.description, keys: keys.length, kids: keys.map((k) => k.kid), trigger },
          'auth: key set loaded',
        );
      }
      if (this.closed) return false;
      const now = clock.monotonic();
      this.lastSuccess = now;
      this.failures = 0;
      this.nextAttempt = -Infinity;
      if (this.source.remote) {
        this.usableUntil = now + this.timing.refreshIntervalMs + this.timing.staleIfErrorMs;
        this.refreshDue = now + this.timing.refreshIntervalMs;
      } else {
        this.usableUntil = Infinity;
      }
      metrics.jwksFetches.inc({ provider: this.name, result: 'success' });
      metrics.jwksAge.set({ provider: this.name }, 0);
      if (this.source.remote) this.schedule(this.timing.refreshIntervalMs);
      return true;
    } catch (err) {
      if (this.closed) return false;
      this.failures++;
      const backoff = Math.min(1000 * 2 ** (this.failures - 1), MAX_BACKOFF_MS, this.timing.refreshIntervalMs);
      this.nextAttempt = clock.monotonic() + backoff;
      metrics.jwksFetches.inc({ provider: this.name, result: 'error' });
      logger.warn(
        {
          provider: this.name,
          source: this.source.description,
          trigger,
          failures: this.failures,
          err: err instanceof Error ? err.message : String(err),
          keys: this.hasKeys() ? (this.usable(clock.monotonic()) ? 'stale, still in use' : 'expired') : 'none yet',
        },
        'auth: key set fetch failed',
      );
      if (this.source.remote || !this.hasKeys()) this.schedule(backoff);
      return false;
    } finally {
      clearTimeout(timeout);
      if (this.abort === ac) this.abort = undefined;
    }
  }

  usable(now: number): boolean {
    return now <= this.usableUntil;
  }

  private install(keys: readonly VerifyKey[], fp: string): void {
    const byKid = new Map<string, VerifyKey[]>();
    for (const k of keys) {
      if (k.kid === undefined) continue;
      const list = byKid.get(k.kid);
      if (list) list.push(k);
      else byKid.set(k.kid, [k]);
    }
    this.byKid = byKid;
    this.all = keys;
    this.fingerprint = fp;
    this.generation++;
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    // setTimeout treats anything above 2^31-1 ms as 1 ms: clamp, or a long interval becomes a busy loop.
    this.timer = setTimeout(
      () => {
        void this.refresh('scheduled');
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    this.timer.unref();
  }
}
