import { systemClock, type Clock } from '../clock.js';

/** Why a Redis call did not produce an answer. Bounded: used as the `kind` metric label. */
export type RedisFailureKind =
  /** The breaker is open: Redis was not called at all. */
  | 'breaker_open'
  /** No answer within the call's budget. */
  | 'timeout'
  /** Not connected, connection lost, or the socket not writable. */
  | 'connection'
  /** Redis answered with an error (OOM, READONLY, CROSSSLOT, WRONGTYPE, ...). */
  | 'reply';

export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
  constructor(
    readonly kind: RedisFailureKind,
    readonly op: string,
    cause?: unknown,
  ) {
    super(`redis ${op}: ${kind}`, { cause });
  }
}

/**
 * Settle with `p`, or reject with a timeout once `ms` have passed on `clock`. When the timer fires the check is
 * deferred by one event-loop turn (setImmediate runs after the poll phase): if the loop was busy and
 * the reply is already sitting in the socket, it wins rather than being thrown away as a timeout.
 */
export function withBudget<T>(p: Promise<T>, ms: number, op: string, clock: Clock = systemClock): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const cancel = clock.after(ms, () => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new RedisUnavailableError('timeout', op));
      });
    });
    p.then(
      (v) => {
        if (!settled) {
          settled = true;
          cancel();
          resolve(v);
        }
      },
      (e: unknown) => {
        if (!settled) {
          settled = true;
          cancel();
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      },
    );
  });
}

/** Classify what ioredis threw. Reply errors carry Redis' own message; everything else is the link. */
export function failureKind(err: unknown): RedisFailureKind {
  if (err instanceof RedisUnavailableError) return err.kind;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'ReplyError') return 'reply';
  return 'connection';
}
