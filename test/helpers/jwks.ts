import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, type JWTHeaderParameters, type JWTPayload } from 'jose';

export type Jwk = Record<string, unknown>;

/** A signing key for tests: the private half signs, the public JWK is what a JWKS publishes. */
export interface TestKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly jwk: Jwk;
}

/** Generate a key for `alg` (RS*, PS*, ES*, EdDSA). `rsaBits` defaults to 2048. */
export function testKey(alg: string, kid: string = randomUUID(), rsaBits = 2048): TestKey {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  if (alg.startsWith('RS') || alg.startsWith('PS')) pair = generateKeyPairSync('rsa', { modulusLength: rsaBits });
  else if (alg === 'ES256') pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  else if (alg === 'ES384') pair = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  else if (alg === 'ES512') pair = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  else if (alg === 'EdDSA') pair = generateKeyPairSync('ed25519');
  else throw new Error(`no test key type for ${alg}`);
  const jwk: Jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return { kid, alg, privateKey: pair.privateKey, publicKey: pair.publicKey, jwk };
}

/** Sign a JWT with jose. `header` overrides or adds protected header parameters. */
export async function mint(key: TestKey, claims: JWTPayload, header: Partial<JWTHeaderParameters> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

/**
 * A real JWKS endpoint on 127.0.0.1 (port 0), with OpenID discovery at
 * `/.well-known/openid-configuration` (issuer = `url`). Keys can be rotated, the server stopped
 * and restarted on the same port (an IdP outage), made to fail or hang, and fetches are counted.
 */
export class JwksServer {
  /** GETs of the key set. */
  fetches = 0;
  discoveryFetches = 0;
  /** Answer key-set requests with this status instead (undefined: serve normally). */
  failStatus: number | undefined = undefined;
  /** Never answer key-set requests (to exercise fetch timeouts). */
  hang = false;
  /** Claim this issuer in the discovery document instead of `url` (a misdirected discovery endpoint). */
  discoveryIssuer: string | undefined = undefined;
  private keys: Jwk[];
  private server: Server | undefined;
  private port = 0;
  private readonly hung: ServerResponse[] = [];

  private constructor(keys: readonly Jwk[]) {
    this.keys = [...keys];
  }

  static async start(keys: readonly Jwk[] = []): Promise<JwksServer> {
    const s = new JwksServer(keys);
    await s.restart();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get issuer(): string {
    return this.url;
  }
  get jwksUri(): string {
    return `${this.url}/jwks.json`;
  }
  get running(): boolean {
    return this.server !== undefined;
  }

  setKeys(keys: readonly Jwk[]): void {
    this.keys = [...keys];
  }
  addKey(jwk: Jwk): void {
    this.keys.push(jwk);
  }
  removeKey(kid: string): void {
    this.keys = this.keys.filter((k) => k.kid !== kid);
  }
  /** Resolves once `count` key-set fetches have been served in total (polls). */
  async waitForFetches(count: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.fetches < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} JWKS fetches, saw ${this.fetches}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Listen (again) on the same port. */
  async restart(): Promise<void> {
    if (this.server) return;
    const srv = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (srv.address() as AddressInfo).port;
    this.server = srv;
  }

  /** Stop answering: close the listener and every open connection. The port is kept for restart(). */
  async stop(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    for (const r of this.hung.splice(0)) r.destroy();
    srv.closeAllConnections();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/.well-known/openid-configuration') {
      this.discoveryFetches++;
      this.json(res, 200, {
        issuer: this.discoveryIssuer ?? this.issuer,
        jwks_uri: this.jwksUri,
        id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
      });
      return;
    }
    if (path === '/jwks.json') {
      this.fetches++;
      if (this.hang) {
        this.hung.push(res);
        return;
      }
      if (this.failStatus !== undefined) {
        this.json(res, this.failStatus, { error: 'failing on purpose' });
        return;
      }
      this.json(res, 200, { keys: this.keys });
      return;
    }
    this.json(res, 404, { error: 'not found' });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}
