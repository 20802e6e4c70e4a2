import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { AuthProvider } from '../../../../../policies/src/types.js';

export type Jwk = Readonly<Record<string, unknown>>;

/**
 * Where a provider's keys come from. The key manager owns timing (refresh, cooldown, stale
 * window); a source only knows how to load the current set once. Tests substitute their own.
 */
export interface KeySource {
  /** For logs: a URI or file path, never key material. */
  readonly description: string;
  /** Remote sources go stale and are refreshed; local ones (file, inline, secret) do not expire. */
  readonly remote: boolean;
  /** Symmetric keys are only accepted from a secret source. */
  readonly secret: boolean;
  load(signal: AbortSignal): Promise<readonly Jwk[]>;
  /** Call `onChange` when the source changed on its own (a watched file). Returns a stop function. */
  watch?(onChange: () => void): () => void;
}

const MAX_DOCUMENT_BYTES = 1 << 20;

async function getJson(url: string, signal: AbortSignal): Promise<unknown> {
  const res = await fetch(url, { signal, headers: { accept: 'application/json' }, redirect: 'follow' });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`GET ${url}: HTTP ${res.status}`);
  }
  const len = Number(res.headers.get('content-length') ?? '0');
  if (len > MAX_DOCUMENT_BYTES) {
    await res.body?.cancel();
    throw new Error(`GET ${url}: document of ${len} bytes is larger than ${MAX_DOCUMENT_BYTES}`);
  }
  const text = await res.text();
  if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`GET ${url}: document larger than ${MAX_DOCUMENT_BYTES} bytes`);
  return JSON.parse(text);
}

function keysOf(doc: unknown, where: string): readonly Jwk[] {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new Error(`${where}: not a JWK set (no "keys" array)`);
  }
  return (doc as { keys: unknown[] }).keys.filter((k): k is Jwk => typeof k === 'object' && k !== null && !Array.isArray(k));
}

/** A JWKS document over HTTP(S). */
export class HttpJwksSource implements KeySource {
  readonly remote = true;
  readonly secret = false;
  constructor(readonly uri: string) {}
  get description(): string {
    return this.uri;
  }
  async load(signal: AbortSignal): Promise<readonly Jwk[]> {
    return keysOf(await getJson(this.uri, signal), this.uri);
  }
}

/**
 * OpenID Connect discovery: `<issuer>/.well-known/openid-configuration` names the `jwks_uri`.
 * The document's `issuer` must equal the configured one (OIDC Discovery §4.3), or a compromised
 * or mistyped discovery endpoint could point us at someone else's keys.
 */
export class DiscoveryJwksSource implements KeySource {
  readonly remote = true;
  readonly secret = false;
  private jwksUri: string | undefined;
  constructor(readonly issuer: string) {}
  get description(): string {
    return `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  }
  async load(signal: AbortSignal): Promise<readonly Jwk[]> {
    const uri = this.jwksUri ?? (await this.discover(signal));
    try {
      return keysOf(await getJson(uri, signal), uri);
    } catch (err) {
      // The IdP may have moved its keys: discover again next time.
      this.jwksUri = undefined;
      throw err;
    }
  }
  private async discover(signal: AbortSignal): Promise<string> {
    const doc = (await getJson(this.description, signal)) as { issuer?: unknown; jwks_uri?: unknown } | null;
    if (typeof doc !== 'object' || doc === null) throw new Error(`${this.description}: not a JSON object`);
    if (doc.issuer !== this.issuer)
      throw new Error(`${this.description}: issuer ${JSON.stringify(doc.issuer)} does not match ${this.issuer}`);
    if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) throw new Error(`${this.description}: no usable jwks_uri`);
    return (this.jwksUri = doc.jwks_uri);
  }
}

/**
 * A JWKS file, watched. The directory is watched rather than the file because Kubernetes
 * updates mounted ConfigMaps and Secrets by swapping a symlink, which a file watch misses.
 */
export class FileJwksSource implements KeySource {
  readonly remote = false;
  readonly secret = false;
  constructor(readonly path: string) {}
  get description(): string {
    return this.path;
  }
  async load(): Promise<readonly Jwk[]> {
    return keysOf(JSON.parse(await readFile(this.path, 'utf8')), this.path);
  }
  watch(onChange: () => void): () => void {
    return watchPath(this.path, onChange);
  }
}

export class InlineJwksSource implements KeySource {
  readonly remote = false;
  readonly secret = false;
  readonly description = 'inline keys';
  constructor(private readonly keys: readonly Jwk[]) {}
  load(): Promise<readonly Jwk[]> {
    return Promise.resolve(this.keys);
  }
}

/**
 * An HMAC secret from a file (exact bytes, one trailing newline dropped: `echo secret > file`
 * is how most people write one) or an environment variable.
 */
export class SecretKeySource implements KeySource {
  readonly remote = false;
  readonly secret = true;
  constructor(private readonly from: { readonly file?: string; readonly env?: string }) {}
  get description(): string {
    return this.from.file !== undefined ? this.from.file : `env ${this.from.env ?? '?'}`;
  }
  async load(): Promise<readonly Jwk[]> {
    let bytes: Buffer;
    if (this.from.file !== undefined) {
      bytes = await readFile(this.from.file);
      if (bytes.at(-1) === 0x0a) bytes = bytes.subarray(0, bytes.at(-2) === 0x0d ? -2 : -1);
    } else if (this.from.env !== undefined) {
      const v = process.env[this.from.env];
      if (v === undefined || v === '') throw new Error(`environment variable ${this.from.env} is not set`);
      bytes = Buffer.from(v, 'utf8');
    } else {
      throw new Error('secret source names neither a file nor an env var');
    }
    return [{ kty: 'oct', k: bytes.toString('base64url') }];
  }
  watch(onChange: () => void): () => void {
    return this.from.file !== undefined ? watchPath(this.from.file, onChange) : () => undefined;
  }
}

function watchPath(path: string, onChange: () => void): () => void {
  let w: FSWatcher | undefined;
  const name = basename(path);
  try {
    w = watch(dirname(path), { persistent: false }, (_event, file) => {
      // ConfigMap swaps touch `..data`; any change in the directory may change our file.
      if (file === null || file === name || file.startsWith('..')) onChange();
    });
    w.on('error', () => undefined);
  } catch {
    return () => undefined;
  }
  return () => w?.close();
}

/** The source a compiled provider names. Exactly one kind per provider (the schema enforces it). */
export function sourceFor(p: AuthProvider): KeySource {
  if (p.secret !== undefined) {
    if (p.jwks !== undefined) throw new Error(`provider ${p.name}: an HMAC secret cannot be combined with asymmetric keys`);
    return new SecretKeySource(p.secret);
  }
  const j = p.jwks;
  if (j === undefined) throw new Error(`provider ${p.name}: no keys configured (jwks or secret)`);
  if (j.uri !== undefined) return new HttpJwksSource(j.uri);
  if (j.discovery) return new DiscoveryJwksSource(p.issuer);
  if (j.file !== undefined) return new FileJwksSource(j.file);
  if (j.inline !== undefined) return new InlineJwksSource(j.inline);
  throw new Error(`provider ${p.name}: jwks names no uri, discovery, file or inline keys`);
}
