/**
 * Installs and removes the rules from rules.ts with the iptables binaries. Idempotent by
 * construction: our chains are flushed and refilled, and each jump is added only when `-C` says it
 * is missing, so running init twice leaves exactly one copy of every rule.
 */
import { execFile } from 'node:child_process';
import { CHAIN_INBOUND, CHAIN_OUTPUT, chainRules, jumpRules, type Family, type NetworkOptions } from './rules.js';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command; swapped for a recorder in `--dry-run`. */
export type Runner = (cmd: string, args: readonly string[]) => Promise<RunResult>;

export const execRunner: Runner = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 127;
      resolve({ code, stdout, stderr: err !== null && stderr === '' ? err.message : stderr });
    });
  });

export class IptablesError extends Error {
  override readonly name = 'IptablesError';
}

const binary = (f: Family): string => (f === 4 ? 'iptables' : 'ip6tables');

async function must(run: Runner, f: Family, args: string[]): Promise<void> {
  const r = await run(binary(f), ['-w', '5', ...args]);
  if (r.code !== 0) {
    const hint = r.code === 127 ? ` (is ${binary(f)} installed? apt-get install iptables)` : '';
    throw new IptablesError(`${binary(f)} ${args.join(' ')} failed: ${r.stderr.trim()}${hint}`);
  }
}

async function exists(run: Runner, f: Family, args: string[]): Promise<boolean> {
  return (await run(binary(f), ['-w', '5', ...args])).code === 0;
}

export async function installRules(o: NetworkOptions, f: Family, run: Runner = execRunner): Promise<void> {
  for (const chain of [CHAIN_INBOUND, CHAIN_OUTPUT]) {
    if (!(await exists(run, f, ['-t', 'nat', '-L', chain, '-n']))) await must(run, f, ['-t', 'nat', '-N', chain]);
    await must(run, f, ['-t', 'nat', '-F', chain]);
  }
  for (const [chain, rule] of chainRules(o, f)) await must(run, f, ['-t', 'nat', '-A', chain, ...rule]);
  for (const [chain, rule] of jumpRules()) {
    if (!(await exists(run, f, ['-t', 'nat', '-C', chain, ...rule]))) await must(run, f, ['-t', 'nat', '-A', chain, ...rule]);
  }
}

export async function removeRules(f: Family, run: Runner = execRunner): Promise<void> {
  for (const [chain, rule] of jumpRules()) {
    // Delete every copy, in case something else added the jump twice.
    for (let i = 0; i < 100 && (await exists(run, f, ['-t', 'nat', '-C', chain, ...rule])); i++) {
      await must(run, f, ['-t', 'nat', '-D', chain, ...rule]);
    }
  }
  // Flush both before deleting either: SIDEGATE_OUTPUT refers to SIDEGATE_INBOUND.
  const present: string[] = [];
  for (const chain of [CHAIN_INBOUND, CHAIN_OUTPUT]) {
    if (await exists(run, f, ['-t', 'nat', '-L', chain, '-n'])) present.push(chain);
  }
  for (const chain of present) await must(run, f, ['-t', 'nat', '-F', chain]);
  for (const chain of present) await must(run, f, ['-t', 'nat', '-X', chain]);
}

/** True when this family can be managed here (ip6tables fails where IPv6 is disabled). */
export async function familyUsable(f: Family, run: Runner = execRunner): Promise<boolean> {
  return exists(run, f, ['-t', 'nat', '-L', 'PREROUTING', '-n']);
}
