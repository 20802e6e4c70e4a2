import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import thriftrw from 'thriftrw';

/** One span as either collector saw it, normalised for assertions. */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: 'server' | 'client' | 'other';
  attributes: Record<string, string | number | boolean>;
  error: boolean;
  events: string[];
  service: string;
}

export interface Collector {
  readonly url: string;
  readonly spans: CollectedSpan[];
  close(): Promise<void>;
}

async function serve(handle: (body: Buffer, contentType: string) => CollectedSpan[], path: string): Promise<Collector> {
  const spans: CollectedSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        spans.push(...handle(Buffer.concat(chunks), req.headers['content-type'] ?? ''));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      } catch (err) {
        res.writeHead(400);
        res.end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    spans,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

interface OtlpValue { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
interface OtlpKv { key: string; value: OtlpValue }

function otlpValue(v: OtlpValue): string | number | boolean {
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue ?? '';
}

/** An OTLP/HTTP (JSON) receiver at /v1/traces, like Jaeger's or the OpenTelemetry Collector's. */
export function startOtlpReceiver(): Promise<Collector> {
  return serve((body, ct) => {
    if (!ct.includes('json')) throw new Error(`expected JSON, got ${ct}`);
    const doc = JSON.parse(body.toString()) as { resourceSpans: { resource: { attributes: OtlpKv[] }; scopeSpans: { spans: {
      traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes?: OtlpKv[]; status?: { code?: number }; events?: { name: string }[];
    }[] }[] }[] };
    const out: CollectedSpan[] = [];
    for (const rs of doc.resourceSpans) {
      const service = String(otlpValue(rs.resource.attributes.find((a) => a.key === 'service.name')?.value ?? {}));
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          out.push({
            traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name,
            kind: s.kind === 2 ? 'server' : s.kind === 3 ? 'client' : 'other',
            attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, otlpValue(a.value)])),
            error: s.status?.code === 2, events: (s.events ?? []).map((e) => e.name), service,
          });
        }
      }
    }
    return out;
  }, '/v1/traces');
}

interface ThriftTag { key: string; vType: number; vStr?: string; vLong?: Buffer; vBool?: boolean; vDouble?: number }

const hex = (hi: Buffer | undefined, lo: Buffer | undefined): string => `${hi?.toString('hex') ?? ''}${lo?.toString('hex') ?? ''}`;

/** A Jaeger collector-style receiver: Thrift binary `Batch` over HTTP at /api/traces. */
export function startJaegerReceiver(): Promise<Collector> {
  const idl = readFileSync(join(process.cwd(), 'node_modules/jaeger-client/dist/src/jaeger-idl/thrift/jaeger.thrift'), 'utf8');
  const thrift = new thriftrw.Thrift({ source: idl, allowOptionalArguments: true });
  const Batch = thrift.getType('Batch');
  return serve((body) => {
    const r = Batch.fromBuffer(body) as { process: { serviceName: string }; spans: {
      traceIdLow: Buffer; traceIdHigh: Buffer; spanId: Buffer; parentSpanId: Buffer; operationName: string; tags?: ThriftTag[]; logs?: { fields: ThriftTag[] }[];
    }[] };
    return r.spans.map((s) => {
      const attributes: Record<string, string | number | boolean> = {};
      for (const tag of s.tags ?? []) attributes[tag.key] = tag.vStr ?? tag.vBool ?? tag.vDouble ?? (tag.vLong ? Number(tag.vLong.readBigInt64BE()) : '');
      const kind = attributes['span.kind'];
      return {
        traceId: hex(s.traceIdHigh, s.traceIdLow), spanId: s.spanId.toString('hex'), parentSpanId: s.parentSpanId.toString('hex'),
        name: s.operationName, kind: kind === 'server' ? 'server' : kind === 'client' ? 'client' : 'other',
        attributes, error: attributes.error === true, events: (s.logs ?? []).map((l) => String(l.fields.find((f) => f.key === 'message.id' || f.key === 'event')?.vStr ?? '')),
        service: r.process.serviceName,
      };
    });
  }, '/api/traces');
}
