/**
 * `sidegate revoke` and `sidegate ban`: the breach controls. Each writes its entry, with its
 * expiry, to the two copies the sidecars decide from: Redis (`--redis`, seen by every pod on its
 * next request) and the namespace's `sidegate-revocations` ConfigMap (durable: mounted into every
 * injected pod, re-read within the kubelet's sync period, and re-seeded into Redis by the
 * sidecars after Redis loses its data). Then prints what is in force. Expired entries are pruned
 * on every write.
 * Exit 0: written everywhere asked; 1: a write failed (the message says which copy holds it);
 * 2: usage or kubeconfig error.
 */
import type { CliIo } from './io.js';
import { KubeconfigError, loadKubeconfig } from './kubeconfig.js';
import { ApiWriteError, RevocationConfigMap } from './revoke/configmap.js';
import { parseRevokeArgs, REVOKE_USAGE, BAN_USAGE, type RevokeArgs } from './revoke/args.js';
import { writeMark, writeRedis } from './revoke/redis.js';
import {
  describeEntry,
  formatRevocations,
  iso,
  parseRevocations,
  RevocationList,
  sameTarget,
  type RevocationEntry,
} from '../sidecar/src/revocation/index.js';

export const runRevoke = (argv: string[], io: CliIo): Promise<number> => run('revoke', argv, io);
export const runBan = (argv: string[], io: CliIo): Promise<number> => run('ban', argv, io);

async function run(cmd: 'revoke' | 'ban', argv: string[], io: CliIo): Promise<number> {
  const usage = cmd === 'revoke' ? REVOKE_USAGE : BAN_USAGE;
  if (argv.includes('-h') || argv.includes('--help')) {
    io.out(usage);
    return 0;
  }
  const now = Date.now();
  const args = parseRevokeArgs(cmd, argv, now);
  if (typeof args === 'string') {
    io.err(`sidegate ${cmd}: ${args}\n${usage}`);
    return 2;
  }
  let store: RevocationConfigMap;
  try {
    const k = loadKubeconfig(args);
    store = new RevocationConfigMap(k.kc, args.namespace ?? k.namespace);
  } catch (e) {
    if (e instanceof KubeconfigError) {
      io.err(`sidegate ${cmd}: ${e.message}`);
      return 2;
    }
    throw e;
  }
  try {
    return await apply(cmd, args, store, io, now);
  } catch (e) {
    if (e instanceof ApiWriteError) {
      io.err(`sidegate ${cmd}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

async function apply(cmd: string, a: RevokeArgs, store: RevocationConfigMap, io: CliIo, now: number): Promise<number> {
  const where = `configmap ${store.namespace}/${store.name}`;
  if (a.action === 'list') {
    const r = await store.read();
    for (const p of r.problems) io.err(`warning: ${where}: ${p.path || '/'}: ${p.message} (left out by the sidecars)`);
    print(io, a, where, new RevocationList(r.entries).inForce(now), [], 0, now);
    return 0;
  }
  const target = a.entry;
  let pruned = 0;
  let removed: RevocationEntry[] = [];
  // Redis first: the fast copy takes effect on every pod's next request, before the ConfigMap reaches the pods.
  let redisProblem: string | undefined;
  if (a.redis !== undefined) redisProblem = await writeRedis(a.redis, target, a.action, now, a.timeoutMs);
  const written = await store.update((current, problems) => {
    for (const p of problems) io.err(`warning: ${where}: ${p.path || '/'}: ${p.message} (dropped: it was not in force)`);
    const live = current.filter((e) => e.expires > now);
    pruned = current.length - live.length;
    removed = live.filter((e) => sameTarget(e, target));
    const rest = live.filter((e) => !sameTarget(e, target));
    return a.action === 'add' ? [...rest, target] : rest;
  }, now);
  if (a.redis !== undefined && redisProblem === undefined) {
    // The mark of the list the pods will read (as they will parse it), so lagging pods leave Redis alone.
    const doc = parseRevocations(formatRevocations(written.entries, now));
    if (doc.ok) {
      const list = new RevocationList(doc.entries, doc.updated);
      redisProblem = await writeMark(a.redis, store.namespace, `${list.updated}:${list.version}`, a.timeoutMs);
    }
  }
  if (a.action === 'remove' && removed.length === 0) io.err(`warning: ${where} had no entry for ${describeTarget(target)}`);
  print(io, a, where, new RevocationList(written.entries).inForce(now), removed, pruned, now);
  if (redisProblem !== undefined) {
    io.err(
      `sidegate ${cmd}: ${where} is written (durable; pods read it within the kubelet's ConfigMap sync, about a minute), but Redis was not: ${redisProblem}`,
    );
    return 1;
  }
  return 0;
}

function print(
  io: CliIo,
  a: RevokeArgs,
  where: string,
  inForce: readonly RevocationEntry[],
  removed: readonly RevocationEntry[],
  pruned: number,
  now: number,
): void {
  if (a.output === 'json') {
    io.out(
      JSON.stringify(
        {
          configMap: where.replace('configmap ', ''),
          redis: a.redis !== undefined,
          at: iso(now),
          changed: a.action === 'list' ? null : { action: a.action, entry: json(a.entry) },
          removed: removed.map(json),
          pruned,
          inForce: inForce.map(json),
        },
        null,
        2,
      ),
    );
    return;
  }
  if (a.action === 'add') io.out(`${a.redis === undefined ? 'written to' : 'written to Redis and'} ${where}: ${describeEntry(a.entry)}`);
  if (a.action === 'remove')
    io.out(
      `removed from ${a.redis === undefined ? '' : 'Redis and '}${where}: ${removed.length === 0 ? describeTarget(a.entry) : removed.map(describeEntry).join('; ')}`,
    );
  if (pruned > 0) io.out(`pruned ${pruned} expired entr${pruned === 1 ? 'y' : 'ies'}`);
  io.out(`in force (${inForce.length}):`);
  for (const e of inForce) io.out(`  ${describeEntry(e)}`);
}

function json(e: RevocationEntry): Record<string, unknown> {
  const out: Record<string, unknown> = { ...e, expires: iso(e.expires) };
  if ('issuedBefore' in e) out.issuedBefore = iso(e.issuedBefore);
  return out;
}

function describeTarget(e: RevocationEntry): string {
  switch (e.kind) {
    case 'jti':
      return `jti ${e.jti}`;
    case 'issuer':
      return `issuer ${e.issuer}`;
    case 'subject':
      return `subject ${e.subject} of issuer ${e.issuer}`;
    case 'ip':
      return `address ${e.ip}`;
  }
}
