import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { goTool } from './go-tools.js';
import { freePort } from './ports.js';

/** One span as Jaeger's query API returns it, with its process resolved. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: { refType: string; traceID: string; spanID: string }[];
  tags: { key: string; type: string; value: string | number | boolean }[];
  logs: { timestamp: number; fields: { key: string; value: string | number | boolean }[] }[];
  process: { serviceName: string; tags: { key: string; value: unknown }[] };
}

export interface Jaeger {
  /** OTLP/HTTP base (`/v1/traces` appended by exporters), OTLP gRPC `host:port`, Thrift HTTP `/api/traces`. */
  readonly otlpHttp: string;
  readonly otlpGrpc: string;
  readonly thriftHttp: string;
  readonly queryUrl: string;
  readonly output: { text: string };
  /** Spans of one trace (empty until stored). */
  trace(traceId: string): Promise<JaegerSpan[]>;
  services(): Promise<string[]>;
  operations(service: string): Promise<string[]>;
  /** Every trace of a service (the query API's search), up to `limit`. */
  search(service: string, limit: number): Promise<JaegerSpan[][]>;
  /** SIGKILL, as a crash would; `start()` brings it back on the same ports (memory storage starts empty). */
  kill(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Jaeger v2 (`cmd/jaeger`, an OpenTelemetry Collector distribution) as a real process: in-memory
 * storage, OTLP gRPC + HTTP receivers, the Jaeger Thrift HTTP receiver and the query extension,
 * every one on a free loopback port. Resolves once the query API and the receivers answer.
 */
export async function startJaeger(opts: { cpu?: number } = {}): Promise<Jaeger> {
  const bin = goTool('jaeger');
  const [grpc, http, thrift, query, queryGrpc] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-jaeger-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp, jaeger]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics: { level: none }
    logs: { level: warn }
extensions:
  jaeger_storage:
    backends:
      memstore: { memory: { max_traces: 100000 } }
  jaeger_query:
    storage: { traces: memstore }
    http: { endpoint: "127.0.0.1:${query}" }
    grpc: { endpoint: "127.0.0.1:${queryGrpc}" }
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:${grpc}" }
      http: { endpoint: "127.0.0.1:${http}" }
  jaeger:
    protocols:
      thrift_http: { endpoint: "127.0.0.1:${thrift}" }
processors:
  # Store within 100 ms so tests poll briefly.
  batch: { timeout: 100ms }
exporters:
  jaeger_storage_exporter: { trace_storage: memstore }
`,
  );
  const queryUrl = `http://127.0.0.1:${query}`;
  const output = { text: '' };
  let proc: ChildProcess | undefined;

  const getJson = async <T>(path: string): Promise<{ status: number; body: T | undefined }> => {
    const r = await request(`${queryUrl}${path}`);
    const text = await r.body.text();
    return { status: r.statusCode, body: r.statusCode === 200 ? (JSON.parse(text) as T) : undefined };
  };
  type Trace = { spans: (Omit<JaegerSpan, 'process'> & { processID: string })[]; processes: Record<string, JaegerSpan['process']> };
  const resolve = (t: Trace): JaegerSpan[] => t.spans.map((s) => ({ ...s, process: t.processes[s.processID]! }));

  const start = async (): Promise<void> => {
    const args = ['--config', `file:${config}`];
    // `cpu`: pinned to one core (the benchmark keeps it off the proxy's core); taskset execs, so the pid is Jaeger's.
    const p =
      opts.cpu === undefined
        ? spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('taskset', ['-c', String(opts.cpu), bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    p.stdout.on('data', (d: Buffer) => {
      output.text += String(d);
    });
    p.stderr.on('data', (d: Buffer) => {
      output.text += String(d);
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`jaeger exited with ${p.exitCode}: ${output.text}`);
      try {
        if (
          (await getJson('/api/services')).status === 200 &&
          (await listening(http)) &&
          (await listening(grpc)) &&
          (await listening(thrift))
        )
          return;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) {
        p.kill('SIGKILL');
        throw new Error(`jaeger not ready in 30 s: ${output.text}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (p === undefined || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };
  await start();
  return {
    otlpHttp: `http://127.0.0.1:${http}`,
    otlpGrpc: `http://127.0.0.1:${grpc}`,
    thriftHttp: `http://127.0.0.1:${thrift}/api/traces`,
    queryUrl,
    output,
    trace: async (id) => {
      const r = await getJson<{ data: Trace[] }>(`/api/traces/${id}`);
      return r.body?.data[0] === undefined ? [] : resolve(r.body.data[0]);
    },
    services: async () => (await getJson<{ data: string[] | null }>('/api/services')).body?.data ?? [],
    operations: async (svc) =>
      (await getJson<{ data: string[] | null }>(`/api/services/${encodeURIComponent(svc)}/operations`)).body?.data ?? [],
    search: async (svc, limit) =>
      (
        (await getJson<{ data: Trace[] | null }>(`/api/traces?service=${encodeURIComponent(svc)}&limit=${limit}&lookback=1h`)).body?.data ??
        []
      ).map(resolve),
    kill,
    start,
    close: kill,
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A tag's value, or undefined. */
export function tag(span: JaegerSpan, key: string): string | number | boolean | undefined {
  return span.tags.find((t) => t.key === key)?.value;
}

/** The span this one is a CHILD_OF, or '' for a root. */
export function parentOf(span: JaegerSpan): string {
  return span.references?.find((r) => r.refType === 'CHILD_OF')?.spanID ?? '';
}

/** Event (log) names of a span, in order. */
export function eventNames(span: JaegerSpan): string[] {
  return span.logs.map((l) => String(l.fields.find((f) => f.key === 'event')?.value ?? ''));
}
