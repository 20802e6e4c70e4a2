/**
 * The iptables rules `sidegate init-network` installs, as data. Two chains in the nat table, each
 * rule commented so `iptables-save` explains itself:
 *
 *   PREROUTING -p tcp → SIDEGATE_INBOUND: sidecar ports and excluded ports RETURN, the app's
 *     inbound ports REDIRECT to the sidecar listener.
 *   OUTPUT -p tcp → SIDEGATE_OUTPUT: the proxy's UID RETURNs (its calls to the app must never
 *     come back to itself), loopback RETURNs, calls from other containers to the pod's own address
 *     go through SIDEGATE_INBOUND like outside traffic.
 */

export interface NetworkOptions {
  readonly proxyPort: number;
  readonly adminPort: number;
  readonly proxyUid: number;
  /** Ports redirected to the sidecar, or '*' for every TCP port. */
  readonly inboundPorts: readonly number[] | '*';
  readonly excludeInboundPorts: readonly number[];
}

export type Family = 4 | 6;

export const CHAIN_INBOUND = 'SIDEGATE_INBOUND';
export const CHAIN_OUTPUT = 'SIDEGATE_OUTPUT';

/** Jumps from the built-in chains into ours: [built-in chain, rule args]. */
export function jumpRules(): [string, string[]][] {
  return [
    ['PREROUTING', ['-p', 'tcp', '-m', 'comment', '--comment', 'sidegate: inbound to the sidecar', '-j', CHAIN_INBOUND]],
    ['OUTPUT', ['-p', 'tcp', '-m', 'comment', '--comment', 'sidegate: pod-local calls', '-j', CHAIN_OUTPUT]],
  ];
}

const comment = (text: string): string[] => ['-m', 'comment', '--comment', `sidegate: ${text}`];

/** The rules of our two chains, in order: [chain, rule args]. */
export function chainRules(o: NetworkOptions, family: Family): [string, string[]][] {
  const rules: [string, string[]][] = [];
  const ret = (port: number, why: string): void => {
    rules.push([CHAIN_INBOUND, ['-p', 'tcp', '--dport', String(port), ...comment(why), '-j', 'RETURN']]);
  };
  ret(o.proxyPort, 'sidecar listener');
  ret(o.adminPort, 'admin port is never redirected');
  for (const p of o.excludeInboundPorts) ret(p, `excluded inbound port ${p}`);
  const redirect = ['-j', 'REDIRECT', '--to-ports', String(o.proxyPort)];
  if (o.inboundPorts === '*') {
    rules.push([CHAIN_INBOUND, ['-p', 'tcp', ...comment('every inbound port to the sidecar'), ...redirect]]);
  } else {
    for (const p of o.inboundPorts) {
      rules.push([CHAIN_INBOUND, ['-p', 'tcp', '--dport', String(p), ...comment(`app port ${p} to the sidecar`), ...redirect]]);
    }
  }
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';
  rules.push(
    [
      CHAIN_OUTPUT,
      [
        '-m',
        'owner',
        '--uid-owner',
        String(o.proxyUid),
        ...comment(`connections of the proxy UID ${o.proxyUid} are never redirected`),
        '-j',
        'RETURN',
      ],
    ],
    [CHAIN_OUTPUT, ['-d', loopback, ...comment('loopback calls stay direct'), '-j', 'RETURN']],
    [
      CHAIN_OUTPUT,
      ['-m', 'addrtype', '--dst-type', 'LOCAL', ...comment('calls to the pod address go in like outside traffic'), '-j', CHAIN_INBOUND],
    ],
  );
  return rules;
}

/** Parses a comma-separated port list (`8080,9090`) or, when allowed, `*`. */
export function parsePorts(s: string, allowStar: boolean): { ports: number[] | '*' } | { problem: string } {
  const t = s.trim();
  if (t === '*' && allowStar) return { ports: '*' };
  if (t === '') return { ports: [] };
  const out: number[] = [];
  for (const part of t.split(',')) {
    if (!/^\d+$/.test(part.trim())) return { problem: `"${part}" is not a port` };
    const n = Number(part.trim());
    if (n < 1 || n > 65535) return { problem: `${n} is outside 1-65535` };
    if (!out.includes(n)) out.push(n);
  }
  return { ports: out };
}
