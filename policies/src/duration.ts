/**
 * Durations as written in policies: number+unit pairs (`250ms`, `15s`, `5m`, `1h`, `1m30s`,
 * `1.5s`), units ms, s, m and h. The schema checks the syntax; this turns them into milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const WHOLE = /^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$/;
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;

/**
 * Milliseconds for a duration string, or undefined when the text is not a duration. Fractions of
 * a millisecond round to the nearest millisecond, but never down to 0 for a non-zero duration
 * (a `0.1ms` timeout must not turn into "no timeout").
 */
export function parseDuration(text: string): number | undefined {
  if (!WHOLE.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(PART)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
  }
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) return undefined;
  const ms = Math.round(total);
  return ms === 0 && total > 0 ? 1 : ms;
}

/** Like parseDuration, for values the schema already checked. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new TypeError(`not a duration: ${JSON.stringify(text)}`);
  return ms;
}

/** The shortest canonical spelling of a millisecond count (`90000` → `1m30s`), for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
