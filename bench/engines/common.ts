import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';

/**
 * What every alternative forwarding engine shares, so the comparison measures the engine and not
 * the surroundings: argument parsing, the same minimal correct header work (hop-by-hop and
 * Connection-listed headers removed, x-forwarded-for and via added), the same server settings.
 * Engines are separate processes started by bench/run.ts, pinned to core 0 like sidegate.
 */

export interface EngineArgs {
  readonly host: string;
  readonly port: number;
  readonly upstream: URL;
}

export function engineArgs(argv: readonly string[]): EngineArgs {
  const get = (flag: string): string => {
    const i = argv.indexOf(flag);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (v === undefined) throw new Error(`usage: --listen HOST:PORT --upstream http://HOST:PORT (missing ${flag})`);
    return v;
  };
  const listen = get('--listen');
  const colon = listen.lastIndexOf(':');
  return { host: listen.slice(0, colon), port: Number(listen.slice(colon + 1)), upstream: new URL(get('--upstream')) };
}

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'http2-settings',
]);

function listed(h: IncomingHttpHeaders): Set<string> | undefined {
  const c = h.connection;
  if (c === undefined) return undefined;
  return new Set(
    c
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== '' && s !== 'close' && s !== 'keep-alive'),
  );
}

export function requestHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const src = req.headers;
  const drop = listed(src);
  const out: Record<string, string | string[]> = {};
  for (const k in src) {
    if (HOP_BY_HOP.has(k) || drop?.has(k) === true) continue;
    const v = src[k];
    if (v !== undefined) out[k] = v;
  }
  const ip = req.socket.remoteAddress ?? '';
  const prior = src['x-forwarded-for'];
  out['x-forwarded-for'] = prior === undefined ? ip : `${Array.isArray(prior) ? prior.join(', ') : prior}, ${ip}`;
  out.via = src.via === undefined ? '1.1 engine' : `${src.via}, 1.1 engine`;
  return out;
}

export function responseHeaders(src: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const drop = listed(src);
  const out: OutgoingHttpHeaders = {};
  for (const k in src) {
    if (HOP_BY_HOP.has(k) || drop?.has(k) === true) continue;
    out[k] = src[k];
  }
  return out;
}

export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

export function badGateway(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway\n');
}

export function serve(args: EngineArgs, handler: (req: IncomingMessage, res: ServerResponse) => void): void {
  const server = createServer({ keepAliveTimeout: 75_000, requestTimeout: 0 }, handler);
  server.listen(args.port, args.host);
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
