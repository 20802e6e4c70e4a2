/**
 * `sidegate injector`: the HTTPS adapter over `admitPod` / `validatePolicyConfigMap`. It reads a
 * bounded body, decodes, answers, counts. Malformed input gets a 4xx, never a crash.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  admitPod,
  BadReviewError,
  decodeReview,
  review,
  validatePolicyConfigMap,
  type AdmissionResponse,
  type Outcome,
} from './admission.js';
import type { InjectorConfig } from './config.js';
import type { InjectorMetrics } from './metrics.js';

export interface WebhookOptions {
  readonly config: InjectorConfig;
  readonly certFile: string;
  readonly keyFile: string;
  readonly host: string;
  readonly port: number;
  readonly metrics: InjectorMetrics;
  /** Largest accepted body; the API server sends at most ~3 MiB objects. */
  readonly maxBodyBytes?: number;
  /** How often the certificate files are checked for changes. */
  readonly certPollMs?: number;
  readonly log?: (level: 'info' | 'warn', msg: string) => void;
}

export interface Webhook {
  readonly server: Server;
  readonly port: number;
  /**
   * Shutting down without failing an admission: for `delayMs` keep answering (readiness 503, so
   * the Service drops this pod; every answer closes its connection, so the apiserver dials another
   * pod next), then stop accepting, close idle connections and wait up to `timeoutMs` for the
   * reviews in flight before closing the rest.
   */
  drain(delayMs: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

const ENDPOINTS: Readonly<
  Record<string, (req: ReturnType<typeof decodeReview>, c: InjectorConfig) => { response: AdmissionResponse; outcome: Outcome }>
> = {
  '/inject': admitPod,
  '/validate': validatePolicyConfigMap,
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new HttpError(413, `body larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) throw new HttpError(413, `body larger than ${max} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function handleReview(path: string, req: IncomingMessage, res: ServerResponse, o: WebhookOptions): Promise<void> {
  const endpoint = path.slice(1);
  const start = performance.now();
  try {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST');
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') throw new HttpError(415, 'content-type must be application/json');
    const body = await readBody(req, o.maxBodyBytes ?? 6 * 1024 * 1024);
    if (body.length === 0) throw new HttpError(400, 'empty body');
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'body is not JSON');
    }
    const decoded = decodeReview(json);
    const handler = ENDPOINTS[path];
    if (handler === undefined) throw new HttpError(404, 'not found');
    const { response, outcome } = handler(decoded, o.config);
    o.metrics.reviews.inc({ endpoint, result: outcome.result });
    if (outcome.result === 'skipped') o.metrics.skips.inc({ reason: outcome.reason });
    send(res, 200, JSON.stringify(review(response)));
  } catch (e) {
    const status = e instanceof HttpError ? e.status : e instanceof BadReviewError ? 400 : 500;
    if (status === 500) o.log?.('warn', `review failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    o.metrics.reviews.inc({ endpoint, result: status === 500 ? 'error' : 'bad_request' });
    send(res, status, JSON.stringify({ error: e instanceof Error ? e.message : 'internal error' }));
  } finally {
    o.metrics.duration.observe({ endpoint }, (performance.now() - start) / 1000);
  }
}

async function route(req: IncomingMessage, res: ServerResponse, o: WebhookOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === '/healthz' || path === '/readyz') return send(res, 200, 'ok\n', 'text/plain');
  if (path === '/metrics') return send(res, 200, await o.metrics.registry.metrics(), o.metrics.registry.contentType);
  if (path in ENDPOINTS) return handleReview(path, req, res, o);
  send(res, 404, JSON.stringify({ error: 'not found' }));
}

export async function startWebhook(o: WebhookOptions): Promise<Webhook> {
  const load = (): { cert: Buffer; key: Buffer } => ({ cert: readFileSync(o.certFile), key: readFileSync(o.keyFile) });
  let draining = false;
  const server = createServer({ ...load(), minVersion: 'TLSv1.2' }, (req, res) => {
    if (draining) {
      // Every answer closes its connection, so the apiserver's next call dials a pod that stays.
      res.setHeader('connection', 'close');
      if ((req.url ?? '').split('?')[0] === '/readyz') {
        send(res, 503, 'draining\n', 'text/plain');
        return;
      }
    }
    route(req, res, o).catch(() => res.destroy());
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  // Longer than the apiserver keeps an idle webhook connection (client-go: 90 s), so it is always
  // the apiserver that closes one: a connection this side closed just as the apiserver reused it
  // fails that admission ("write: broken pipe"), and with failurePolicy Fail refuses the pod.
  server.keepAliveTimeout = 120_000;
  // cert-manager and Secret volume updates swap the files: poll (stat follows the symlinks).
  const reload = (cur: { mtimeMs: number }, prev: { mtimeMs: number }): void => {
    if (cur.mtimeMs === prev.mtimeMs) return;
    try {
      server.setSecureContext({ ...load(), minVersion: 'TLSv1.2' });
      o.metrics.certReloads.inc({ result: 'ok' });
      o.log?.('info', 'serving certificate reloaded');
    } catch (e) {
      o.metrics.certReloads.inc({ result: 'error' });
      o.log?.('warn', `certificate reload failed, keeping the previous one: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const interval = o.certPollMs ?? 5000;
  watchFile(o.certFile, { interval, persistent: false }, reload);
  watchFile(o.keyFile, { interval, persistent: false }, reload);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async drain(delayMs, timeoutMs) {
      draining = true;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      unwatchFile(o.certFile, reload);
      unwatchFile(o.keyFile, reload);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([closed, late]);
      clearTimeout(timer);
      server.closeAllConnections();
      await closed;
    },
    async close() {
      unwatchFile(o.certFile, reload);
      unwatchFile(o.keyFile, reload);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
