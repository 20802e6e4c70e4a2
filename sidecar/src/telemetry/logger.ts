import type { IncomingHttpHeaders } from 'node:http';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/**
 * The part of pino's logger that stages, the Redis connection and the key manager log through:
 * the one logger type they take. pino instances satisfy it; tests pass a recorder.
 */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Header names whose values never reach a log line. */
const SECRET_HEADER =
  /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|apikey|x-auth-token|x-access-token|x-amz-security-token)$|(token|secret|password|passwd|api[-_]?key|session)/i;

export const REDACTED = '[REDACTED]';

/**
 * A copy of the headers that is safe to log: secret-bearing ones redacted, by the fixed list above
 * and by `also`, the header names the policy's providers read tokens from (any name can carry one).
 */
export function redactHeaders(headers: IncomingHttpHeaders, also?: ReadonlySet<string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    out[name] = SECRET_HEADER.test(name) || also?.has(name) === true ? REDACTED : v;
  }
  return out;
}

/**
 * JSON lines on stdout. Asynchronous, buffered writes keep logging off the request's critical
 * path; `flush()` runs at exit so drain never loses the last lines.
 */
export function createLogger(level: string, dest?: DestinationStream): PinoLogger {
  const stream = dest ?? pino.destination({ dest: 1, sync: false, minLength: 4096 });
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['headers.authorization', 'headers.cookie', 'headers["set-cookie"]', 'headers["x-api-key"]', 'password', '*.password'],
        censor: REDACTED,
      },
    },
    stream,
  );
}
