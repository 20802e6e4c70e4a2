import { createHash } from 'node:crypto';
import type { RedisClient } from './client.js';

/** A Lua script addressed by its SHA1, so the usual call sends 40 bytes instead of the source. */
export class LuaScript {
  readonly sha: string;
  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/**
 * EVALSHA, and on NOSCRIPT (Redis restarted, failed over, or SCRIPT FLUSH) one EVAL, which also
 * loads the script so the next EVALSHA on that node succeeds. In a Cluster both go to the node
 * owning the keys' slot, so each node gets the script the first time it is needed.
 */
export async function evalScript(
  client: RedisClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
  onNoScript?: () => void,
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    onNoScript?.();
    return client.eval(script.source, keys.length, ...keys, ...args);
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
