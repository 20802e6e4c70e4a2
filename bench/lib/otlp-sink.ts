import { createServer, type Server } from 'node:http';

/**
 * The smallest OTLP/HTTP receiver the tracing rows need: POST <prefix>/v1/traces answered 200 `{}`
 * (an ExportTraceServiceResponse without partial success), everything else 404. It runs inside the
 * harness (pinned to the load core), so its CPU counts as ours on that core, and it counts what it
 * received per prefix (one per target: `endpoint(name)`), so the report shows the spans left the proxy.
 */
export interface OtlpSink {
  /** The OTEL_EXPORTER_OTLP_ENDPOINT for one target. */
  endpoint(name: string): string;
  /** Export requests and body bytes received so far from that target. */
  received(name: string): { requests: number; bytes: number };
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  const counts = new Map<string, { requests: number; bytes: number }>();
  const server: Server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (d: Buffer) => { bytes += d.length; });
    req.on('end', () => {
      const m = /^\/t\/([^/]+)\/v1\/traces$/.exec(req.url ?? '');
      if (req.method === 'POST' && m) {
        const c = counts.get(m[1]!) ?? { requests: 0, bytes: 0 };
        c.requests++;
        c.bytes += bytes;
        counts.set(m[1]!, c);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}');
      } else {
        res.writeHead(404, { 'content-length': '0' }).end();
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    endpoint: (name) => `http://127.0.0.1:${port}/t/${encodeURIComponent(name)}`,
    received: (name) => ({ ...(counts.get(encodeURIComponent(name)) ?? { requests: 0, bytes: 0 }) }),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
