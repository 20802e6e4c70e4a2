import { familyUsable, installRules, removeRules, type Runner } from '../injector/src/network/iptables.js';
import { chainRules, jumpRules, parsePorts, type Family, type NetworkOptions } from '../injector/src/network/rules.js';
import type { CliIo } from './io.js';

const USAGE = `usage: sidegate init-network [flags]

Installs (or with --cleanup removes) the nat rules that send inbound TCP to the sidecar. Needs
NET_ADMIN and NET_RAW. Running it again replaces the rules; it never adds a second copy.
  --proxy-port N              sidecar listener (default 15006)
  --admin-port N              admin port, never redirected (default 15090)
  --proxy-uid N               the sidecar's UID, exempt from redirection (default 10101)
  --inbound-ports LIST|*      ports redirected to the sidecar (default *)
  --exclude-inbound-ports L   ports never redirected
  --ipv6 auto|on|off          auto: also ip6tables when usable (default auto)
  --cleanup                   remove every sidegate rule and chain
  --dry-run                   print the iptables commands instead of running them`;

/** A runner that prints what it would do and pretends the chains do not exist yet. */
function dryRunner(io: CliIo): Runner {
  return (cmd, args) => {
    const probe = args.includes('-C') || args.includes('-L');
    if (!probe) io.out(`${cmd} ${args.map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
    // Only the built-in chains "exist": the family is usable, our chains and jumps are missing.
    const builtin = args.includes('-L') && args.includes('PREROUTING');
    return Promise.resolve({ code: probe && !builtin ? 1 : 0, stdout: '', stderr: '' });
  };
}

function parseNumber(s: string | undefined, what: string, max: number): number | string {
  if (s === undefined || !/^\d+$/.test(s) || Number(s) > max) return `${what}: "${s ?? ''}" is not a valid number`;
  return Number(s);
}

/** `sidegate init-network`: the sidegate-init container's job. */
export async function runInitNetwork(args: string[], io: CliIo, runner?: Runner): Promise<number> {
  const raw: Record<string, string> = {
    'proxy-port': '15006',
    'admin-port': '15090',
    'proxy-uid': '10101',
    'inbound-ports': '*',
    'exclude-inbound-ports': '',
    ipv6: 'auto',
  };
  let cleanup = false;
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--cleanup') cleanup = true;
    else if (a === '--dry-run') dryRun = true;
    else if (a === '-h' || a === '--help') {
      io.out(USAGE);
      return 0;
    } else if (a.startsWith('--') && a.slice(2) in raw && args[i + 1] !== undefined) raw[a.slice(2)] = args[++i] ?? '';
    else {
      io.err(`sidegate init-network: unknown or incomplete argument ${a}\n${USAGE}`);
      return 2;
    }
  }
  const problems: string[] = [];
  const num = (k: string, max: number): number => {
    const r = parseNumber(raw[k], `--${k}`, max);
    if (typeof r === 'string') {
      problems.push(r);
      return 0;
    }
    return r;
  };
  const inbound = parsePorts(raw['inbound-ports'] ?? '*', true);
  const exclude = parsePorts(raw['exclude-inbound-ports'] ?? '', false);
  if ('problem' in inbound) problems.push(`--inbound-ports: ${inbound.problem}`);
  if ('problem' in exclude) problems.push(`--exclude-inbound-ports: ${exclude.problem}`);
  if (!['auto', 'on', 'off'].includes(raw.ipv6 ?? '')) problems.push('--ipv6: expected auto, on or off');
  const opts: NetworkOptions = {
    proxyPort: num('proxy-port', 65535),
    adminPort: num('admin-port', 65535),
    proxyUid: num('proxy-uid', 2 ** 31),
    inboundPorts: 'ports' in inbound ? inbound.ports : [],
    excludeInboundPorts: 'ports' in exclude && exclude.ports !== '*' ? exclude.ports : [],
  };
  if (problems.length > 0) {
    io.err(`sidegate init-network: ${problems.join('; ')}`);
    return 2;
  }
  const run = dryRun ? dryRunner(io) : runner;
  const families: Family[] = [4];
  if (raw.ipv6 === 'on') families.push(6);
  else if (raw.ipv6 === 'auto') {
    if (dryRun || (await familyUsable(6, run))) families.push(6);
    else io.err('sidegate init-network: ip6tables unusable here; IPv6 rules skipped');
  }
  try {
    for (const f of families) {
      if (cleanup) await removeRules(f, run);
      else await installRules(opts, f, run);
    }
  } catch (e) {
    io.err(`sidegate init-network: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  if (!dryRun) {
    const n = chainRules(opts, 4).length + jumpRules().length;
    io.out(cleanup ? 'sidegate rules removed' : `sidegate rules installed (${n} per family, IPv${families.join(' and IPv')})`);
  }
  return 0;
}
