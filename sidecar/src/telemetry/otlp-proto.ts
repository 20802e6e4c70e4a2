import type { Attributes, HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/**
 * OTLP/protobuf encoding of ended spans, written as each span ends (opentelemetry-proto,
 * `collector/trace/v1/trace_service.proto`). The SDK's serializer encodes a whole batch when it is
 * exported, so every queued span lives until then: at 0.1 sampling a queued span outlives a few
 * young-generation collections and is promoted, and the batch is encoded in one burst. Encoded at
 * its end, a span is a few hundred bytes in a buffer and its objects die young. The bytes are the
 * SDK's own (same fields, same order, minimal lengths): test/sidecar/otlp-proto.test.ts compares
 * them with `ProtobufTraceSerializer` for every kind of value.
 */

const LEN = 2;
const VARINT = 0;
const I64 = 1;
const I32 = 5;

/** flags: the W3C trace flags, plus "whether the parent is remote is known" (0x100) and "it is" (0x200). */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/** A growable byte buffer with the protobuf primitives the trace messages use. */
export class ProtoWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 4096) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** A non-negative integer up to 2^53, or a negative one as its 64-bit two's complement. */
  varint(v: number): void {
    this.room(10);
    const b = this.buf;
    if (v >= 0 && v <= 0xffffffff) {
      let x = v >>> 0;
      while (x > 0x7f) {
        b[this.pos++] = (x & 0x7f) | 0x80;
        x >>>= 7;
      }
      b[this.pos++] = x;
      return;
    }
    let lo: number;
    let hi: number;
    if (v >= 0) {
      lo = v >>> 0;
      hi = Math.floor(v / 0x100000000) >>> 0;
    } else {
      const a = -v;
      lo = ~(a >>> 0) >>> 0;
      hi = ~(Math.floor(a / 0x100000000) >>> 0) >>> 0;
      lo = (lo + 1) >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
    }
    while (hi > 0 || lo > 0x7f) {
      b[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[this.pos++] = lo;
  }

  fixed32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  /** An HrTime as nanoseconds since the epoch (fixed64). Exact: seconds × 10^9 + nanos in two 32-bit halves. */
  time(t: HrTime): void {
    this.room(8);
    const s = t[0];
    const sLo = s % 0x10000;
    const sHi = (s - sLo) / 0x10000;
    // s × 10^9 + ns = sHi × 2^16 × 10^9 + sLo × 10^9 + ns; each product is exact below 2^53.
    const a = sLo * 1e9 + t[1];
    const bHi = sHi * 1e9; // × 2^16 still to apply
    const bLoPart = (bHi % 0x10000) * 0x10000; // low 32 bits of bHi × 2^16
    let lo = (a % 0x100000000) + bLoPart;
    let hi = Math.floor(a / 0x100000000) + Math.floor(bHi / 0x10000);
    if (lo >= 0x100000000) {
      lo -= 0x100000000;
      hi += 1;
    }
    this.buf.writeUInt32LE(lo >>> 0, this.pos);
    this.buf.writeUInt32LE(hi >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** Reserves one byte for the length of what follows; `end` writes it (moving the body when it needs more). */
  begin(): number {
    this.room(1);
    return this.pos++;
  }

  end(at: number): void {
    const n = this.pos - at - 1;
    let size = 1;
    for (let x = n >>> 7; x > 0; x >>>= 7) size++;
    if (size > 1) {
      this.room(size - 1);
      this.buf.copy(this.buf, at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    let x = n;
    let p = at;
    while (x > 0x7f) {
      this.buf[p++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    this.buf[p] = x;
  }

  string(s: string): void {
    const n = s.length;
    this.room(n * 3 + 5);
    const b = this.buf;
    // Short ASCII (keys, methods, routes, ids) byte by byte: cheaper than a call into Buffer#write.
    if (n < 128) {
      const at = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[at + i] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = at + n;
        return;
      }
    }
    const at = this.begin();
    this.pos += b.write(s, this.pos, 'utf8');
    this.end(at);
  }

  bytes(v: Uint8Array): void {
    this.varint(v.length);
    this.room(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** A hex id (trace or span id) as its bytes, digit by digit as the SDK decodes them. */
  hex(id: string): void {
    const n = id.length >>> 1;
    this.varint(n);
    this.room(n);
    const b = this.buf;
    for (let i = 0, p = this.pos; i < n; i++) b[p + i] = (nibble(id.charCodeAt(2 * i)) << 4) | nibble(id.charCodeAt(2 * i + 1));
    this.pos += n;
  }

  bytesWritten(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** The SDK's hex digit values: 0-9, a-f, and `c - 55` for anything else (A-F among them). */
const NIBBLE = Int16Array.from({ length: 128 }, (_, c) => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c - 55));

function nibble(c: number): number {
  return c < 128 ? NIBBLE[c]! : c - 55;
}

function anyValue(w: ProtoWriter, v: unknown): void {
  switch (typeof v) {
    case 'string':
      w.tag(1, LEN);
      w.string(v);
      return;
    case 'boolean':
      w.tag(2, VARINT);
      w.varint(v ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) {
        w.tag(3, VARINT);
        w.varint(v);
      } else {
        w.tag(4, I64);
        w.double(v);
      }
      return;
    case 'object':
      if (v === null) return;
      if (v instanceof Uint8Array) {
        w.tag(7, LEN);
        w.bytes(v);
      } else if (Array.isArray(v)) {
        w.tag(5, LEN);
        const a = w.begin();
        for (const item of v) {
          w.tag(1, LEN);
          const i = w.begin();
          anyValue(w, item);
          w.end(i);
        }
        w.end(a);
      } else {
        w.tag(6, LEN);
        const l = w.begin();
        const o = v as Record<string, unknown>;
        for (const k in o) {
          if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
          w.tag(1, LEN);
          keyValue(w, k, o[k]);
        }
        w.end(l);
      }
      return;
    default:
    // undefined and the rest: an empty AnyValue, as the SDK writes it
  }
}

/** A KeyValue message, its length first. */
function keyValue(w: ProtoWriter, k: string, v: unknown): void {
  const at = w.begin();
  w.tag(1, LEN);
  w.string(k);
  w.tag(2, LEN);
  const val = w.begin();
  anyValue(w, v);
  w.end(val);
  w.end(at);
}

function attributes(w: ProtoWriter, attrs: Attributes | undefined, field: number): void {
  if (attrs === undefined) return;
  for (const k in attrs) {
    if (!Object.prototype.hasOwnProperty.call(attrs, k)) continue;
    w.tag(field, LEN);
    keyValue(w, k, attrs[k]);
  }
}

function event(w: ProtoWriter, e: TimedEvent): void {
  const at = w.begin();
  w.tag(1, I64);
  w.time(e.time);
  w.tag(2, LEN);
  w.string(e.name);
  attributes(w, e.attributes, 3);
  w.tag(4, VARINT);
  w.varint(e.droppedAttributesCount ?? 0);
  w.end(at);
}

/** One `Span` message (opentelemetry-proto trace.proto), field by field in the SDK's order, its length first. */
export function encodeSpan(w: ProtoWriter, span: ReadableSpan): void {
  const at = w.begin();
  const ctx = span.spanContext();
  w.tag(1, LEN);
  w.hex(ctx.traceId);
  w.tag(2, LEN);
  w.hex(ctx.spanId);
  const state = ctx.traceState?.serialize();
  if (state) {
    w.tag(3, LEN);
    w.string(state);
  }
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    w.tag(4, LEN);
    w.hex(parent.spanId);
  }
  w.tag(5, LEN);
  w.string(span.name);
  // SpanKind is one more on the wire: 0 there is "unspecified".
  if (span.kind != null) {
    w.tag(6, VARINT);
    w.varint(span.kind + 1);
  }
  w.tag(7, I64);
  w.time(span.startTime);
  w.tag(8, I64);
  w.time(span.endTime);
  attributes(w, span.attributes, 9);
  w.tag(10, VARINT);
  w.varint(span.droppedAttributesCount);
  for (const e of span.events) {
    w.tag(11, LEN);
    event(w, e);
  }
  w.tag(12, VARINT);
  w.varint(span.droppedEventsCount);
  for (const l of span.links) {
    w.tag(13, LEN);
    const la = w.begin();
    w.tag(1, LEN);
    w.hex(l.context.traceId);
    w.tag(2, LEN);
    w.hex(l.context.spanId);
    const ls = l.context.traceState?.serialize();
    if (ls) {
      w.tag(3, LEN);
      w.string(ls);
    }
    attributes(w, l.attributes, 4);
    w.tag(5, VARINT);
    w.varint(l.droppedAttributesCount ?? 0);
    w.tag(6, I32);
    w.fixed32((l.context.traceFlags & 0xff) | HAS_IS_REMOTE | (l.context.isRemote ? IS_REMOTE : 0));
    w.end(la);
  }
  w.tag(14, VARINT);
  w.varint(span.droppedLinksCount);
  w.tag(15, LEN);
  const st = w.begin();
  if (span.status.message) {
    w.tag(2, LEN);
    w.string(span.status.message);
  }
  w.tag(3, VARINT);
  w.varint(span.status.code);
  w.end(st);
  w.tag(16, I32);
  w.fixed32((ctx.traceFlags & 0xff) | HAS_IS_REMOTE | (parent?.isRemote ? IS_REMOTE : 0));
  w.end(at);
}

/**
 * What surrounds the spans of one tracer in an ExportTraceServiceRequest: the ResourceSpans and
 * ScopeSpans headers, computed once. `request` wraps encoded spans (each `tag 2, length, Span`)
 * in them.
 */
export class RequestFrame {
  private readonly resource: Buffer;
  private readonly resourceSchema: Buffer;
  private readonly scope: Buffer;
  private readonly scopeSchema: Buffer;

  constructor(resource: Resource, scope: ReadableSpan['instrumentationScope']) {
    const w = new ProtoWriter(1024);
    w.tag(1, LEN);
    const r = w.begin();
    attributes(w, resource.attributes, 1);
    w.tag(2, VARINT);
    w.varint(0);
    w.end(r);
    this.resource = Buffer.from(w.bytesWritten());
    w.pos = 0;
    if (resource.schemaUrl) {
      w.tag(3, LEN);
      w.string(resource.schemaUrl);
    }
    this.resourceSchema = Buffer.from(w.bytesWritten());
    w.pos = 0;
    w.tag(1, LEN);
    const s = w.begin();
    w.tag(1, LEN);
    w.string(scope.name);
    if (scope.version) {
      w.tag(2, LEN);
      w.string(scope.version);
    }
    const more = scope as { attributes?: Attributes; droppedAttributesCount?: number };
    attributes(w, more.attributes, 3);
    if (more.droppedAttributesCount) {
      w.tag(4, VARINT);
      w.varint(more.droppedAttributesCount);
    }
    w.end(s);
    this.scope = Buffer.from(w.bytesWritten());
    w.pos = 0;
    if (scope.schemaUrl) {
      w.tag(3, LEN);
      w.string(scope.schemaUrl);
    }
    this.scopeSchema = Buffer.from(w.bytesWritten());
  }

  /** The whole request for encoded spans (one copy of them). */
  request(spans: Uint8Array): Buffer {
    const scopeSpans = this.scope.length + spans.length + this.scopeSchema.length;
    const resourceSpans = this.resource.length + 1 + varintSize(scopeSpans) + scopeSpans + this.resourceSchema.length;
    const w = new ProtoWriter(1 + varintSize(resourceSpans) + resourceSpans);
    w.tag(1, LEN);
    w.varint(resourceSpans);
    put(w, this.resource);
    w.tag(2, LEN);
    w.varint(scopeSpans);
    put(w, this.scope);
    put(w, spans);
    put(w, this.scopeSchema);
    put(w, this.resourceSchema);
    return w.bytesWritten();
  }
}

function put(w: ProtoWriter, b: Uint8Array): void {
  w.buf.set(b, w.pos);
  w.pos += b.length;
}

function varintSize(n: number): number {
  let size = 1;
  for (let x = n >>> 7; x > 0; x >>>= 7) size++;
  return size;
}
