/**
 * The `sidegate.dev/rate-limit` shorthand:
 *
 *   <requests>/<period> [burst <n>] [by <key>[,<key>...]] [on <path>[,<path>...]]
 *
 * several limits separated by `;`. period: `s`, `m`, `h`, `d` (or `second`, `min`, ...) or a
 * duration such as `10s`. keys: `client-ip`, `method`, `route`, `header:<name>`, `claim:<name>`;
 * without `by` the limit is one budget for the whole service. Parsed into policy-document
 * rateLimits entries (the same shape as spec.rateLimits in a policy file).
 */

import { quote } from '../../policies/src/index.js';

export interface ShorthandLimit {
  readonly name: string;
  readonly match?: { readonly paths: readonly string[] };
  readonly key: readonly Readonly<Record<string, string | boolean>>[];
  readonly limit: { readonly requests: number; readonly per: string; readonly burst?: number };
}

// A Map: the unit is the user's word, and an object would answer `constructor` or `toString`.
const UNITS: ReadonlyMap<string, string> = new Map([
  ['s', '1s'],
  ['sec', '1s'],
  ['second', '1s'],
  ['m', '1m'],
  ['min', '1m'],
  ['minute', '1m'],
  ['h', '1h'],
  ['hour', '1h'],
  ['d', '24h'],
  ['day', '24h'],
]);

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const CLAIM_NAME = /^[A-Za-z0-9_.:-]+$/;

function parseKey(word: string): Record<string, string | boolean> | string {
  if (word === 'client-ip' || word === 'ip') return { clientIp: true };
  if (word === 'method') return { method: true };
  if (word === 'route') return { route: true };
  const [kind, name] = [word.slice(0, word.indexOf(':')), word.slice(word.indexOf(':') + 1)];
  if (kind === 'header' && HEADER_NAME.test(name)) return { header: name.toLowerCase() };
  if (kind === 'claim' && CLAIM_NAME.test(name)) return { claim: name };
  return `unknown key ${quote(word)} (use client-ip, method, route, header:NAME or claim:NAME)`;
}

function parseOne(text: string, name: string): ShorthandLimit | string {
  const words = text.trim().split(/\s+/);
  const rate = /^(\d+)\/(\d*)([a-z]+)$/.exec(words[0] ?? '');
  if (rate === null) return `${quote(text.trim())}: expected <requests>/<period>, e.g. 100/s`;
  const requests = Number(rate[1]);
  if (requests < 1 || requests > 1e9) return `${quote(text.trim())}: requests must be between 1 and 1000000000`;
  let per: string | undefined;
  const count = Number(rate[2]);
  if (rate[2] === '') per = UNITS.get(rate[3] ?? '');
  else if (['s', 'm', 'h'].includes(rate[3] ?? '') && count > 0) {
    // Written back as a policy duration: past 2^53 the count would print as 1e+21, no duration.
    if (!Number.isSafeInteger(count)) return `${quote(text.trim())}: period "${rate[2]}${rate[3]}" is too long`;
    per = `${count}${rate[3]}`;
  }
  if (per === undefined) return `${quote(text.trim())}: unknown period "${rate[2]}${rate[3]}" (use s, m, h, d or e.g. 10s)`;
  let burst: number | undefined;
  let key: Record<string, string | boolean>[] = [];
  let paths: string[] | undefined;
  for (let i = 1; i < words.length; i += 2) {
    const word = words[i];
    const arg = words[i + 1];
    if (arg === undefined) return `${quote(text.trim())}: ${quote(word ?? '')} needs a value`;
    if (word === 'burst') {
      if (!/^\d+$/.test(arg)) return `${quote(text.trim())}: burst must be a whole number`;
      burst = Number(arg);
    } else if (word === 'by') {
      const parts = arg
        .split(',')
        .filter((s) => s !== '')
        .map(parseKey);
      const bad = parts.find((p): p is string => typeof p === 'string');
      if (bad !== undefined) return `${quote(text.trim())}: ${bad}`;
      // `by ,` would otherwise fall back to one budget for the whole service, not what was asked.
      if (parts.length === 0) return `${quote(text.trim())}: "by" names no key`;
      key = parts as Record<string, string | boolean>[];
    } else if (word === 'on') {
      paths = arg.split(',').filter((s) => s !== '');
      // `on ,` would be a limit on no path at all.
      if (paths.length === 0) return `${quote(text.trim())}: "on" names no path`;
      const bad = paths.find((p) => !p.startsWith('/'));
      if (bad !== undefined) return `${quote(text.trim())}: path ${quote(bad)} must start with /`;
    } else {
      return `${quote(text.trim())}: unexpected ${quote(word ?? '')} (expected burst, by or on)`;
    }
  }
  // Without `by`, one budget for the whole service: a constant key shared by every pod.
  if (key.length === 0) key = [{ constant: 'service' }];
  return {
    name,
    ...(paths === undefined ? {} : { match: { paths } }),
    key,
    limit: burst === undefined ? { requests, per } : { requests, per, burst },
  };
}

/** Parses the whole annotation value; returns the limits or every problem found. */
export function parseRateLimitShorthand(value: string): { limits: ShorthandLimit[]; problems: string[] } {
  const parts = value
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const limits: ShorthandLimit[] = [];
  const problems: string[] = [];
  if (parts.length === 0) problems.push('empty value');
  parts.forEach((p, i) => {
    const r = parseOne(p, parts.length === 1 ? 'annotation' : `annotation-${i + 1}`);
    if (typeof r === 'string') problems.push(r);
    else limits.push(r);
  });
  return { limits, problems };
}
