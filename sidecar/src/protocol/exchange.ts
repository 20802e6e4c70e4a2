import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { Duplex, Readable } from 'node:stream';
import { requestIdFrom } from './request-id.js';
import { requestTarget, validAuthority } from './target.js';

/**
 * Where a response goes. The HTTP/1.1, HTTP/2 and upgrade (raw socket) fronts each implement it,
 * so stages and upstreams never care which protocol the client spoke.
 */
export interface ResponseSink {
  readonly headersSent: boolean;
  /** Body bytes written to the client so far. */
  readonly bytesOut: number;
  /** True once the client is gone (closed, reset) or the response was ended or aborted. */
  readonly closed: boolean;
  /**
   * `endStream`: the response has no body (sent as one HEADERS frame on HTTP/2, which gRPC's
   * trailers-only answers need). `trailers`: the body may be followed by trailers. `flushes`:
   * the caller calls `flush()` once it has handled the read that brought the head, so a sink that
   * holds the head back for the first body chunk need not schedule a flush of its own.
   */
  writeHead(status: number, headers: OutgoingHttpHeaders, endStream?: boolean, trailers?: boolean, flushes?: boolean): void;
  /** Send what the sink holds back (a head waiting for its first body chunk). */
  flush?(): void;
  /** Returns false when the client cannot take more now; wait for `onDrain`. */
  write(chunk: Uint8Array): boolean;
  onDrain(cb: () => void): void;
  end(chunk?: Uint8Array | string, trailers?: OutgoingHttpHeaders): void;
  /** Reset the response: used when the app fails after the headers were sent. */
  abort(): void;
  /** Called once when the exchange is over (response finished, aborted or client gone). */
  onClose(cb: () => void): void;
}

export type Protocol = 'http/1.1' | 'h2';

/**
 * An HTTP/1.1 request that offers to switch protocols (WebSocket, or another Upgrade token) and
 * that sidegate is willing to tunnel. The connection stays HTTP until the app answers `101`: only
 * then does `takeOver` hand its socket to the tunnel. Any other answer is an ordinary response and
 * the client's next bytes are parsed, judged and forwarded as HTTP requests.
 */
export interface UpgradeOffer {
  /** The protocols the client offered (its Upgrade header, as sent). */
  readonly protocols: string;
  /**
   * The app answered 101: the client connection leaves HTTP. Its socket, and the bytes the client
   * sent after the request (the new protocol's first data). Undefined if the client is gone.
   */
  takeOver(): { readonly socket: Duplex; readonly head: Buffer } | undefined;
}

/** Verdict of the authenticate stage, kept for the log line, the span and later stages. */
export interface AuthOutcome {
  readonly provider?: string;
  readonly result: 'success' | 'failure' | 'skipped';
  readonly reason?: string;
  readonly subject?: string;
  readonly claims?: Readonly<Record<string, unknown>>;
  readonly cached?: boolean;
}

/**
 * One request/response exchange as the pipeline sees it. Fields the fronts fill are readonly;
 * the rest are written by stages and read by telemetry at the end.
 */
export class Exchange {
  /** Name of the policy route that matched, or "default". Bounded: safe as a metric label. */
  routeName = 'default';
  /** Per-route upstream timeout chosen by the route stage (ms). */
  timeoutMs = 0;
  status = 0;
  errorCode: string | undefined = undefined;
  error: unknown = undefined;
  upstreamStart = 0;
  upstreamMs = -1;
  auth: AuthOutcome | undefined = undefined;
  /** Extra headers stages want on the response, whatever it turns out to be (e.g. RateLimit). */
  responseHeaders: Record<string, string> | undefined = undefined;
  /**
   * Why the request line was refused by the target validator (`protocol/target.ts`): the route
   * stage answers 400 with it before any other stage reads the request.
   */
  invalid: string | undefined = undefined;
  /** The path with its `;parameters` when it has any (rules match `path`, without them). */
  paramPath: string | undefined = undefined;
  /** The client's address as the policy's `clientAddress.trustedHops` reads it (set by the route stage). */
  clientAddress = '';
  /** Proxies in front are trusted (`trustedHops` > 0): their x-forwarded-proto and -host are kept. */
  trustForwarded = false;
  /** Free-form annotations stages leave for the log line and span (small, bounded values only). */
  notes: Record<string, string | number | boolean> | undefined = undefined;
  /** The request's SERVER span, when tracing is on. */
  span: Span | undefined = undefined;
  /**
   * Which auth rule decided (index into the policy's `auth.rules`; -1 the default requirement;
   * -2 not judged) and the Redis keys of the limits that applied: what the sidecar concluded,
   * for the debug access log (`decision`) and the tests that compare it with what the app got.
   */
  authRule = -2;
  limitKeys: readonly { readonly key: string; readonly spec: { readonly name: string } }[] | undefined = undefined;

  /**
   * The one way an Exchange is made (every front, `sidegate explain`, tests and benchmarks): the
   * path is the target without its query, the request id is the client's `x-request-id` when it
   * is safe to echo (`request-id.ts`) or a fresh one, and the method and target are validated
   * and normalised once (`target.ts`): on success the exchange carries the normalised path and
   * target; on failure `invalid` says why and the route stage answers 400 before any other stage
   * reads the request.
   */
  static create(
    protocol: Protocol,
    method: string,
    target: string,
    authority: string,
    scheme: 'http' | 'https',
    headers: IncomingHttpHeaders,
    remoteAddress: string,
    body: Readable,
    hasBody: boolean,
    sink: ResponseSink,
    /** The client's `x-request-id` (or the id to use, if it is a safe one). */
    requestId: string | string[] | undefined,
    start: number,
  ): Exchange {
    const q = target.indexOf('?');
    const ex = new Exchange(
      protocol,
      method,
      target,
      q < 0 ? target : target.slice(0, q),
      authority,
      scheme,
      headers,
      remoteAddress,
      body,
      hasBody,
      sink,
      requestIdFrom(requestId),
      start,
    );
    const t = requestTarget(method, target, protocol === 'h2');
    if (t.ok) {
      ex.target = t.target;
      ex.path = t.path;
      if (t.authority !== undefined) ex.authority = t.authority;
      if (t.paramPath !== undefined) ex.paramPath = t.paramPath;
      if (!validAuthority(ex.authority)) ex.invalid = 'invalid Host or :authority';
    } else {
      ex.invalid = t.reason;
    }
    return ex;
  }

  /** Set when the request offers a protocol switch sidegate will tunnel after the app's 101. */
  upgrade: UpgradeOffer | undefined = undefined;

  private constructor(
    readonly protocol: Protocol,
    readonly method: string,
    /** Request target, origin-form: path plus query. Validated and normalised by `create`. */
    public target: string,
    /** Path without the query string, used for matching; normalised with the target. */
    public path: string,
    public authority: string,
    readonly scheme: 'http' | 'https',
    /** Request headers with lowercase names; HTTP/2 pseudo-headers removed. */
    readonly headers: IncomingHttpHeaders,
    readonly remoteAddress: string,
    /** Request body; already ended when the request has none. */
    readonly body: Readable,
    readonly hasBody: boolean,
    readonly sink: ResponseSink,
    readonly requestId: string,
    readonly start: number,
  ) {}

  addResponseHeader(name: string, value: string): void {
    (this.responseHeaders ??= {})[name] = value;
  }

  note(key: string, value: string | number | boolean): void {
    (this.notes ??= {})[key] = value;
  }
}
