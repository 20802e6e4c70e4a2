import { Agent, request } from 'node:http';
import { badGateway, engineArgs, hasBody, requestHeaders, responseHeaders, serve } from './common.js';

/** Engine: node:http `request()` through a keep-alive Agent, bodies piped both ways. */
const args = engineArgs(process.argv.slice(2));
const agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
const hostname = args.upstream.hostname;
const port = Number(args.upstream.port);

serve(args, (req, res) => {
  const up = request({ hostname, port, agent, method: req.method, path: req.url, headers: requestHeaders(req) }, (ur) => {
    res.writeHead(ur.statusCode ?? 502, responseHeaders(ur.headers));
    ur.pipe(res);
  });
  up.on('error', () => badGateway(res));
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  if (hasBody(req)) req.pipe(up);
  else up.end();
});
