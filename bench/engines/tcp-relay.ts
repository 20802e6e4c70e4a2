import { connect, createServer, type Socket } from 'node:net';
import { engineArgs } from './common.js';

/**
 * Not a proxy: the floor under any Node.js one. Each client connection gets its own connection to
 * the app and bytes are copied both ways as they arrive, nothing parsed, nothing judged. Per
 * request it makes the syscalls an HTTP/1.1 proxy cannot avoid (a read and a write each way) and
 * runs the least JavaScript Node allows around them; what it serves per core bounds what sidegate's
 * HTTP/1.1 front could reach on this runtime.
 */
const args = engineArgs(process.argv.slice(2));
const host = args.upstream.hostname;
const port = Number(args.upstream.port);

function relay(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
  from.on('close', () => to.destroy());
}

const server = createServer({ noDelay: true }, (client) => {
  const app = connect({ host, port, noDelay: true });
  relay(client, app);
  relay(app, client);
});
server.listen(args.port, args.host);
