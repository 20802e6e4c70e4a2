import { pipeline } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { badGateway, engineArgs, hasBody, requestHeaders, responseHeaders, serve } from './common.js';

/** Engine: undici `Pool.request()` (promise API), the response body a Readable piped to the client. */
const args = engineArgs(process.argv.slice(2));
const pool = new Pool(args.upstream.origin, { pipelining: 1, keepAliveTimeout: 4_000, connect: { noDelay: true } });

serve(args, (req, res) => {
  const ac = new AbortController();
  res.on('close', () => { if (!res.writableFinished) ac.abort(); });
  pool.request({
    path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers: requestHeaders(req),
    body: hasBody(req) ? req : null, signal: ac.signal,
  }).then(({ statusCode, headers, body }) => {
    res.writeHead(statusCode, responseHeaders(headers));
    pipeline(body, res, () => { /* errors end both streams */ });
  }, () => badGateway(res));
});
