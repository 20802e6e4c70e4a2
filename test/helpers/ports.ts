import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago, for servers started with a port number (redis-server,
 * a spawned sidegate) rather than port 0.
 *
 * The port is drawn at random below the kernel's ephemeral range (`ip_local_port_range`), then
 * checked by binding it. A port the kernel picked for `listen(0)` comes from that range, which is
 * also where every outgoing connection of every test running in parallel takes its local port: in
 * the time between closing the check and the server's own bind, one of those connections could
 * take it (seen: a spawned proxy failing with EADDRINUSE in CI). Below the range only another
 * test's freePort can collide, one chance in thousands.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [low, high] = portRange();
  // An ephemeral range reaching down among the service ports leaves nowhere safe below it.
  for (let i = 0; high - low >= 1000 && i < 50; i++) {
    const port = low + Math.floor(Math.random() * (high - low));
    // Not one this process handed out already (its server may not have bound it yet).
    if (handedOut.has(port) || !(await canBind(port, host))) continue;
    handedOut.add(port);
    return port;
  }
  // Every port tried was taken, or there is no room below the range: let the kernel pick one.
  return bind(0, host);
}

const handedOut = new Set<number>();

/** [low, high) of the ports freePort draws from. */
function portRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // Not Linux: Linux's default range.
  }
  // Above the well-known and common service ports (redis 6379, 8080, 9090, 15000s of sidecars).
  return [20000, ephemeralLow];
}

async function canBind(port: number, host: string): Promise<boolean> {
  try {
    await bind(port, host);
    return true;
  } catch {
    return false;
  }
}

function bind(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, host, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(bound));
    });
  });
}
