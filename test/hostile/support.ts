import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { testKey, type TestKey } from '../helpers/jwks.js';

/** What the app received, exactly as its own HTTP parser framed it. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

export interface RecordingApp {
  readonly url: string;
  /** Requests whose body the app read to its end. */
  readonly received: Received[];
  /** `METHOD target` of every request the app began to parse, complete or not. */
  readonly started: string[];
  /** Requests whose connection ended before the body did (the app saw no complete request). */
  readonly aborted: string[];
  close(): Promise<void>;
}

/** An app that records every request it parsed (method, target, headers, body) and answers 200. */
export async function startRecordingApp(): Promise<RecordingApp> {
  const received: Received[] = [];
  const started: string[] = [];
  const aborted: string[] = [];
  const server: Server = createServer((req, res) => {
    started.push(`${req.method ?? ''} ${req.url ?? ''}`);
    req.on('aborted', () => aborted.push(`${req.method ?? ''} ${req.url ?? ''}`));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('latin1'),
      });
      const body = JSON.stringify({ n: received.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-app': '1' });
      res.end(body);
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    started,
    aborted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Write raw bytes on a fresh connection and collect what comes back until the server closes or
 * `quietMs` pass without data. `chunks` are written one after the other (split writes).
 */
export function rawExchange(port: number, chunks: readonly (string | Buffer)[], quietMs = 400): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      arm();
    });
    s.on('close', done);
    s.on('error', () => undefined);
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
      arm();
    });
  });
}

/** Status codes of every response in a raw HTTP/1.1 byte stream, in order. */
export function statuses(raw: string): number[] {
  return [...raw.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

/** A key and the policy text of a provider with inline keys (no JWKS server needed). */
export function inlineProvider(issuer = 'https://idp.hostile.test', extra = ''): { key: TestKey; yaml: string } {
  const key = testKey('ES256', 'hostile-k1');
  const yaml = `      - name: idp
        issuer: ${issuer}
        audiences: [hostile]
        algorithms: [ES256]
        jwks: { keys: [ ${JSON.stringify(key.jwk)} ] }
${extra}`;
  return { key, yaml };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resident set size of a process in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}
