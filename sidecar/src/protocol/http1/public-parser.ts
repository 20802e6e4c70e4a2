import { http } from '../node-http.js';
import { HTTPParser } from 'http-parser-js';
import type { LlParser, ParseError } from './llhttp.js';

const { METHODS, maxHeaderSize: nodeMaxHeaderSize } = http;

/**
 * The public fallback for Node's private llhttp binding (sidecar/src/protocol/http1/llhttp.ts): used when
 * the binding's shape check fails on this Node.js, or with `--http1-parser public`.
 *
 * http-parser-js (npm) implements the binding's interface in JavaScript, but it is far laxer than
 * llhttp: it strips a CR before any LF (bare LF line endings pass), folds obs-fold lines into the
 * value before, silently drops lines that are not `name: value` (`Transfer-Encoding : chunked`
 * disappears), takes the last Transfer-Encoding header and only an exact `chunked` (so `gzip,
 * chunked` reads no body at all), lets chunked win over Content-Length, accepts duplicate equal
 * Content-Lengths and `+5`/`0x5`/`5, 5` through `+value`, parses chunk sizes with `parseInt`
 * (`-5`, `0x5`, `5   `, `5zz`), accepts any bytes in names, values and the request target, and
 * checks the header size only when a head spans reads. Each would let the sidecar frame a request
 * differently from the app, whose parser is llhttp or as strict: request smuggling.
 *
 * So only its state machine's skeleton and body states are used as they ship (BODY_SIZED,
 * BODY_CHUNK, BODY_RAW); every line it reads — start line, fields, chunk sizes and extensions,
 * the CRLF after chunk data, trailers — is read here to llhttp's rules, as Node runs it (strict,
 * no lenient flags), with llhttp's error codes (most of them: where the two name one refusal
 * differently, both still answer 400), refusing at the first byte no ending can mend as llhttp
 * does. The rules were taken from llhttp itself: test/sidecar/http1-parser.test.ts runs both
 * parsers over a corpus and over seeded mutations and requires the same callbacks, in the same
 * order, and the same refusals. Deliberately stricter than llhttp (the adapter refuses; nothing is
 * framed differently): `PRI` (llhttp waits for an HTTP/2 preface), an HTTP/0.9-form request line
 * (no version) ended by a bare LF, Content-Length and chunk sizes above 2^53 - 1 (JavaScript
 * numbers), and chunk-size lines over 16 KiB (Node caps extensions there too).
 *
 * Slots 1-4 (kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete) are the numbers llhttp
 * uses; slot 0 (kOnMessageBegin) is called here; slot 5 (kOnExecute) never is: without
 * `consume()` the engines read sockets through stream events and `execute()`.
 */

/** llhttp's codes (deps/llhttp/include/llhttp.h) for what this adapter refuses. */
const HPE_PAUSED = 21;

class Refusal extends Error {
  constructor(
    readonly code: string,
    reason: string,
  ) {
    super(reason);
  }
}

const refuse = (code: string, reason: string): never => {
  throw new Refusal(`HPE_${code}`, reason);
};

/** RFC 9110 tchar. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1;
/** What llhttp accepts in a field value: HTAB, SP, VCHAR, obs-text. */
const VALUE = new Uint8Array(256);
VALUE[9] = 1;
for (let b = 0x20; b < 0x100; b++) if (b !== 0x7f) VALUE[b] = 1;
/** The request-target bytes llhttp's strict URL parser accepts: visible ASCII. */
const URL_CHAR = new Uint8Array(256);
for (let b = 0x21; b < 0x7f; b++) URL_CHAR[b] = 1;
/** llhttp's server (authority) characters in absolute-form and CONNECT targets. */
const SERVER = new Uint8Array(256);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@[]%") SERVER[c.charCodeAt(0)] = 1;
/** Chunk extension quoted-string text (qdtext and the escaped byte of a quoted-pair). */
const QDTEXT = new Uint8Array(256);
QDTEXT[9] = 1;
for (let b = 0x20; b < 0x100; b++) if (b !== 0x7f && b !== 0x22 && b !== 0x5c) QDTEXT[b] = 1;

/** Methods llhttp knows, as Node lists them; reported as their index in METHODS. */
const METHOD_INDEX = new Map<string, number>(METHODS.flatMap((m, i): [string, number][] => (m === 'PRI' ? [] : [[m, i]])));
const METHOD_PREFIXES = new Set<string>(
  [...METHOD_INDEX.keys()].flatMap((m) => Array.from({ length: m.length + 1 }, (_, i) => m.slice(0, i))),
);
const MAX_CHUNK_LINE = 16 * 1024;
/** What a status line cut short may still become: `HTTP/d.d ddd[ reason]`. */
const STATUS_PREFIX = /^(?:H(?:T(?:T(?:P(?:\/(?:\d(?:\.(?:\d(?: (?:\d(?:\d(?:\d(?: .*)?)?)?)?)?)?)?)?)?)?)?)?)?$/s;

const enum F {
  ContentLength = 1,
  TransferEncoding = 2,
  Chunked = 4,
  Close = 8,
  KeepAlive = 16,
  ConnUpgrade = 32,
  Upgrade = 64,
  SkipBody = 128,
}

type Cb = (...args: unknown[]) => unknown;

/** The parts of http-parser-js this adapter drives (its own fields and states). */
interface Base {
  state: string;
  chunk: Buffer | null;
  offset: number;
  end: number;
  line: string;
  body_bytes: number | null;
  isUserCall: boolean;
  maxHeaderSize: number;
  BODY_SIZED(): void;
  BODY_CHUNK(): void;
  BODY_RAW(): void;
  [slot: number]: Cb | null;
}

const BaseParser = HTTPParser as unknown as new () => Base;

export class PublicParser extends BaseParser implements Omit<LlParser, 'execute' | 'finish'> {
  private isRequest = true;
  private max = nodeMaxHeaderSize;
  /** Header bytes counted as Node counts them (target, reason, names, values), per head or trailer block. */
  private headerBytes = 0;
  private flags = 0;
  private contentLength = 0;
  private fields: string[] = [];
  private trailers: string[] = [];
  private method = -1;
  private methodName = '';
  private url = '';
  private major = 0;
  private minor = 0;
  private status = 0;
  private reason = '';
  private upgrade = false;
  /** Stop the current execute(): paused by the head callback, or after an upgrade message. */
  private stop: 'pause' | 'upgrade' | undefined;
  private pausedFlag = false;
  private failed: ParseError | undefined;

  initialize(type: number, _resource: object, maxHeaderSize: number, _lenient: number): void {
    this.isRequest = type === PublicParser.REQUEST;
    this.max = maxHeaderSize > 0 ? maxHeaderSize : nodeMaxHeaderSize;
    this.maxHeaderSize = Number.MAX_SAFE_INTEGER; // http-parser-js's own check: replaced by ours
    this.line = '';
    this.failed = undefined;
    this.pausedFlag = false;
    this.stop = undefined;
    this.reset();
  }

  static readonly REQUEST = 1;
  static readonly RESPONSE = 2;

  private reset(): void {
    this.state = 'START';
    this.headerBytes = 0;
    this.flags = 0;
    this.contentLength = 0;
    this.fields = [];
    this.trailers = [];
    this.method = -1;
    this.methodName = '';
    this.url = '';
    this.status = 0;
    this.reason = '';
    this.upgrade = false;
    this.body_bytes = null;
  }

  execute(data: Buffer): number | ParseError {
    if (this.failed !== undefined) return this.error(this.failed.code, this.failed.reason ?? '', 0);
    if (this.pausedFlag) return this.error('HPE_PAUSED', 'Paused', 0);
    this.chunk = data;
    this.offset = 0;
    this.end = data.length;
    this.stop = undefined;
    try {
      while (this.offset < this.end && this.stop === undefined) (this as unknown as Record<string, () => void>)[this.state]!();
    } catch (e) {
      if (!(e instanceof Refusal)) throw e; // a callback's own exception, as from the binding
      this.failed = this.error(e.code, e.message, this.offset);
      return this.failed;
    } finally {
      this.chunk = null;
      this.isUserCall = false;
    }
    if (this.stop === 'pause') {
      this.pausedFlag = true;
      return this.error('HPE_PAUSED', 'Paused by on_headers_complete', this.offset);
    }
    return this.offset;
  }

  finish(): ParseError | undefined {
    if (this.failed !== undefined) return undefined;
    if ((this.state === 'START' || this.state === 'CLOSED') && this.line === '') return undefined;
    if (this.state === 'BODY_RAW') {
      this.messageDone();
      return undefined;
    }
    return this.error('HPE_INVALID_EOF_STATE', 'Invalid EOF state', 0);
  }

  pause(): void {
    this.pausedFlag = true;
  }
  resume(): void {
    this.pausedFlag = false;
  }
  consume(): void {
    throw new Error('the public HTTP/1.1 parser cannot consume a stream handle');
  }
  unconsume(): void {
    /* nothing consumed */
  }
  getCurrentBuffer(): Buffer {
    return Buffer.alloc(0);
  }
  close(): void {
    /* nothing held */
  }
  free(): void {
    /* nothing held */
  }
  remove(): void {
    /* nothing held */
  }

  private error(code: string, reason: string, bytesParsed: number): ParseError {
    return Object.assign(new Error('Parse Error: ' + reason), { code, reason, bytesParsed });
  }

  private call(slot: number, ...args: unknown[]): unknown {
    const f = this[slot];
    return typeof f === 'function' ? f.apply(this, args) : undefined;
  }

  /**
   * One CRLF-terminated line, or undefined when the read ends first (kept for the next). A LF
   * without CR, or a CR before anything but LF, is refused with the code llhttp gives there.
   */
  private readLine(bareLf: string, bareCr: string, limit: number): string | undefined {
    const chunk = this.chunk!;
    const lf = chunk.indexOf(0x0a, this.offset);
    const stop = lf < 0 ? this.end : lf;
    const part = chunk.toString('latin1', this.offset, stop);
    const line = this.line + part;
    // A CR anywhere but last (one ending a read may be followed by LF in the next).
    const cr = line.indexOf('\r');
    if (cr >= 0 && cr !== line.length - 1) refuse(bareCr, 'Expected LF after CR');
    if (lf < 0) {
      if (line.length > limit) refuse('HEADER_OVERFLOW', 'Header overflow');
      this.line = line;
      this.offset = this.end;
      return undefined;
    }
    if (cr < 0) refuse(bareLf, 'Missing expected CR');
    this.line = '';
    this.offset = lf + 1;
    return line.slice(0, -1);
  }

  private countHeader(n: number): void {
    this.headerBytes += n;
    if (this.headerBytes >= this.max) refuse('HEADER_OVERFLOW', 'Header overflow');
  }

  /** Bound on a partial head line kept between reads (beyond it no line can fit the header size). */
  private get lineLimit(): number {
    return this.max * 2 + 1024;
  }

  // --- states (http-parser-js dispatches on `this.state`)

  START(): void {
    const chunk = this.chunk!;
    while (this.offset < this.end && (chunk[this.offset] === 0x0d || chunk[this.offset] === 0x0a)) this.offset++;
    if (this.offset >= this.end) return;
    this.call(0);
    this.state = this.isRequest ? 'REQUEST_LINE' : 'RESPONSE_LINE';
  }

  REQUEST_LINE(): void {
    const line = this.readLine('INVALID_VERSION', 'INVALID_VERSION', this.lineLimit);
    if (line === undefined) {
      // llhttp refuses an unknown method at its first wrong byte: so does this, not at the line's end.
      const sp = this.line.indexOf(' ');
      const m = sp < 0 ? this.line : this.line.slice(0, sp);
      if (sp < 0 ? !METHOD_PREFIXES.has(m) : !METHOD_INDEX.has(m)) refuse('INVALID_METHOD', 'Invalid method encountered');
      // and a version that cannot become HTTP/d.d (what follows the target's spaces).
      const v = / +[^ ]+ +([^ ]*)$/.exec(this.line.slice(sp));
      if (v !== null && !/^(?:H(?:T(?:T(?:P(?:\/(?:\d(?:\.\d?)?)?)?)?)?)?)?\r?$/.test(v[1]!))
        refuse(v[1]!.startsWith('HTTP/') ? 'INVALID_VERSION' : 'INVALID_CONSTANT', 'Expected HTTP/');
      return;
    }
    const sp = line.indexOf(' ');
    const name = sp < 0 ? line : line.slice(0, sp);
    const m = METHOD_INDEX.get(name);
    if (m === undefined || sp < 0) refuse('INVALID_METHOD', 'Invalid method encountered');
    let i = sp;
    while (line.charCodeAt(i) === 0x20) i++;
    let j = i;
    while (j < line.length && line.charCodeAt(j) !== 0x20) {
      if (URL_CHAR[line.charCodeAt(j)] !== 1) refuse('INVALID_URL', 'Invalid characters in url');
      j++;
    }
    const url = line.slice(i, j);
    this.checkTarget(url, name === 'CONNECT');
    this.countHeader(url.length);
    if (j === line.length) {
      this.major = 0;
      this.minor = 9;
    } // llhttp's HTTP/0.9 form: no version
    else {
      while (line.charCodeAt(j) === 0x20) j++;
      const v = /^HTTP\/(\d)\.(\d)$/.exec(line.slice(j));
      if (v === null) refuse(line.startsWith('HTTP/', j) ? 'INVALID_VERSION' : 'INVALID_CONSTANT', 'Invalid HTTP version');
      this.version(Number(v![1]), Number(v![2]));
    }
    this.method = m!;
    this.methodName = name;
    this.url = url;
    this.state = 'FIELD';
  }

  /**
   * The forms llhttp's URL parser accepts: `/...` and `*...`, or `scheme://` and an authority of
   * server characters (up to `/` or `?`); a CONNECT target may also begin with the authority.
   */
  private checkTarget(url: string, connect: boolean): void {
    const c = url.charCodeAt(0);
    if (c === 0x2f || c === 0x2a) return; // its bytes were checked by the caller
    const abs = /^[A-Za-z]+:\/\/([^/?]*)/.exec(url);
    const host = abs !== null ? abs[1]! : connect ? /^[^/?]*/.exec(url)![0] : undefined;
    if (host === undefined || (url === '' && !connect)) refuse('INVALID_URL', 'Unexpected char in url schema');
    for (let k = 0; k < host!.length; k++) if (SERVER[host!.charCodeAt(k)] !== 1) refuse('INVALID_URL', 'Unexpected char in url server');
    if (url === '') refuse('INVALID_URL', 'Unexpected char in url schema');
  }

  private version(major: number, minor: number): void {
    if (!((major === 1 && minor <= 1) || (major === 0 && minor === 9) || (major === 2 && minor === 0)))
      refuse('INVALID_VERSION', 'Invalid HTTP version');
    this.major = major;
    this.minor = minor;
  }

  RESPONSE_LINE(): void {
    const line = this.readLine('CR_EXPECTED', 'STRICT', this.lineLimit);
    if (line === undefined) {
      const l = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
      if (!(l.length < 5 ? 'HTTP/'.startsWith(l) : l.startsWith('HTTP/'))) refuse('INVALID_CONSTANT', 'Expected HTTP/');
      // and a version and status that can still come right (llhttp refuses at the first wrong byte).
      if (!STATUS_PREFIX.test(l))
        refuse(
          /^HTTP\/(?:\d(?:\.\d?)?)?$|^HTTP\/\d\.\d /.test(l.slice(0, 9)) ? 'INVALID_STATUS' : 'INVALID_VERSION',
          'Invalid status line',
        );
      return;
    }
    const v = /^HTTP\/(\d)\.(\d) /.exec(line);
    if (v === null) refuse(line.startsWith('HTTP/') ? 'INVALID_VERSION' : 'INVALID_CONSTANT', 'Expected HTTP/');
    this.version(Number(v![1]), Number(v![2]));
    const s = /^(\d{3})(?: |$)/.exec(line.slice(9));
    if (s === null) refuse('INVALID_STATUS', 'Invalid status code');
    this.status = Number(s![1]);
    this.reason = line.slice(13);
    this.countHeader(this.reason.length);
    this.state = 'FIELD';
  }

  /** A field line of the head, or the empty line that ends it. */
  FIELD(): void {
    const c = this.chunk![this.offset];
    const empty = this.line === '' && (c === 0x0d || c === 0x0a); // the head's last line: llhttp's codes differ there
    const line = this.readLine(empty ? 'INVALID_HEADER_TOKEN' : 'CR_EXPECTED', empty ? 'STRICT' : 'LF_EXPECTED', this.lineLimit);
    if (line === undefined) {
      this.partialField(this.fields.length === 0 ? 'UNEXPECTED_SPACE' : 'INVALID_HEADER_TOKEN');
      return;
    }
    if (line === '') {
      this.headDone();
      return;
    }
    this.field(line, this.fields, this.fields.length === 0 ? 'UNEXPECTED_SPACE' : 'INVALID_HEADER_TOKEN');
  }

  /**
   * A field line cut by the end of a read: refused now if no ending can mend it, as llhttp
   * refuses at the first wrong byte (the connection answers 400 rather than waiting on a timeout).
   */
  private partialField(leadingSpace: string): void {
    const colon = this.line.indexOf(':');
    // A CR last may be the line's end (the LF in the next read), after a value or as the empty line.
    const l = this.line.endsWith('\r') && (colon >= 0 || this.line === '\r') ? this.line.slice(0, -1) : this.line;
    if (l === '') return;
    if (l.charCodeAt(0) === 0x20) refuse(leadingSpace, 'Unexpected space');
    const name = colon < 0 ? l : l.slice(0, colon);
    for (let k = 0; k < name.length; k++) if (TOKEN[name.charCodeAt(k)] !== 1) refuse('INVALID_HEADER_TOKEN', 'Invalid header token');
    if (colon < 0) return;
    if (colon === 0) refuse('INVALID_HEADER_TOKEN', 'Invalid header token');
    for (let k = colon + 1; k < l.length; k++)
      if (VALUE[l.charCodeAt(k)] !== 1) refuse('INVALID_HEADER_TOKEN', 'Invalid header value char');
    // The framing fields' conflicts, refused at the name as llhttp does.
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      if ((this.flags & F.TransferEncoding) !== 0)
        refuse('INVALID_CONTENT_LENGTH', "Content-Length can't be present with Transfer-Encoding");
      if ((this.flags & F.ContentLength) !== 0) refuse('UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length');
      if (!/^[ \t]*\d*[ \t]*$/.test(l.slice(colon + 1))) refuse('INVALID_CONTENT_LENGTH', 'Invalid character in Content-Length');
    } else if (lower === 'transfer-encoding' && (this.flags & F.ContentLength) !== 0) {
      refuse('INVALID_TRANSFER_ENCODING', "Transfer-Encoding can't be present with Content-Length");
    }
  }

  /** `name: value` to llhttp's rules, with its handling of the framing fields. */
  private field(line: string, into: string[], leadingSpace: string): void {
    const first = line.charCodeAt(0);
    if (first === 0x20) refuse(leadingSpace, 'Unexpected space'); // obs-fold, or a space after the start line
    let i = 0;
    while (i < line.length && TOKEN[line.charCodeAt(i)] === 1) i++;
    if (i === 0 || line.charCodeAt(i) !== 0x3a) refuse('INVALID_HEADER_TOKEN', 'Invalid header token');
    const name = line.slice(0, i);
    i++;
    while (line.charCodeAt(i) === 0x20 || line.charCodeAt(i) === 0x09) i++;
    const raw = line.slice(i);
    for (let k = 0; k < raw.length; k++) if (VALUE[raw.charCodeAt(k)] !== 1) refuse('INVALID_HEADER_TOKEN', 'Invalid header value char');
    this.countHeader(name.length + raw.length);
    let e = raw.length;
    while (e > 0 && (raw.charCodeAt(e - 1) === 0x20 || raw.charCodeAt(e - 1) === 0x09)) e--;
    const value = raw.slice(0, e);
    switch (name.toLowerCase()) {
      case 'content-length':
        this.contentLengthField(value);
        break;
      case 'transfer-encoding':
        this.transferEncodingField(raw, value);
        break;
      case 'connection':
        for (const t of value.split(',')) {
          const tok = t.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
          if (tok === 'close') this.flags |= F.Close;
          else if (tok === 'keep-alive') this.flags |= F.KeepAlive;
          else if (tok === 'upgrade') this.flags |= F.ConnUpgrade;
        }
        break;
      case 'upgrade':
        if (value !== '') this.flags |= F.Upgrade;
        break;
    }
    into.push(name, value);
  }

  private contentLengthField(value: string): void {
    if ((this.flags & F.TransferEncoding) !== 0) refuse('INVALID_CONTENT_LENGTH', "Content-Length can't be present with Transfer-Encoding");
    if ((this.flags & F.ContentLength) !== 0) refuse('UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length');
    if (value === '') refuse('INVALID_CONTENT_LENGTH', 'Empty Content-Length');
    if (!/^\d+$/.test(value)) refuse('INVALID_CONTENT_LENGTH', 'Invalid character in Content-Length');
    const n = Number(value);
    if (!Number.isSafeInteger(n)) refuse('INVALID_CONTENT_LENGTH', 'Content-Length overflow');
    this.flags |= F.ContentLength;
    this.contentLength = n;
  }

  /**
   * llhttp's reading: chunked counts only as the last coding, matched as a whole token (case
   * insensitive, SPs after it allowed); in a request anything after a chunked coding — in this
   * field or a later one — is refused, as is (in both) an empty field or one beside Content-Length.
   */
  private transferEncodingField(raw: string, value: string): void {
    if ((this.flags & F.ContentLength) !== 0) refuse('INVALID_TRANSFER_ENCODING', "Transfer-Encoding can't be present with Content-Length");
    if (value === '') refuse('INVALID_TRANSFER_ENCODING', 'Empty Transfer-Encoding');
    this.flags |= F.TransferEncoding;
    for (const t of raw.split(',')) {
      // A request's chunked must be last; a response's body is read to the close unless it is.
      if (this.isRequest && (this.flags & F.Chunked) !== 0) refuse('INVALID_TRANSFER_ENCODING', 'Invalid `Transfer-Encoding` header value');
      if (/^[ \t]*chunked *$/i.test(t)) this.flags |= F.Chunked;
      else this.flags &= ~F.Chunked;
    }
  }

  /** The head is complete: llhttp's on_headers_complete and after_headers_complete. */
  private headDone(): void {
    const f = this.flags;
    this.upgrade =
      (f & F.Upgrade) !== 0 && (f & F.ConnUpgrade) !== 0
        ? this.isRequest || this.status === 101
        : this.isRequest && this.methodName === 'CONNECT';
    const keepAlive = this.shouldKeepAlive();
    this.headerBytes = 0;
    const fields = this.fields;
    this.fields = [];
    const ret = this.isRequest
      ? this.call(2, this.major, this.minor, fields, this.method, this.url, undefined, undefined, this.upgrade, keepAlive)
      : this.call(2, this.major, this.minor, fields, undefined, undefined, this.status, this.reason, this.upgrade, keepAlive);
    this.state = 'AFTER_HEAD';
    if (ret === HPE_PAUSED) {
      this.stop = 'pause';
      return;
    }
    if (ret === 1) this.flags |= F.SkipBody;
    else if (ret === 2) {
      this.upgrade = true;
      this.flags |= F.SkipBody;
    } else if (typeof ret === 'number' && ret !== 0) refuse('CB_HEADERS_COMPLETE', 'User callback error');
    this.AFTER_HEAD();
  }

  private shouldKeepAlive(): boolean {
    if (this.major > 0 && this.minor > 0) {
      if ((this.flags & F.Close) !== 0) return false;
    } else if ((this.flags & F.KeepAlive) === 0) return false;
    return !this.needsEof();
  }

  private needsEof(): boolean {
    if (this.isRequest) return false;
    const s = this.status;
    if (Math.trunc(s / 100) === 1 || s === 204 || s === 304 || (this.flags & F.SkipBody) !== 0) return false;
    if ((this.flags & F.TransferEncoding) !== 0 && (this.flags & F.Chunked) === 0) return true;
    return (this.flags & (F.Chunked | F.ContentLength)) === 0;
  }

  /** How the body is framed (llhttp__after_headers_complete). */
  AFTER_HEAD(): void {
    const f = this.flags;
    const hasBody = (f & F.Chunked) !== 0 || this.contentLength > 0;
    const s = this.status;
    if ((this.upgrade && (this.methodName === 'CONNECT' || (f & F.SkipBody) !== 0 || !hasBody)) || (!this.isRequest && s === 101)) {
      this.upgrade = true;
      this.messageDone();
      return;
    }
    if ((f & F.SkipBody) !== 0 || (!this.isRequest && (s === 100 || s === 102 || s === 103 || s === 204 || s === 304))) {
      this.messageDone();
      return;
    }
    if ((f & F.Chunked) !== 0) {
      this.state = 'CHUNK_SIZE';
      return;
    }
    if ((f & F.TransferEncoding) !== 0) {
      if (this.isRequest) refuse('INVALID_TRANSFER_ENCODING', 'Request has invalid `Transfer-Encoding`');
      this.state = 'BODY_RAW';
      return;
    }
    if ((f & F.ContentLength) === 0) {
      if (this.needsEof()) this.state = 'BODY_RAW';
      else this.messageDone();
      return;
    }
    if (this.contentLength === 0) {
      this.messageDone();
      return;
    }
    this.body_bytes = this.contentLength;
    this.state = 'BODY_SIZED';
  }

  /** `size[;ext[=value]]...` CRLF, to llhttp's strict rules. */
  CHUNK_SIZE(): void {
    const line = this.readLine('CR_EXPECTED', 'STRICT', MAX_CHUNK_LINE);
    if (line === undefined) {
      // Cut by the end of a read: a size that cannot become valid is refused now (as llhttp does).
      const l = this.line;
      const hex = /^[0-9a-fA-F]*/.exec(l)![0];
      const next = l.charCodeAt(hex.length);
      if (l !== '' && (hex === '' || (hex.length < l.length && next !== 0x3b && next !== 0x0d)))
        refuse('INVALID_CHUNK_SIZE', 'Invalid character in chunk size');
      return;
    }
    // The same bound whether the line came in pieces (readLine) or in one read.
    if (line.length > MAX_CHUNK_LINE) refuse('CHUNK_EXTENSIONS_OVERFLOW', 'Chunk extensions overflow');
    const m = /^[0-9a-fA-F]+/.exec(line);
    if (m === null) refuse('INVALID_CHUNK_SIZE', 'Invalid character in chunk size');
    const hex = m![0].replace(/^0+(?=.)/, '');
    const size = hex.length > 14 ? Infinity : parseInt(hex, 16);
    if (!Number.isSafeInteger(size)) refuse('INVALID_CHUNK_SIZE', 'Chunk size overflow');
    const ext = line.slice(m![0].length);
    if (ext !== '') {
      if (ext.charCodeAt(0) !== 0x3b) refuse('INVALID_CHUNK_SIZE', 'Invalid character in chunk size');
      this.checkExtensions(ext);
    }
    if (size === 0) {
      this.state = 'TRAILER';
      return;
    }
    this.body_bytes = size;
    this.state = 'BODY_CHUNK';
  }

  /**
   * `(;name[=token|quoted-string])+`, no whitespace anywhere (llhttp refuses it strict). As in
   * llhttp, a name may be empty (`;;a`, `;=b`) except that the line may not end in `;`.
   */
  private checkExtensions(ext: string): void {
    let i = 0;
    while (i < ext.length) {
      if (ext.charCodeAt(i) !== 0x3b) refuse('STRICT', 'Invalid character in chunk extensions');
      i++;
      const n = i;
      while (i < ext.length && TOKEN[ext.charCodeAt(i)] === 1) i++;
      if (i === ext.length && i === n) refuse('STRICT', 'Invalid character in chunk extensions'); // a `;` last; empty names pass llhttp
      if (i === ext.length || ext.charCodeAt(i) === 0x3b) continue;
      if (ext.charCodeAt(i) !== 0x3d) refuse('STRICT', 'Invalid character in chunk extensions name');
      i++;
      if (ext.charCodeAt(i) === 0x22) {
        i++;
        for (;;) {
          if (i >= ext.length) refuse('STRICT', 'Invalid character in chunk extensions quoted value');
          const c = ext.charCodeAt(i);
          if (c === 0x22) {
            i++;
            break;
          }
          if (c === 0x5c) {
            if (
              i + 1 >= ext.length ||
              (QDTEXT[ext.charCodeAt(i + 1)] !== 1 && ext.charCodeAt(i + 1) !== 0x22 && ext.charCodeAt(i + 1) !== 0x5c)
            )
              refuse('STRICT', 'Invalid quoted-pair in chunk extensions quoted value');
            i += 2;
            continue;
          }
          if (QDTEXT[c] !== 1) refuse('STRICT', 'Invalid character in chunk extensions quoted value');
          i++;
        }
        if (i < ext.length && ext.charCodeAt(i) !== 0x3b) refuse('STRICT', 'Invalid character in chunk extensions quote value');
      } else {
        while (i < ext.length && TOKEN[ext.charCodeAt(i)] === 1) i++;
        if (i < ext.length && ext.charCodeAt(i) !== 0x3b) refuse('STRICT', 'Invalid character in chunk extensions value');
      }
    }
  }

  /** http-parser-js moves here after a chunk's data: exactly CRLF must follow. */
  BODY_CHUNKEMPTYLINE(): void {
    const chunk = this.chunk!;
    // Byte by byte: "\r" may end one read and "\n" begin the next.
    if (this.line === '') {
      if (chunk[this.offset] !== 0x0d) refuse('STRICT', 'Expected LF after chunk data');
      this.offset++;
      this.line = '\r';
      if (this.offset >= this.end) return;
    }
    if (chunk[this.offset] !== 0x0a) refuse('STRICT', 'Expected LF after chunk data');
    this.offset++;
    this.line = '';
    this.state = 'CHUNK_SIZE';
  }

  /** Trailer fields after the last chunk, to the head's rules (framing fields included). */
  TRAILER(): void {
    const line = this.readLine('INVALID_HEADER_TOKEN', 'STRICT', this.lineLimit);
    if (line === undefined) {
      this.partialField('INVALID_HEADER_TOKEN');
      return;
    }
    if (line !== '') {
      this.field(line, this.trailers, 'INVALID_HEADER_TOKEN');
      return;
    }
    if (this.trailers.length > 0) {
      const t = this.trailers;
      this.trailers = [];
      this.call(1, t, '');
    }
    this.messageDone();
  }

  /** http-parser-js calls this when a sized body ends. */
  nextRequest(): void {
    this.messageDone();
  }

  private messageDone(): void {
    const upgrade = this.upgrade;
    const keepAlive = this.shouldKeepAlive(); // as llhttp judges it at the message's end
    this.reset();
    if (!upgrade && !keepAlive) this.state = 'CLOSED';
    this.call(4);
    if (upgrade) this.stop = 'upgrade'; // the rest of the read is another protocol's (or waits for the answer)
  }

  /** After a message that does not keep the connection (llhttp, strict): only CR and LF may follow. */
  CLOSED(): void {
    const chunk = this.chunk!;
    while (this.offset < this.end && (chunk[this.offset] === 0x0d || chunk[this.offset] === 0x0a)) this.offset++;
    if (this.offset < this.end) refuse('CLOSED_CONNECTION', 'Data after `Connection: close`');
  }
}
