import { Pool, type Dispatcher } from 'undici';
import { badGateway, engineArgs, hasBody, requestHeaders, responseHeaders, serve } from './common.js';

/** Engine: undici `Pool.stream()`: the factory returns the client response as the body's Writable. */
const args = engineArgs(process.argv.slice(2));
const pool = new Pool(args.upstream.origin, { pipelining: 1, keepAliveTimeout: 4_000, connect: { noDelay: true } });

serve(args, (req, res) => {
  const ac = new AbortController();
  res.on('close', () => { if (!res.writableFinished) ac.abort(); });
  pool.stream({
    path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers: requestHeaders(req),
    body: hasBody(req) ? req : null, signal: ac.signal,
  }, ({ statusCode, headers }) => {
    res.writeHead(statusCode, responseHeaders(headers));
    return res;
  }).catch(() => badGateway(res));
});
