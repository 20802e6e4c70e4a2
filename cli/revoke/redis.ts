/**
 * The fast copy: one entry written to (or removed from) Redis, where every sidecar with
 * `auth.revocation` enabled reads it on its next request. Returns what went wrong, if anything.
 */
import { loadRedisConfig } from '../../sidecar/src/redis/config.js';
import { createRedisClient } from '../../sidecar/src/redis/client.js';
import { deleteEntry, putEntry, type RevocationEntry } from '../../sidecar/src/revocation/index.js';

export async function writeRedis(url: string, e: RevocationEntry, action: 'add' | 'remove', now: number, timeoutMs: number): Promise<string | undefined> {
  let client: ReturnType<typeof createRedisClient> | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    client = createRedisClient(loadRedisConfig(url, process.env), { connectionName: 'sidegate/revoke', connectTimeoutMs: timeoutMs });
    client.on('error', () => undefined);
    const c = client;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); });
    await Promise.race([(async () => {
      if (c.status !== 'ready') await new Promise<void>((resolve) => c.once('ready', () => resolve()));
      if (action === 'add') await putEntry(c, e, now, false); else await deleteEntry(c, e);
    })(), timeout]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
    client?.disconnect();
  }
}
