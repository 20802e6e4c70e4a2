import type { AddressInfo, Server } from 'node:net';

/**
 * Listen on host:port. `::` (what the injector uses, so IPv6 traffic redirected by ip6tables has a
 * listener) falls back to `0.0.0.0` on nodes whose kernel has IPv6 switched off.
 */
export async function bind(server: Server, host: string, port: number): Promise<AddressInfo> {
  try {
    await listenOnce(server, host, port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (host !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw err;
    await listenOnce(server, '0.0.0.0', port);
  }
  return server.address() as AddressInfo;
}

function listenOnce(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
