import { http } from '../node-http.js';
import { createRequire } from 'node:module';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

const { METHODS } = http;

/**
 * Node's own HTTP/1.1 parser (llhttp, the C++ binding its http server uses), driven directly.
 * Why not `node:http`: its IncomingMessage/ServerResponse streams and header processing cost
 * more than half of a proxy's CPU per request (docs/benchmarks.md, "HTTP/1.1 engine"). Why not a
 * parser of our own: llhttp is strict, fuzzed and what every Node server already trusts against
 * request smuggling; with `consume()` it reads the socket in C++ and calls us with parsed fields,
 * so request bytes never surface as JavaScript buffers.
 *
 * This module is the one place sidegate touches Node.js internals no release promises to keep:
 * - the binding, reached through `_http_common` (the module `node:http` is built on).
 *   `checkParser()` proves it at start-up (its shape, and a request parsed through it); when that
 *   fails (or `--http1-parser public`), the engines parse with http-parser-js (npm) behind the
 *   same interface (./public-parser.ts, held to llhttp's strictness there), read sockets through
 *   stream events (it has no `consume()`), the sidecar logs a warning and
 *   `sidegate_http1_parser{parser="http-parser-js"}` reads 1. `node:http` itself would cost
 *   35-40 % of capacity (docs/benchmarks.md, "HTTP/1.1 engine"), the fallback ≈ 15-25 %
 *   (docs/benchmarks.md, "The engine's public fallbacks"): a fallback, never the default;
 * - a socket's `_handle`, which `consume()` reads in C++ and whose reading the engines start and
 *   stop (`consumeSocket`, `setConsumedReading`). `checkFastPath()` proves that path at start-up on
 *   a loopback connection; when it fails (or `--http1-fast-path off`), sockets are read through
 *   their public stream events and `execute()` instead, the sidecar logs a warning and
 *   `sidegate_http1_fast_path` reads 0. The runtime matrix asserts the fast path on every line.
 */

/** The parser's callback slots (`HTTPParser.kOn*`). */
export const enum Slot {
  MessageBegin = 0,
  Headers = 1,
  HeadersComplete = 2,
  Body = 3,
  MessageComplete = 4,
  Execute = 5,
}

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

/** Node's binding, or why it cannot be used (its shape differs from what the engines drive). */
function builtin(): ParserBinding | string {
  let b: ParserBinding | undefined;
  try {
    b = (createRequire(import.meta.url)('_http_common') as { HTTPParser?: ParserBinding }).HTTPParser;
  } catch (e) {
    return `_http_common: ${(e as Error).message}`;
  }
  const slots: [keyof ParserBinding, number][] = [
    ['kOnMessageBegin', Slot.MessageBegin],
    ['kOnHeaders', Slot.Headers],
    ['kOnHeadersComplete', Slot.HeadersComplete],
    ['kOnBody', Slot.Body],
    ['kOnMessageComplete', Slot.MessageComplete],
    ['kOnExecute', Slot.Execute],
  ];
  if (typeof b !== 'function') return '_http_common has no HTTPParser';
  if (typeof (b.prototype as Partial<LlParser> | undefined)?.consume !== 'function') return 'the HTTPParser binding has no consume()';
  const wrong = slots.find(([k, v]) => b[k] !== v);
  if (wrong !== undefined) return `the HTTPParser binding's ${wrong[0]} is ${String(b[wrong[0]])}, not ${wrong[1]}`;
  if (typeof b.REQUEST !== 'number' || typeof b.RESPONSE !== 'number' || typeof b.kLenientNone !== 'number')
    return 'the HTTPParser binding lacks REQUEST, RESPONSE or kLenientNone';
  return b;
}

function load(): ParserBinding {
  if (binding !== undefined) return binding;
  const b = builtin();
  if (typeof b === 'string')
    throw new Error(
      `this Node.js (${process.version}) has no compatible built-in HTTP parser binding (${b}); start through checkParser() to fall back to http-parser-js`,
    );
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
    p[Slot.HeadersComplete] = (_a: number, _b: number, _h: unknown, method: number) => {
      index = method;
      return 0;
    };
    p.execute(Buffer.from(`${m} / HTTP/1.1\r\n\r\n`, 'latin1'));
    p.close();
    if (index >= 0) table[index] = m;
  }
  methodNames = table;
  return table;
}

export interface ParserInUse {
  /** llhttp through Node's binding, or the public fallback. */
  readonly parser: 'llhttp' | 'http-parser-js';
  /** Why the fallback, when it is in use. */
  readonly reason?: string;
}

let parserChecked: ParserInUse | undefined;

/**
 * The start-up self-check of the parser binding: its shape, then the request-method table learnt
 * through it (a real parse, which must find GET). When either fails, or with `public` (the
 * operator's switch, and how tests run the fallback), the engines parse with http-parser-js and
 * read sockets through stream events. Process-wide, the last call wins; never throws.
 */
export async function checkParser(mode: 'auto' | 'public' = 'auto'): Promise<ParserInUse> {
  let reason: string | undefined;
  if (mode === 'public') reason = '--http1-parser public';
  else {
    const b = builtin();
    if (typeof b === 'string') reason = b;
    else {
      binding = b;
      methodNames = undefined;
      try {
        if (!methodTable().includes('GET')) reason = 'a request parsed through the binding did not come out as GET';
      } catch (e) {
        reason = `parsing through the binding: ${(e as Error).message}`;
      }
    }
  }
  if (reason === undefined) {
    parserChecked = { parser: 'llhttp' };
    return parserChecked;
  }
  const { PublicParser } = await import('./public-parser.js');
  binding = Object.assign(PublicParser, { kLenientNone: 0 }) as unknown as ParserBinding;
  methodNames = undefined;
  consumeOn = false;
  parserChecked = { parser: 'http-parser-js', reason };
  return parserChecked;
}

/** What `consume()` needs of a socket's handle, and how the engines start and stop it (lib/net.js). */
type StreamHandle = { isStreamBase?: boolean; _consumed?: boolean; reading?: boolean; readStart(): number; readStop(): number };

const handleOf = (socket: Socket): StreamHandle | undefined =>
  (socket as unknown as { _handle?: StreamHandle | null })._handle ?? undefined;

/** Process-wide: the self-check decides once, for every connection of both engines. */
let consumeOn = true;

/**
 * The fast path: the parser reads `socket`'s handle in C++ and reports at Slot.Execute. False when
 * it cannot (no stream handle, one already consumed, the fast path off): the caller then feeds
 * `execute()` from the socket's 'data' events.
 */
export function consumeSocket(parser: LlParser, socket: Socket): boolean {
  return consumeOn && consumeHandle(parser, socket);
}

function consumeHandle(parser: LlParser, socket: Socket): boolean {
  const h = handleOf(socket);
  if (h?.isStreamBase !== true || h._consumed === true) return false;
  h._consumed = true;
  parser.consume(h);
  return true;
}

/** Start or stop reading a socket whose handle a parser consumes (its JS stream is bypassed). */
export function setConsumedReading(socket: Socket, on: boolean): void {
  const h = handleOf(socket);
  if (h === undefined) return;
  if (on && h.reading !== true) {
    h.reading = true;
    h.readStart();
  } else if (!on && h.reading !== false) {
    h.reading = false;
    h.readStop();
  }
}

export interface FastPath {
  /** Sockets are read by llhttp in C++ (`consume()`). */
  readonly inUse: boolean;
  /** Why not, when not. */
  readonly reason?: string;
}

let checked: Promise<FastPath> | undefined;
const PROBE_PATH = '/sidegate-self-check';

/**
 * The start-up self-check: one request over a loopback connection, read through `consume()` and
 * `setConsumedReading`, must come out parsed. The probe runs once per process; `off` skips it (the
 * operator's switch). Sets the path for the whole process (the last call wins) and never throws:
 * a failure only turns the fast path off.
 */
export async function checkFastPath(mode: 'auto' | 'off' = 'auto'): Promise<FastPath> {
  if (parserChecked?.parser === 'http-parser-js') {
    consumeOn = false;
    return { inUse: false, reason: 'the public HTTP/1.1 parser (http-parser-js) cannot read a socket handle' };
  }
  if (mode === 'off') {
    consumeOn = false;
    return { inUse: false, reason: '--http1-fast-path off' };
  }
  checked ??= probeConsume().then(
    (reason): FastPath => (reason === undefined ? { inUse: true } : { inUse: false, reason }),
    (err: unknown): FastPath => ({ inUse: false, reason: err instanceof Error ? err.message : String(err) }),
  );
  const r = await checked;
  consumeOn = r.inUse;
  return r;
}

/** Undefined when a request parsed through the handle; else what went wrong. */
async function probeConsume(): Promise<string | undefined> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const p = newParser('request', 0);
  let client: Socket | undefined;
  let peer: Socket | undefined;
  let consumed = false;
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve('no request came out of consume() in 2 s'), 2000);
      const done = (r: string | undefined): void => {
        clearTimeout(timer);
        resolve(r);
      };
      let url = '';
      p[Slot.Headers] = (_f: string[], u: string) => {
        url += u;
      };
      p[Slot.HeadersComplete] = (_maj: number, _min: number, _f: unknown, _m: number, u: string | undefined) => {
        url += u ?? '';
        done(url === PROBE_PATH ? undefined : `consume() parsed the target "${url}"`);
        return 0;
      };
      p[Slot.Execute] = (ret: number | ParseError) => {
        if (typeof ret !== 'number') done(`consume() reported ${ret.code}`);
      };
      server.once('connection', (s) => {
        peer = s;
        if (!(consumed = consumeHandle(p, s))) {
          done('an accepted socket has no stream handle to consume');
          return;
        }
        try {
          setConsumedReading(s, false);
          setConsumedReading(s, true);
        } catch (e) {
          done(`starting the handle: ${(e as Error).message}`);
        }
      });
      client = connect((server.address() as AddressInfo).port, '127.0.0.1', () => {
        client!.write(`GET ${PROBE_PATH} HTTP/1.1\r\nhost: self-check\r\n\r\n`);
      });
      client.on('error', (e) => {
        done(`loopback connection: ${e.message}`);
      });
    });
  } finally {
    client?.destroy();
    peer?.destroy();
    if (consumed) p.unconsume();
    setImmediate(() => {
      p.close();
    });
    server.close();
  }
}
