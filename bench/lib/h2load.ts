import { percentile } from './stats.js';

/** h2load command lines and output parsing (nghttp2-client). */

export interface H2loadCapacityOptions {
  readonly h1: boolean;
  readonly clients: number;
  readonly streams: number;
  readonly durationS: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** `-i FILE`: URLs to request in turn (each client walks the whole list from its start); replaces `url`. */
  readonly inputFile?: string;
}

/** Closed-loop capacity: -c clients with -m concurrent streams each for -D seconds. */
export function h2loadCapacityArgs(url: string, o: H2loadCapacityOptions): string[] {
  const target = o.inputFile !== undefined ? ['-i', o.inputFile] : [url];
  return [
    ...(o.h1 ? ['--h1'] : []),
    '-t1',
    `-c${o.clients}`,
    `-m${o.streams}`,
    '-D',
    `${o.durationS}`,
    ...headerArgs(o.headers),
    ...target,
  ];
}

export interface H2loadLatencyOptions {
  readonly h1: boolean;
  readonly clients: number;
  readonly requests: number;
  readonly rpsPerClient: number;
  readonly logFile: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Open loop at a fixed rate. `-r1 --rate-period=1ms` starts one client per millisecond, so the
 * clients' request ticks are staggered instead of all firing together: plain `--rps` bursts
 * inflated even the direct p50 4.5× on this machine (bench-reference/README.md).
 */
export function h2loadLatencyArgs(url: string, o: H2loadLatencyOptions): string[] {
  return [
    ...(o.h1 ? ['--h1'] : []),
    '-t1',
    `-c${o.clients}`,
    `-n${o.requests}`,
    '-r1',
    '--rate-period=1ms',
    `--rps=${o.rpsPerClient}`,
    '-m1',
    `--log-file=${o.logFile}`,
    ...headerArgs(o.headers),
    url,
  ];
}

function headerArgs(headers: Readonly<Record<string, string>> | undefined): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(headers ?? {})) out.push('-H', `${k}: ${v}`);
  return out;
}

export interface H2loadSummary {
  readonly rps: number;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly non2xx: number;
}

/** The summary h2load prints: "finished in 8.00s, 41234.50 req/s, ..." and the request counts. */
export function parseH2loadOutput(stdout: string): H2loadSummary {
  const fin = /finished in [\d.]+(?:us|ms|s), ([\d.]+) req\/s/.exec(stdout);
  const req = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (!fin || !req) throw new Error(`unrecognised h2load output:\n${stdout.slice(0, 2000)}`);
  const n = (s: string | undefined): number => Number(s ?? '0');
  return {
    rps: n(fin[1]),
    total: n(req[1]),
    succeeded: n(req[2]),
    failed: n(req[3]),
    errored: n(req[4]),
    timeout: n(req[5]),
    non2xx: codes ? n(codes[2]) + n(codes[3]) + n(codes[4]) : 0,
  };
}

/** Latency figures from an h2load --log-file, in milliseconds. */
export interface LatencyFigures {
  /** Rows with a 2xx status (the only ones in the percentiles). */
  readonly count: number;
  /** Rows with status -1 (failed stream) or a non-2xx status. */
  readonly errors: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Requests per second actually offered, from the first and last start times. */
  readonly offeredRps: number;
}

/**
 * Columns are tab-separated: start time (µs since epoch), status (-1 for a failed stream), µs until
 * the end of the response. Percentiles come from the third column of the 2xx rows.
 */
export function parseLatencyLog(text: string): LatencyFigures {
  const durations: number[] = [];
  let errors = 0;
  let first = Infinity;
  let last = -Infinity;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const cols = line.split('\t');
    const start = Number(cols[0]);
    const status = Number(cols[1]);
    const us = Number(cols[2]);
    if (cols.length < 3 || !Number.isFinite(start) || !Number.isFinite(status) || !Number.isFinite(us)) {
      throw new Error(`malformed h2load log line: ${JSON.stringify(line)}`);
    }
    if (start < first) first = start;
    if (start > last) last = start;
    if (status >= 200 && status < 300) durations.push(us / 1000);
    else errors++;
  }
  if (durations.length === 0) throw new Error('h2load log has no successful requests');
  durations.sort((a, b) => a - b);
  const rows = durations.length + errors;
  const spanS = (last - first) / 1e6;
  return {
    count: durations.length,
    errors,
    p50Ms: percentile(durations, 50),
    p90Ms: percentile(durations, 90),
    p99Ms: percentile(durations, 99),
    maxMs: durations[durations.length - 1]!,
    offeredRps: spanS > 0 ? (rows - 1) / spanS : 0,
  };
}
