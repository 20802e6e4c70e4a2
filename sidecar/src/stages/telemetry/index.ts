import type { Attributes, Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { LoggingPolicy } from '../../../../policies/src/types.js';
import { clientOf } from '../../client-address.js';
import type { Clock } from '../../clock.js';
import type { Exchange } from '../../protocol/exchange.js';
import { H } from '../../protocol/headers.js';
import type { Handler, Stage } from '../../pipeline/stage.js';
import { redactHeaders } from '../../telemetry/logger.js';
import { methodLabel, type Metrics } from '../../telemetry/metrics.js';
import type { Tracing } from '../../telemetry/tracing.js';

export interface TelemetryDeps {
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly clock: Clock;
  /** Uniform in [0, 1): decides which successes are logged. Injected so tests are deterministic. */
  readonly random: () => number;
  readonly logHeaders: boolean;
  /** Undefined when tracing is off: then no span work happens at all. */
  readonly tracing?: Tracing | undefined;
}

/**
 * Outermost stage: every exchange — rejected, failed or relayed — ends here with one metric
 * update and (errors always, successes sampled, health checks never) one access log line.
 */
export function telemetry(policy: LoggingPolicy, deps: TelemetryDeps, tokenHeaders?: ReadonlySet<string>): Stage {
  const { metrics, clock, tracing } = deps;
  const finish = (ex: Exchange): void => {
    metrics.inflight.dec();
    record(ex, clock.monotonic() - ex.start, policy, deps, tokenHeaders);
    if (tracing !== undefined && ex.span !== undefined) endSpan(ex, ex.span, tracing);
  };
  // `respond` turns every error into an answer; a failure reaching here is a bug in it: never
  // leave the client hanging.
  const failed = (ex: Exchange, err: unknown): void => {
    deps.log.error({ err, request_id: ex.requestId }, 'pipeline failed');
    if (!ex.sink.closed) ex.sink.abort();
    finish(ex);
  };
  // No async function: its frame and promise were most of what this stage allocated per request.
  return (next: Handler): Handler =>
    (ex: Exchange) => {
      try {
        metrics.inflight.inc();
        if (tracing !== undefined) {
          const span = tracing.startServer(ex.method, ex.headers, undefined);
          // Unsampled spans record nothing: build no attributes for them (most requests at 0.1).
          if (span.isRecording()) span.setAttributes(startAttributes(ex));
          ex.span = span;
        }
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      let done: Promise<void>;
      try {
        done = next(ex);
      } catch (err) {
        try {
          failed(ex, err);
        } catch (again) {
          return Promise.reject(again instanceof Error ? again : new Error(String(again)));
        }
        return Promise.resolve();
      }
      return done.then(
        () => finish(ex),
        (err: unknown) => failed(ex, err),
      );
    };
}

function startAttributes(ex: Exchange): Record<string, string> {
  const a: Record<string, string> = {
    'http.request.method': ex.method,
    'url.scheme': ex.scheme,
    'server.address': ex.authority,
    'network.protocol.version': ex.protocol === 'h2' ? '2' : '1.1',
  };
  const ua = ex.headers[H.userAgent];
  if (ua !== undefined) a['user_agent.original'] = ua;
  return a;
}

/**
 * Name the span after the route, record what each stage decided, and end it. The decisions are
 * attributes (`sidegate.authenticate.result`, `sidegate.ratelimit`, ...), set with the rest in one
 * call: span events cost a timestamp, two objects and a protobuf message each, and in Jaeger a tag
 * can be searched, a log cannot.
 */
function endSpan(ex: Exchange, span: Span, tracing: Tracing): void {
  if (!span.isRecording()) {
    span.end();
    return;
  }
  span.updateName(`${ex.method} ${ex.routeName}`);
  const a: Attributes = {
    'http.route': ex.routeName,
    'url.path': ex.path,
    'sidegate.request_id': ex.requestId,
    'client.address': clientOf(ex),
  };
  const auth = ex.auth;
  if (auth !== undefined) {
    a['sidegate.authenticate.result'] = auth.result;
    if (auth.provider !== undefined) a['sidegate.authenticate.provider'] = auth.provider;
    if (auth.reason !== undefined) a['sidegate.authenticate.reason'] = auth.reason;
    if (auth.cached !== undefined) a['sidegate.authenticate.cache_hit'] = auth.cached;
  }
  if (ex.notes !== undefined) for (const k in ex.notes) a[`sidegate.${k}`] = ex.notes[k];
  tracing.end(span, ex.status, ex.errorCode, true, a);
}

function record(
  ex: Exchange,
  durationMs: number,
  policy: LoggingPolicy,
  deps: TelemetryDeps,
  tokenHeaders: ReadonlySet<string> | undefined,
): void {
  const { metrics } = deps;
  const route = ex.routeName;
  metrics.recordRequest(route, methodLabel(ex.method), ex.status, durationMs / 1000, ex.upstreamMs >= 0 ? ex.upstreamMs / 1000 : -1);
  if (ex.errorCode !== undefined) metrics.errors.inc({ code: ex.errorCode });

  const failed = ex.status >= 400 || ex.errorCode !== undefined;
  if (!failed) {
    if (policy.successSampleRate < 1 && deps.random() >= policy.successSampleRate) return;
    if (isHealthCheck(ex, policy)) return;
  }
  const level = ex.status >= 500 ? 'error' : 'info';
  if (!deps.log.isLevelEnabled(level)) return; // the line would be dropped: do not build it
  const line: Record<string, unknown> = {
    request_id: ex.requestId,
    method: ex.method,
    path: ex.path, // never the query string: it may carry tokens
    route,
    status: ex.status,
    duration_ms: round(durationMs),
    upstream_duration_ms: ex.upstreamMs >= 0 ? round(ex.upstreamMs) : null,
    bytes_in: Number(ex.headers[H.contentLength] ?? 0) || 0,
    bytes_out: ex.sink.bytesOut,
    protocol: ex.protocol,
    client_ip: clientOf(ex),
    user_agent: ex.headers[H.userAgent],
  };
  if (ex.upgrade !== undefined) line.upgrade = ex.headers[H.upgrade];
  if (ex.errorCode !== undefined) line.error = ex.errorCode;
  if (ex.auth !== undefined) {
    line.auth = {
      result: ex.auth.result,
      provider: ex.auth.provider,
      reason: ex.auth.reason,
      sub: ex.auth.subject,
      cached: ex.auth.cached,
    };
  }
  if (ex.notes !== undefined) Object.assign(line, ex.notes);
  if (ex.span !== undefined) line.trace_id = ex.span.spanContext().traceId;
  if (deps.logHeaders) line.headers = redactHeaders(ex.headers, tokenHeaders);
  if (deps.log.isLevelEnabled('debug')) line.decision = decision(ex);
  if (ex.errorCode === 'SIDEGATE_ERR_INTERNAL') line.err = ex.error;
  deps.log[level](line, 'request');
}

/**
 * What the stages concluded: the auth rule (`rules[i]`, `default`, or `none` when no rule was
 * judged), each limit's key, and the path forwarded to the app (with its `;parameters`; never the
 * query, which may carry a token).
 */
function decision(ex: Exchange): Record<string, unknown> {
  const limits: Record<string, string> = {};
  if (ex.limitKeys !== undefined) for (const it of ex.limitKeys) limits[it.spec.name] = it.key;
  return {
    rule: ex.authRule >= 0 ? `rules[${ex.authRule}]` : ex.authRule === -1 ? 'default' : 'none',
    limits,
    forwarded_path: ex.paramPath ?? ex.path,
  };
}

function isHealthCheck(ex: Exchange, policy: LoggingPolicy): boolean {
  const ua = ex.headers[H.userAgent];
  if (ua !== undefined && ua.startsWith('kube-probe/')) return true;
  return policy.exclude !== undefined && policy.exclude.matches(ex.method, ex.path);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
