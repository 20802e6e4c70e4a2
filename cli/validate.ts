/**
 * `sidegate validate FILE...`: checks policy files the way the sidecar will load them, so an
 * operator can gate a rollout on it (exit 0 all valid, 1 any invalid, 2 usage error).
 */
import { compilePolicy, loadPolicyFile } from '../policies/src/index.js';
import type { PolicyProblem } from '../policies/src/index.js';

export interface ValidateIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const VALIDATE_USAGE = 'usage: sidegate validate FILE...  (policy YAML/JSON, or a ConfigMap holding data["policy.yaml"])';

/** `FILE: /json/path: message`, or `FILE: message` for problems about the whole file. */
export function formatProblem(file: string, p: PolicyProblem): string {
  return p.path === '' ? `${file}: ${p.message}` : `${file}: ${p.path}: ${p.message}`;
}

export async function runValidate(args: string[], io: ValidateIo): Promise<number> {
  const files: string[] = [];
  let options = true;
  for (const arg of args) {
    if (options && arg === '--') {
      options = false;
    } else if (options && (arg === '-h' || arg === '--help')) {
      io.out(VALIDATE_USAGE);
      return 0;
    } else if (options && arg.startsWith('-') && arg !== '-') {
      io.err(`sidegate validate: unknown option ${arg}`);
      io.err(VALIDATE_USAGE);
      return 2;
    } else {
      files.push(arg);
    }
  }
  if (files.length === 0) {
    io.err(VALIDATE_USAGE);
    return 2;
  }
  let failed = false;
  for (const file of files) {
    const loaded = await loadPolicyFile(file === '-' ? '/dev/stdin' : file);
    const result = loaded.ok ? compilePolicy(loaded.doc) : loaded;
    if (result.ok) {
      io.out(`${file}: ok (policy ${result.policy.name}, version ${result.policy.version})`);
    } else {
      failed = true;
      for (const p of result.problems) io.out(formatProblem(file, p));
    }
  }
  return failed ? 1 : 0;
}
