/**
 * The fast copy: one entry written to (or removed from) Redis, where every sidecar with
 * `auth.revocation` enabled reads it on its next request. Returns what went wrong, if anything.
 */
import { loadRedisConfig } from '../../sidecar/src/redis/config.js';
import { createRedisClient } from '../../sidecar/src/redis/client.js';
import { deleteEntry, putEntry, putMark, type RevocationEntry } from '../../sidecar/src/revocation/index.js';

export async function writeRedis(
  url: string,
  e: RevocationEntry,
  action: 'add' | 'remove',
  now: number,
  timeoutMs: number,
): Promise<string | undefined> {
  return onRedis(url, timeoutMs, (c) => (action === 'add' ? putEntry(c, e, now, false) : deleteEntry(c, e)));
}

/**
 * After the ConfigMap is written: mark the namespace's list in Redis as the new one, so pods whose
 * ConfigMap copy still lags do not re-seed what was just lifted or corrected (seeder.ts).
 */
export function writeMark(url: string, namespace: string, mark: string, timeoutMs: number): Promise<string | undefined> {
  return onRedis(url, timeoutMs, (c) => putMark(c, namespace, mark));
}

async function onRedis(
  url: string,
  timeoutMs: number,
  write: (c: ReturnType<typeof createRedisClient>) => Promise<void>,
): Promise<string | undefined> {
  let client: ReturnType<typeof createRedisClient> | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    client = createRedisClient(loadRedisConfig(url, process.env), { connectionName: 'sidegate/revoke', connectTimeoutMs: timeoutMs });
    client.on('error', () => undefined);
    const c = client;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([
      (async () => {
        if (c.status !== 'ready') await new Promise<void>((resolve) => c.once('ready', () => resolve()));
        await write(c);
      })(),
      timeout,
    ]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
    client?.disconnect();
  }
}
