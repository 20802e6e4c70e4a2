import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * The TCP addresses a process listens on, "ADDRESS:PORT", read from /proc (its socket inodes
 * matched against /proc/net/tcp and tcp6 of this network namespace). Lets a test prove that a
 * component binds loopback only.
 */
export function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m !== null) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const out: string[] = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is f[1], st f[3] (0A: LISTEN), inode f[9].
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
      const [hexAddr, hexPort] = f[1]!.split(':') as [string, string];
      out.push(`${v6 ? ipv6(hexAddr) : ipv4(hexAddr)}:${parseInt(hexPort, 16)}`);
    }
  }
  return out;
}

/** /proc/net/tcp writes the address as one host-order (little-endian here) 32-bit word. */
function ipv4(hex: string): string {
  return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
}

/** Four such words; printed uncompressed, ::ffff:a.b.c.d for a mapped IPv4 address. */
function ipv6(hex: string): string {
  const bytes = [0, 1, 2, 3].flatMap((w) => [3, 2, 1, 0].map((i) => parseInt(hex.slice(w * 8 + i * 2, w * 8 + i * 2 + 2), 16)));
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups = [0, 1, 2, 3, 4, 5, 6, 7].map((g) => ((bytes[g * 2]! << 8) | bytes[g * 2 + 1]!).toString(16));
  return `[${groups.join(':')}]`;
}
