/**
 * A tiny app run as a separate process by the breaker tests, so "the app crashed" is a real
 * SIGKILL and "the app came back" a real new process on the same port. Usage: node app-process.js PORT.
 * Prints `ready` once listening and `hit <path>` for every request it receives.
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const server = createServer((req, res) => {
  process.stdout.write(`hit ${req.url ?? ''}\n`);
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('app ok');
});
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
