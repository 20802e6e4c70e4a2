/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON in tests */
import { Agent, request } from 'undici';

export interface KubeResponse {
  readonly status: number;
  readonly body: any;
  /** `Warning` headers: admission warnings arrive here, as kubectl prints them. */
  readonly warnings: readonly string[];
}

/**
 * The few REST calls the cluster tests make, over HTTPS with a client certificate, as kubectl makes
 * them. `sidegate check` reads the cluster through `@kubernetes/client-node`; the tests keep plain
 * requests for create/get/patch/delete/watch-by-polling, which show the exact paths and status codes
 * a test asserts on, and keep the tests' view of the API independent of the client check uses.
 */
export class KubeApi {
  private readonly agent: Agent;

  constructor(
    readonly server: string,
    tls: { ca: Buffer; cert: Buffer; key: Buffer },
  ) {
    this.agent = new Agent({ connect: { ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' } });
  }

  async call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<KubeResponse> {
    const r = await request(`${this.server}${path}`, {
      method,
      dispatcher: this.agent,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.body.text();
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* /readyz and friends answer text */
    }
    const w = r.headers.warning;
    const warnings = (w === undefined ? [] : Array.isArray(w) ? w : [w]).map((x) => x.replace(/^299 - "(.*)"$/, '$1'));
    return { status: r.statusCode, body: parsed, warnings };
  }

  get(path: string): Promise<KubeResponse> {
    return this.call('GET', path);
  }
  delete(path: string): Promise<KubeResponse> {
    return this.call('DELETE', path);
  }

  /** POST; throws unless 201 (or 200/202 where the API answers so). */
  async create(path: string, obj: unknown): Promise<any> {
    const r = await this.call('POST', path, obj);
    if (r.status < 200 || r.status > 202) throw new Error(`POST ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Polls `probe` until it returns a value other than undefined; its last error or value is in the timeout message. */
  async waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline)
        throw new Error(
          `${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})`}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
