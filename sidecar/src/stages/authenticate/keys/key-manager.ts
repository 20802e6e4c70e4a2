import type { AuthProvider } from '../../../../../policies/src/types.js';
import { sleepOn, systemClock } from '../../../clock.js';
import type { KeyDeps } from '../deps.js';
import { sourceFor, type KeySource } from './key-source.js';
import { DEFAULT_TIMING, ProviderKeys } from './provider-keys.js';

export interface KeyManagerOptions {
  /** Replace how a provider's key source is built (tests, or a custom source). */
  readonly sourceFor?: (p: AuthProvider) => KeySource;
  /** How often the key-age gauge is refreshed. */
  readonly ageGaugeIntervalMs?: number;
}

/**
 * The long-lived owner of every provider's keys. The proxy creates one per set of key sources
 * and keeps it across policy reloads while `servesSameKeys()` holds, so a reload that only
 * changes rules or audiences neither refetches keys nor drops the verified-token cache's keys.
 */
export class KeyManager {
  private readonly providers = new Map<string, ProviderKeys>();
  private readonly fingerprint: string;
  private ageTimer: NodeJS.Timeout | undefined;

  constructor(
    providers: readonly AuthProvider[],
    private readonly deps: KeyDeps,
    private readonly opts: KeyManagerOptions = {},
  ) {
    this.fingerprint = keyFingerprint(providers);
    const make = opts.sourceFor ?? sourceFor;
    for (const p of providers) {
      this.providers.set(p.name, new ProviderKeys(p.name, make(p), p.jwks ?? DEFAULT_TIMING, deps));
    }
  }

  /** Begin loading every provider's keys (in the background) and keep them fresh. */
  start(): void {
    for (const p of this.providers.values()) p.start();
    this.ageTimer = setInterval(() => this.updateAges(), this.opts.ageGaugeIntervalMs ?? 5000);
    this.ageTimer.unref();
  }

  /** True when every provider has keys it may use now: false before the first load and after the stale window. */
  ready(): boolean {
    const now = this.deps.clock.monotonic();
    for (const p of this.providers.values()) if (!p.hasKeys() || !p.usable(now)) return false;
    return true;
  }

  /** Resolves true once ready, false if `timeoutMs` passes first. For startup logs and tests. */
  async whenReady(timeoutMs: number, pollMs = 10): Promise<boolean> {
    // Real time on purpose: this waits for real fetches, whatever clock the key ages use.
    const deadline = systemClock.monotonic() + timeoutMs;
    while (!this.ready()) {
      if (systemClock.monotonic() >= deadline) return false;
      await sleepOn(systemClock, pollMs);
    }
    return true;
  }

  provider(name: string): ProviderKeys | undefined {
    return this.providers.get(name);
  }

  /** Whether this manager already serves the key sources of `providers` (reuse it across a reload). */
  servesSameKeys(providers: readonly AuthProvider[]): boolean {
    return keyFingerprint(providers) === this.fingerprint;
  }

  close(): void {
    clearInterval(this.ageTimer);
    for (const p of this.providers.values()) p.close();
  }

  private updateAges(): void {
    for (const p of this.providers.values()) {
      const age = p.ageSeconds();
      if (age !== undefined) this.deps.metrics.jwksAge.set({ provider: p.name }, age);
    }
  }
}

/** Only what decides which keys a provider has: names, issuers (discovery), key sources and timing. */
export function keyFingerprint(providers: readonly AuthProvider[]): string {
  return JSON.stringify(providers.map((p) => [p.name, p.issuer, p.jwks ?? null, p.secret ?? null]));
}
