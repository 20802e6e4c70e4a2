import type { AuthPolicy, Requirement } from '../../../../policies/src/types.js';
import type { Exchange } from '../../protocol/exchange.js';
import { passThrough, type Stage } from '../../pipeline/stage.js';
import type { KeyDeps } from './deps.js';
import { KeyManager, type KeyManagerOptions } from './keys/key-manager.js';
import { banOnly, type LocalRevocations, type RevocationStore } from './revocation.js';
import { Authenticator, authenticate } from './stage.js';

/** Does the request carry a valid token meeting a requirement? (Judges nothing, counts no attempt.) */
export type Identify = (ex: Exchange) => boolean | Promise<boolean>;

export interface AuthRuntimeDeps extends KeyDeps {
  /** Needed only when a policy enables revocation. */
  readonly revocation?: RevocationStore | undefined;
  /** The durable list (the mounted ConfigMap), checked on every request whatever the policy says. */
  readonly revocations?: LocalRevocations | undefined;
  readonly keyManagerOptions?: KeyManagerOptions;
}

/**
 * What the proxy holds for authentication across policy versions: the current KeyManager, kept
 * while reloads leave the key sources alone and replaced (new one loaded first) when they change.
 * It is also the readiness check: not ready until every provider of the policy in force has keys.
 */
export class AuthRuntime {
  readonly name = 'auth-keys';
  private km: KeyManager | undefined;

  constructor(private readonly deps: AuthRuntimeDeps) {}

  /**
   * The authenticate stage for a policy version. When the key sources changed, a new key manager
   * is started and awaited (up to `waitMs`) before the old one is closed, so a reload never
   * serves requests with no keys while the new ones load. A new manager that is not ready in
   * time is used anyway: readiness then reports false until its keys arrive.
   */
  async prepare(auth: AuthPolicy | undefined, waitMs = 5000): Promise<Stage> {
    if (auth === undefined || auth.providers.length === 0) {
      this.replace(undefined);
      if (auth !== undefined) return this.stageFor(auth, undefined);
      // No authentication, yet bans of the durable list still apply: a breach response covers every service.
      const { revocations, metrics, clock } = this.deps;
      return revocations === undefined ? passThrough : banOnly(revocations, metrics, clock);
    }
    let km = this.km;
    if (km === undefined || !km.servesSameKeys(auth.providers)) {
      km = new KeyManager(auth.providers, this.deps, this.deps.keyManagerOptions);
      km.start();
      await km.whenReady(waitMs);
      this.replace(km);
    }
    return this.stageFor(auth, km);
  }

  /**
   * The maintenance allow-list's question for a policy version (`allow`: its requirement), over
   * the key manager `prepare` set up for the same `auth`: call it after `prepare`.
   */
  identify(auth: AuthPolicy, allow: Requirement): Identify {
    const km = this.km;
    if (km === undefined || !km.servesSameKeys(auth.providers))
      throw new Error('identify() needs the key manager prepare() started for these providers');
    const { metrics, logger, clock, revocation, revocations } = this.deps;
    const a = new Authenticator(auth, { metrics, logger, clock, revocation, revocations, keys: km });
    const req = a.compile(allow);
    return (ex) => a.satisfies(ex, req);
  }

  ready(): boolean {
    return this.km === undefined || this.km.ready();
  }

  get keys(): KeyManager | undefined {
    return this.km;
  }

  close(): void {
    this.replace(undefined);
  }

  private stageFor(auth: AuthPolicy, km: KeyManager | undefined): Stage {
    const { metrics, logger, clock, revocation, revocations } = this.deps;
    // A policy with rules but no providers can only say `require: none`; an empty manager serves it.
    return authenticate(auth, { metrics, logger, clock, revocation, revocations, keys: km ?? new KeyManager([], this.deps) });
  }

  private replace(km: KeyManager | undefined): void {
    if (this.km !== km) this.km?.close();
    this.km = km;
  }
}
