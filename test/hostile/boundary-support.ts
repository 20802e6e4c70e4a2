import { createServer, type Server, type Socket } from 'node:net';

export interface LineApp {
  readonly url: string;
  /** Every request head the app got (request line and fields, CRLF-separated), as latin1: one char per byte. */
  readonly heads: string[];
  /** The request line of each of `heads`. */
  readonly lines: string[];
  close(): Promise<void>;
}

/**
 * An HTTP/1.1 app over raw sockets that records every request head byte for byte and answers
 * each one 200, reading the next head after a Content-Length body. Like many servers (Go's
 * net/http, for one) it ignores Upgrade and keeps the connection's HTTP framing; and it refuses
 * nothing, so it shows exactly what the sidecar sent where a node:http app would hide it by
 * refusing the head itself.
 */
export async function startLineApp(): Promise<LineApp> {
  const heads: string[] = [];
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let skip = 0;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          buf = buf.subarray(n);
          skip -= n;
          if (skip > 0) return;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        heads.push(head);
        lines.push(head.split('\r\n', 1)[0]!);
        skip = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    heads,
    lines,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
