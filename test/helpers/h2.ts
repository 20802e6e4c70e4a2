import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';

/** One request on an HTTP/2 session, collected: response headers, trailers and body text. */
export function h2request(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: string,
): Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let h: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (x) => {
      h = x;
    });
    req.on('trailers', (x) => {
      trailers = x;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ headers: h, trailers, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}
