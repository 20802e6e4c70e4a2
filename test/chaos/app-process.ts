/**
 * The app behind the sidecars in the fault suite, run as its own process so it can be killed
 * (SIGKILL, as an OOM kill or a crash) and started again on the same port.
 * `PORT` is required. Answers every request 200 with `x-chaos-app: 1`, so the load generator
 * can tell app answers from sidegate's own; `/slow?ms=N` waits first.
 */
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) throw new Error('PORT is required');

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const answer = (): void => {
    const body = JSON.stringify({ app: true, path: url, user: req.headers['x-user-id'] ?? null });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-chaos-app': '1' });
    res.end(body);
  };
  req.resume();
  req.on('end', () => {
    const m = /[?&]ms=(\d+)/.exec(url);
    if (url.startsWith('/slow') && m) setTimeout(answer, Number(m[1]));
    else answer();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write('listening\n');
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
