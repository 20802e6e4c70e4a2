import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One export request as it arrived on the wire. */
export interface CapturedExport {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly bytes: number;
}

export interface CapturingCollector {
  /** http://127.0.0.1:PORT (an OTLP/HTTP base: exporters append /v1/traces). */
  readonly url: string;
  readonly received: CapturedExport[];
  close(): Promise<void>;
}

/**
 * Records what an exporter put on the wire — content type, encoding, headers — and answers 200.
 * The real Jaeger (helpers/jaeger.ts) shows what a collector made of the spans; this shows what
 * Jaeger cannot: which wire format and which headers a setting produced.
 */
export async function startCapturingCollector(): Promise<CapturingCollector> {
  const received: CapturedExport[] = [];
  const server: Server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, bytes });
      const proto = String(req.headers['content-type']).includes('protobuf');
      res.writeHead(200, { 'content-type': proto ? 'application/x-protobuf' : 'application/json' });
      res.end(proto ? '' : '{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
