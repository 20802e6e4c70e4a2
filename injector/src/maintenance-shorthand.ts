/**
 * The `sidegate.dev/maintenance` shorthand:
 *
 *   on [retry-after <duration>] [except <path>[,<path>...]]
 *   off
 *
 * (`true` and `false` are read as `on` and `off`.) Parsed into the policy-document section
 * spec.maintenance (the same shape as in a policy file); the overlay then goes through the one
 * policy compiler, which checks the paths and the duration once more.
 */
import { parseDuration } from '../../policies/src/duration.js';
import { quote } from '../../policies/src/index.js';

export interface ShorthandMaintenance {
  readonly enabled: boolean;
  readonly retryAfter?: string;
  readonly except?: readonly { readonly paths: readonly string[] }[];
}

export const MAINTENANCE_GRAMMAR = 'on [retry-after <duration>] [except <path>,...], or off';

/** The section, or every problem found (each a sentence). */
export function parseMaintenanceShorthand(value: string): { maintenance: ShorthandMaintenance | undefined; problems: string[] } {
  const words = value
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  const problems: string[] = [];
  const head = words.shift()?.toLowerCase();
  if (head === 'off' || head === 'false') {
    if (words.length > 0) problems.push(`${quote(words.join(' '))}: options only apply to "on"`);
    return { maintenance: problems.length > 0 ? undefined : { enabled: false }, problems };
  }
  if (head !== 'on' && head !== 'true') {
    return { maintenance: undefined, problems: [`${quote(value.trim())} is not ${MAINTENANCE_GRAMMAR}`] };
  }
  let retryAfter: string | undefined;
  let except: string[] | undefined;
  while (words.length > 0) {
    const w = words.shift()!.toLowerCase();
    if (w === 'retry-after') {
      const d = words.shift();
      if (d === undefined) problems.push('retry-after needs a duration such as 60s or 10m');
      else if (!((parseDuration(d) ?? 0) > 0))
        problems.push(`retry-after ${quote(d)} is not a duration greater than zero such as 60s or 10m`);
      else if (retryAfter !== undefined) problems.push('retry-after is given twice');
      else retryAfter = d;
    } else if (w === 'except') {
      // The rest of the value: paths separated by commas (spaces after them are fine).
      const paths = words
        .splice(0)
        .join('')
        .split(',')
        .filter((p) => p !== '');
      const bad = paths.filter((p) => !p.startsWith('/') && p !== '*');
      if (paths.length === 0) problems.push('except needs paths, e.g. except /healthz,/status');
      else if (bad.length > 0) problems.push(`except: paths must start with / (${bad.map(quote).join(', ')})`);
      else except = paths;
    } else {
      problems.push(`unknown word ${quote(w)} (${MAINTENANCE_GRAMMAR})`);
    }
  }
  if (problems.length > 0) return { maintenance: undefined, problems };
  return {
    maintenance: {
      enabled: true,
      ...(retryAfter === undefined ? {} : { retryAfter }),
      ...(except === undefined ? {} : { except: [{ paths: except }] }),
    },
    problems,
  };
}
