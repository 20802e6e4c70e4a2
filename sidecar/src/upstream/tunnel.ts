import { connect, type Socket } from 'node:net';
import type { Clock } from '../clock.js';
import type { Exchange, UpgradeOffer } from '../protocol/exchange.js';
import { H } from '../protocol/headers.js';
import { addField } from '../protocol/http1/fields.js';
import { fieldLines, statusLine } from '../protocol/http1/head.js';
import { newParser, Slot, type ParseError } from '../protocol/http1/llhttp.js';
import { switchedToOffered } from '../protocol/upgrade.js';
import type { Metrics } from '../telemetry/metrics.js';
import { CLIENT_CLOSED, interimFlood, MAX_INTERIM, upstreamError } from './errors.js';
import { requestHead, responseHeadersFromFields } from './headers.js';

const enum State {
  Waiting,
  Relaying,
  Tunnel,
  Done,
}

/**
 * An Upgrade request (WebSocket, or another protocol) to the app, on a connection of its own. The
 * connection becomes a byte tunnel only once the app answers 101 naming a protocol the client
 * offered: until then not one byte the client sent after its request reaches the app. Any other
 * answer is relayed as an ordinary response (the client's connection stays HTTP, and what it sent
 * next is parsed and judged as requests); the app's connection is then closed, since it was
 * offered an upgrade. Settles when the response is relayed, or when both tunnel ends have closed.
 */
export function tunnel(ex: Exchange, offer: UpgradeOffer, host: string, port: number, clock: Clock, metrics: Metrics): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    ex.upstreamStart = clock.monotonic();
    const app: Socket = connect({ host, port, noDelay: true });
    const parser = newParser('response', 0);
    let state = State.Waiting;
    let fields: string[] = [];
    /** The 101's fields, once the app has sent it. */
    let switched: string[] | undefined;
    let informational = false;
    let interim = 0;
    let timer: NodeJS.Timeout | undefined;

    const finish = (err?: unknown): void => {
      if (state === State.Done) return;
      const was = state;
      state = State.Done;
      clearTimeout(timer);
      app.off('data', onData);
      app.destroy();
      setImmediate(() => parser.close());
      if (ex.upstreamMs < 0) ex.upstreamMs = clock.monotonic() - ex.upstreamStart;
      if (err === undefined) {
        resolve();
        return;
      }
      if (ex.sink.closed) {
        if (!ex.sink.headersSent) ex.status = CLIENT_CLOSED;
        resolve();
        return;
      }
      if (was === State.Relaying) {
        ex.sink.abort();
        resolve();
        return;
      } // the head was relayed: cut the response
      reject(upstreamError(err, ex.timeoutMs, metrics));
    };

    parser[Slot.Headers] = (f: string[]) => {
      for (const x of f) fields.push(x);
    };
    parser[Slot.HeadersComplete] = (_maj: number, _min: number, f: string[] | undefined, _m: unknown, _u: unknown, status: number) => {
      if (f !== undefined) for (const x of f) fields.push(x);
      const raw = fields;
      fields = [];
      if (status === 101) {
        switched = raw;
        return 0;
      }
      if (status < 200) {
        if (++interim > MAX_INTERIM) {
          finish(interimFlood());
          return 0;
        }
        informational = true;
        return 0;
      } // 100, 103: not relayed
      state = State.Relaying;
      clearTimeout(timer);
      ex.status = status;
      ex.upstreamMs = clock.monotonic() - ex.upstreamStart;
      ex.sink.writeHead(status, responseHeadersFromFields(ex, raw));
      return ex.method === 'HEAD' ? 1 : 0;
    };
    parser[Slot.Body] = (b: Buffer) => {
      if (state !== State.Relaying) return;
      if (!ex.sink.write(b)) {
        app.pause();
        ex.sink.onDrain(() => app.resume());
      }
    };
    parser[Slot.MessageComplete] = () => {
      if (informational) {
        informational = false;
        return;
      }
      if (state !== State.Relaying) return;
      let trailers: Record<string, string | string[]> | undefined;
      if (fields.length > 0) {
        trailers = {};
        for (let i = 0; i + 1 < fields.length; i += 2) addField(trailers, fields[i]!, fields[i + 1]!);
      }
      fields = [];
      ex.sink.end(undefined, trailers);
      finish();
    };

    const onData = (d: Buffer): void => {
      const r = parser.execute(d);
      if (typeof r !== 'number') {
        finish(parseFailure(r));
        return;
      }
      if (switched !== undefined && state === State.Waiting) switchOver(switched, d.subarray(r));
    };

    /** The app said 101: hand the client's socket over and relay bytes both ways, untouched. */
    const switchOver = (raw: string[], appRest: Buffer): void => {
      if (!switchedToOffered(offer.protocols, headerOf(raw, 'upgrade'))) {
        finish(Object.assign(new Error('the app switched to a protocol the client did not offer'), { code: 'SIDEGATE_UPSTREAM_PROTOCOL' }));
        return;
      }
      state = State.Tunnel; // before takeOver: it ends the HTTP exchange, which is no client going away
      const client = offer.takeOver();
      if (client === undefined) {
        state = State.Waiting;
        finish();
        return;
      }
      clearTimeout(timer);
      app.off('data', onData);
      setImmediate(() => parser.close());
      ex.status = 101;
      ex.upstreamMs = clock.monotonic() - ex.upstreamStart;
      const headers = responseHeadersFromFields(ex, raw);
      let head = statusLine(101);
      for (const name in headers) {
        const v = headers[name];
        if (v !== undefined) head += fieldLines(name, v);
      }
      head += `${fieldLines(H.upgrade, headerOf(raw, 'upgrade')!)}connection: upgrade\r\n\r\n`;
      const socket = client.socket;
      socket.write(head, 'latin1');
      if (appRest.length > 0) socket.write(appRest);
      if (client.head.length > 0) app.write(client.head);
      let closed = 0;
      const onClose = (): void => {
        app.destroy();
        socket.destroy();
        if (++closed === 2) resolve();
      };
      app.once('close', onClose);
      socket.once('close', onClose);
      socket.on('error', () => app.destroy());
      app.pipe(socket);
      socket.pipe(app);
    };

    app.once('connect', () => {
      if (state !== State.Waiting) return;
      app.write(requestHead(ex, false, offer.protocols), 'latin1');
      app.on('data', onData);
    });
    app.on('end', () => {
      if (state === State.Tunnel || state === State.Done) return; // the parser is the tunnel's no more
      const r = parser.finish(); // a body delimited by the close ends here
      if (r !== undefined && typeof r !== 'number') finish(parseFailure(r));
      else finish(Object.assign(new Error('the app closed the connection'), { code: 'ECONNRESET' }));
    });
    app.on('error', (err) => {
      if (state !== State.Tunnel) finish(err);
    });
    app.on('close', () => {
      if (state === State.Waiting || state === State.Relaying)
        finish(Object.assign(new Error('the app closed the connection'), { code: 'ECONNRESET' }));
    });
    ex.sink.onClose(() => {
      if (state === State.Waiting || state === State.Relaying) {
        if (ex.status === 0) ex.status = CLIENT_CLOSED;
        finish();
      }
    });
    if (ex.timeoutMs > 0) {
      timer = setTimeout(() => {
        if (state === State.Waiting)
          finish(Object.assign(new Error('the app did not answer in time'), { code: 'SIDEGATE_UPSTREAM_TIMEOUT' }));
      }, ex.timeoutMs);
      timer.unref();
    }
  });
}

function headerOf(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

function parseFailure(e: ParseError): Error {
  return Object.assign(new Error(`the app sent a malformed response (${e.code})`), { code: 'HPE_INVALID' });
}
