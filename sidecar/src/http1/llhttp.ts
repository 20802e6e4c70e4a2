import { METHODS } from 'node:http';
import { createRequire } from 'node:module';

/**
 * Node's own HTTP/1.1 parser (llhttp, the C++ binding its http server uses), driven directly.
 * Why not `node:http`: its IncomingMessage/ServerResponse streams and header processing cost
 * more than half of a proxy's CPU per request (docs/benchmarks.md, "HTTP/1.1 engine"). Why not a
 * parser of our own: llhttp is strict, fuzzed and what every Node server already trusts against
 * request smuggling; with `consume()` it reads the socket in C++ and calls us with parsed fields,
 * so request bytes never surface as JavaScript buffers.
 *
 * The binding is reached through `_http_common`, the same module `node:http` is built on. It is
 * not a documented API: `loadParser()` checks its shape once at start and the sidecar refuses to
 * start with a clear message on a Node.js whose binding differs (engines: node >= 20.18).
 */

/** The parser's callback slots (`HTTPParser.kOn*`). */
export const enum Slot { MessageBegin = 0, Headers = 1, HeadersComplete = 2, Body = 3, MessageComplete = 4, Execute = 5 }

/** What an llhttp parser instance offers (node/src/node_http_parser.cc). */
export interface LlParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or an Error with `code` (HPE_*) and `bytesParsed`. */
  execute(data: Buffer): number | ParseError;
  /** Signals end of input: an Error if a message was cut short. */
  finish(): number | ParseError | undefined;
  /** Read the stream handle in C++: data goes straight to the parser, results come to Slot.Execute. */
  consume(handle: object): void;
  unconsume(): void;
  /** The bytes of the buffer being parsed (after an upgrade: where the tunnel's data starts). */
  getCurrentBuffer(): Buffer;
  pause(): void;
  resume(): void;
  close(): void;
  free(): void;
  remove(): void;
  [slot: number]: ((...args: never[]) => unknown) | null;
}

export interface ParseError extends Error {
  code: string;
  bytesParsed?: number;
  reason?: string;
}

interface ParserBinding {
  new (): LlParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  readonly kLenientNone: number;
}

let binding: ParserBinding | undefined;
let methodNames: readonly string[] | undefined;

function load(): ParserBinding {
  if (binding !== undefined) return binding;
  const mod = createRequire(import.meta.url)('_http_common') as { HTTPParser?: ParserBinding };
  const b = mod.HTTPParser;
  const slots: [keyof ParserBinding, number][] = [
    ['kOnMessageBegin', Slot.MessageBegin], ['kOnHeaders', Slot.Headers], ['kOnHeadersComplete', Slot.HeadersComplete],
    ['kOnBody', Slot.Body], ['kOnMessageComplete', Slot.MessageComplete], ['kOnExecute', Slot.Execute],
  ];
  if (typeof b !== 'function' || typeof (b.prototype as Partial<LlParser> | undefined)?.consume !== 'function' || slots.some(([k, v]) => b[k] !== v)) {
    throw new Error(`this Node.js (${process.version}) has no compatible built-in HTTP parser binding; sidegate needs Node.js 20.18 or later`);
  }
  binding = b;
  return b;
}

/** A fresh strict parser (no lenient flags: smuggling shapes are errors, as in node:http). */
export function newParser(kind: 'request' | 'response', maxHeaderSize: number): LlParser {
  const b = load();
  const p = new b();
  p.initialize(kind === 'request' ? b.REQUEST : b.RESPONSE, {}, maxHeaderSize, b.kLenientNone);
  return p;
}

/**
 * llhttp reports methods as its own enum index. The table is learnt from the parser itself (each
 * of Node's known methods parsed once at start), so it can never drift from the binding.
 */
export function methodTable(): readonly string[] {
  if (methodNames !== undefined) return methodNames;
  const b = load();
  const table: string[] = [];
  for (const m of METHODS) {
    const p = new b();
    p.initialize(b.REQUEST, {}, 0, b.kLenientNone);
    let index = -1;
    p[Slot.HeadersComplete] = ((_a: number, _b: number, _h: unknown, method: number) => { index = method; return 0; });
    p.execute(Buffer.from(`${m} / HTTP/1.1\r\n\r\n`, 'latin1'));
    p.close();
    if (index >= 0) table[index] = m;
  }
  methodNames = table;
  return table;
}
