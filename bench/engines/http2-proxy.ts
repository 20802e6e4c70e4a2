import { engineArgs, serve } from './common.js';

/**
 * Engine: the `http2-proxy` package (`proxy.web()`), the DESIGN's named starting point. It is not a
 * dependency of sidegate; the harness only starts this engine when the package resolves
 * (bench/targets.ts), otherwise the row is recorded as skipped.
 */
interface Http2Proxy {
  web(req: unknown, res: unknown, opts: { hostname: string; port: number }, cb: (err: Error | null) => void): void;
}

const args = engineArgs(process.argv.slice(2));
const name = 'http2-proxy';
const mod = (await import(name)) as { default?: Http2Proxy } & Http2Proxy;
const proxy: Http2Proxy = mod.default ?? mod;
const hostname = args.upstream.hostname;
const port = Number(args.upstream.port);

serve(args, (req, res) => {
  proxy.web(req, res, { hostname, port }, (err) => {
    if (err && !res.headersSent) res.writeHead(502).end();
    else if (err) res.destroy();
  });
});
