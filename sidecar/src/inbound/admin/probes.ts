import { http } from '../../protocol/node-http.js';
import type { IncomingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as tcpConnect } from 'node:net';
import { nodeHttp2 } from '../../node-http2.js';

const httpRequest = http.request;

/** One of the app's original kubelet probes, as the injector hands it over in SIDEGATE_APP_PROBES. */
export interface AppProbe {
  readonly httpGet?: {
    readonly path?: string;
    readonly port: number;
    readonly host?: string;
    readonly scheme?: string;
    readonly httpHeaders?: readonly { name: string; value: string }[];
  };
  readonly tcpSocket?: { readonly port: number; readonly host?: string };
  readonly grpc?: { readonly port: number; readonly service?: string };
  readonly timeoutSeconds?: number;
}

export type AppProbes = ReadonlyMap<string, AppProbe>;

export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

/** Parse SIDEGATE_APP_PROBES: `{ "<container>/<probe>": AppProbe }`. Throws with the offending key. */
export function parseAppProbes(json: string | undefined): AppProbes {
  const out = new Map<string, AppProbe>();
  if (json === undefined || json.trim() === '') return out;
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new Error(`SIDEGATE_APP_PROBES is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new Error('SIDEGATE_APP_PROBES must be a JSON object keyed "<container>/<probe>"');
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/(liveness|readiness|startup)$/.test(key))
      throw new Error(`SIDEGATE_APP_PROBES: key "${key}" is not "<container>/<liveness|readiness|startup>"`);
    const p = v as AppProbe;
    const kinds = [p.httpGet, p.tcpSocket, p.grpc].filter((x) => x !== undefined);
    if (typeof v !== 'object' || v === null || kinds.length !== 1)
      throw new Error(`SIDEGATE_APP_PROBES: "${key}" needs exactly one of httpGet, tcpSocket, grpc`);
    const port = (kinds[0] as { port?: unknown }).port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`SIDEGATE_APP_PROBES: "${key}" needs a numeric port (named ports are resolved by the injector)`);
    out.set(key, p);
  }
  return out;
}

/** Run a probe against the app as kubelet would: HTTP 200–399, a TCP connect, or gRPC SERVING. */
export function runProbe(p: AppProbe): Promise<ProbeResult> {
  const timeoutMs = Math.max(1, p.timeoutSeconds ?? 1) * 1000;
  if (p.httpGet) return httpProbe(p.httpGet, timeoutMs);
  if (p.tcpSocket) return tcpProbe(p.tcpSocket.host ?? '127.0.0.1', p.tcpSocket.port, timeoutMs);
  return grpcProbe(p.grpc!.port, p.grpc!.service ?? '', timeoutMs);
}

function httpProbe(g: NonNullable<AppProbe['httpGet']>, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/sidegate' };
    for (const h of g.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    const https = g.scheme?.toUpperCase() === 'HTTPS';
    const req = (https ? httpsRequest : httpRequest)(
      {
        host: g.host ?? '127.0.0.1',
        port: g.port,
        path: g.path ?? '/',
        method: 'GET',
        headers,
        timeout: timeoutMs,
        rejectUnauthorized: false, // kubelet does not verify probe certificates either
      },
      (res) => {
        res.resume();
        const s = res.statusCode ?? 0;
        resolve({ ok: s >= 200 && s < 400, detail: `HTTP ${s}` });
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve({ ok: false, detail: `timeout after ${timeoutMs} ms` });
    });
    req.on('error', (err) => resolve({ ok: false, detail: err.message }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      resolve({ ok: false, detail: `timeout after ${timeoutMs} ms` });
    });
    s.once('connect', () => {
      s.destroy();
      resolve({ ok: true, detail: 'connected' });
    });
    s.once('error', (err) => resolve({ ok: false, detail: err.message }));
  });
}

/** grpc.health.v1.Health/Check, hand-encoded: HealthCheckRequest{service=1}, response status=1 is SERVING. */
function grpcProbe(port: number, service: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const session = nodeHttp2().connect(`http://127.0.0.1:${port}`);
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      session.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, detail: `timeout after ${timeoutMs} ms` }), timeoutMs);
    session.on('error', (err: Error) => done({ ok: false, detail: err.message }));
    const svc = Buffer.from(service);
    const msg = svc.length > 0 ? Buffer.concat([Buffer.from([0x0a, svc.length]), svc]) : Buffer.alloc(0);
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    const req = session.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on('response', (h: IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
    });
    req.on('trailers', (t: IncomingHttpHeaders) => {
      grpcStatus = String(t['grpc-status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // Response message: field 1 (status), varint; 1 = SERVING.
      const serving = body.length >= 7 && body[5] === 0x08 && body[6] === 1;
      done({ ok: grpcStatus === '0' && serving, detail: `grpc-status ${grpcStatus ?? '?'}${serving ? ' SERVING' : ''}` });
    });
    req.on('error', (err: Error) => done({ ok: false, detail: err.message }));
    req.end(frame);
  });
}
