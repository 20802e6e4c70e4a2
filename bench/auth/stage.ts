/**
 * Per-request CPU cost of the authenticate stage: `npx tsc -p . && node dist/bench/auth/stage.js`
 * (pin it for stable numbers: `taskset -c 1 node dist/bench/auth/stage.js`).
 *
 * For RS256, ES256 and EdDSA: "cold" gives every request a fresh token (full parse + signature +
 * claims), "cached" repeats one token (verified-token cache hit). Each request runs through the
 * real stage composed with a no-op app, on a real Exchange; the Exchange objects are built
 * before timing. CPU is process.cpuUsage() (user + system) over the run divided by requests;
 * "baseline" is the same loop through a pass-through stage, subtracted in the "stage" column.
 * For reference, jose's own jwtVerify (WebCrypto) on the same cold tokens.
 */
import { randomUUID, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { Readable } from 'node:stream';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { AuthPolicy } from '../../policies/src/types.js';
import { systemClock } from '../../sidecar/src/clock.js';
import { Exchange, type ResponseSink } from '../../sidecar/src/protocol/exchange.js';
import { compose, passThrough, type Handler, type Stage } from '../../sidecar/src/pipeline/stage.js';
import { authenticate, KeyManager } from '../../sidecar/src/stages/authenticate/index.js';
import { Metrics } from '../../sidecar/src/telemetry/metrics.js';
import { testKey } from '../../test/helpers/jwks.js';

const ISS = 'https://id.bench';
const sink: ResponseSink = {
  headersSent: false,
  bytesOut: 0,
  closed: false,
  writeHead: () => undefined,
  write: () => true,
  onDrain: () => undefined,
  end: () => undefined,
  abort: () => undefined,
  onClose: () => undefined,
};
const app: Handler = () => Promise.resolve();
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const body = Readable.from([]);

function exchanges(tokens: readonly string[], n: number): Exchange[] {
  const out: Exchange[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      Exchange.create(
        'http/1.1',
        'GET',
        '/api/orders',
        'app',
        'http',
        {
          host: 'app',
          'user-agent': 'bench',
          accept: '*/*',
          authorization: `Bearer ${tokens[i % tokens.length]!}`,
          'x-user-id': 'spoof',
        },
        '10.0.0.1',
        body,
        false,
        sink,
        'r',
        0,
      ),
    );
  }
  return out;
}

async function cpuPerRequest(h: Handler, exs: readonly Exchange[]): Promise<{ cpuUs: number; wallUs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const ex of exs) await h(ex);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { cpuUs: (c.user + c.system) / exs.length, wallUs: (wall * 1000) / exs.length };
}

async function stageFor(alg: string): Promise<{ stage: Stage; km: KeyManager; key: ReturnType<typeof testKey> }> {
  const key = testKey(alg, `bench-${alg}`);
  const policy: AuthPolicy = {
    providers: [
      {
        name: 'bench',
        issuer: ISS,
        audiences: ['orders'],
        algorithms: [alg],
        typ: undefined,
        requireExp: true,
        clockSkewMs: 30_000,
        maxTokenAgeMs: undefined,
        maxTokenBytes: 8192,
        secret: undefined,
        forward: false,
        jwks: {
          uri: undefined,
          discovery: false,
          file: undefined,
          inline: [key.jwk],
          refreshIntervalMs: 300_000,
          staleIfErrorMs: 86_400_000,
          cooldownMs: 30_000,
          timeoutMs: 5000,
        },
        from: [{ kind: 'header', name: 'authorization', prefix: 'Bearer ' }],
        forwardClaims: { sub: 'x-user-id', tenant: 'x-tenant-id' },
      },
    ],
    rules: [],
    defaultRequire: { kind: 'any', providers: [], claims: [], tenant: undefined },
    revocation: undefined,
    cache: { maxEntries: 10_000 },
  };
  const metrics = new Metrics({ processMetrics: false });
  const km = new KeyManager(policy.providers, { metrics, logger: silent, clock: systemClock });
  km.start();
  if (!(await km.whenReady(5000))) throw new Error('keys not ready');
  return { stage: authenticate(policy, { metrics, logger: silent, clock: systemClock, keys: km }), km, key };
}

const claims = (): Record<string, unknown> => ({
  iss: ISS,
  aud: 'orders',
  sub: 'user-42',
  tenant: 'acme',
  scope: 'orders:read orders:write',
  jti: randomUUID(),
  iat: Math.floor(Date.now() / 1000),
  exp: Math.floor(Date.now() / 1000) + 3600,
});

/**
 * Tokens signed synchronously with node:crypto: thousands of concurrent WebCrypto signs (jose's
 * SignJWT) are slow to mint and once left this script waiting forever on this machine.
 */
function signSync(key: ReturnType<typeof testKey>, payload: Record<string, unknown>): string {
  const input = `${Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const sig =
    key.alg === 'EdDSA'
      ? cryptoSign(null, Buffer.from(input), key.privateKey)
      : key.alg === 'ES256'
        ? cryptoSign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
        : cryptoSign('sha256', Buffer.from(input), key.privateKey);
  return `${input}.${sig.toString('base64url')}`;
}

const COLD = Number(process.env.BENCH_COLD ?? 3000);
const CACHED = Number(process.env.BENCH_CACHED ?? 100_000);
const rows: string[] = [];
const base = compose([passThrough], app);
// Warm the loop itself, then measure the baseline on the same number of requests.
await cpuPerRequest(base, exchanges(['x'], CACHED));
const baseline = await cpuPerRequest(base, exchanges(['x'], CACHED));
rows.push(`| baseline (pass-through stage) | ${baseline.cpuUs.toFixed(2)} | — | ${baseline.wallUs.toFixed(2)} |`);

for (const alg of ['RS256', 'ES256', 'EdDSA']) {
  const { stage, km, key } = await stageFor(alg);
  const h = compose([stage], app);
  process.stderr.write(`${alg}: minting ${COLD + 200} tokens\n`);
  const tokens = Array.from({ length: COLD + 200 }, () => signSync(key, claims()));
  process.stderr.write(`${alg}: cold and cached runs\n`);
  await cpuPerRequest(h, exchanges(tokens.slice(COLD), 200)); // warm-up on other tokens
  const cold = await cpuPerRequest(h, exchanges(tokens.slice(0, COLD), COLD));
  rows.push(
    `| ${alg} cold (fresh token) | ${cold.cpuUs.toFixed(2)} | ${(cold.cpuUs - baseline.cpuUs).toFixed(2)} | ${cold.wallUs.toFixed(2)} |`,
  );
  const one = [tokens[0]!];
  await cpuPerRequest(h, exchanges(one, 10_000));
  const cached = await cpuPerRequest(h, exchanges(one, CACHED));
  rows.push(`| ${alg} cached | ${cached.cpuUs.toFixed(2)} | ${(cached.cpuUs - baseline.cpuUs).toFixed(2)} | ${cached.wallUs.toFixed(2)} |`);

  // Floor: node:crypto verify alone on the same tokens (what no implementation can avoid).
  const parts = tokens.slice(0, COLD).map((tok) => {
    const d = tok.lastIndexOf('.');
    return [Buffer.from(tok.slice(0, d)), Buffer.from(tok.slice(d + 1), 'base64url')] as const;
  });
  const vkey = alg === 'ES256' ? { key: key.publicKey, dsaEncoding: 'ieee-p1363' as const } : key.publicKey;
  const digest = alg === 'EdDSA' ? null : 'sha256';
  const v0 = process.cpuUsage();
  for (const [data, sig] of parts) if (!cryptoVerify(digest, data, vkey, sig)) throw new Error('bench token does not verify');
  const v = process.cpuUsage(v0);
  rows.push(`| ${alg} crypto.verify alone (floor) | ${((v.user + v.system) / COLD).toFixed(2)} | — | — |`);

  process.stderr.write(`${alg}: reference runs\n`);
  // Reference: jose's jwtVerify (WebCrypto) on the same fresh tokens.
  const jwksLocal = createLocalJWKSet({ keys: [key.jwk] });
  const verify = async (tok: string): Promise<void> => {
    await jwtVerify(tok, jwksLocal, { issuer: ISS, audience: 'orders', algorithms: [alg] });
  };
  for (const tok of tokens.slice(COLD)) await verify(tok);
  const c0 = process.cpuUsage();
  for (const tok of tokens.slice(0, COLD)) await verify(tok);
  const c = process.cpuUsage(c0);
  rows.push(`| ${alg} jose jwtVerify, for reference | ${((c.user + c.system) / COLD).toFixed(2)} | — | — |`);
  km.close();
}

console.log(`node ${process.version}, ${COLD} cold / ${CACHED} cached requests per case\n`);
console.log('| case | CPU µs/request | stage µs (minus baseline) | wall µs/request |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
