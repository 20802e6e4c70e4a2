import { connect } from 'node:net';
import type { Clock } from '../clock.js';
import type { Exchange, UpgradeTunnel } from '../exchange.js';
import { H } from '../headers.js';
import type { Metrics } from '../telemetry/metrics.js';
import { upstreamError } from './errors.js';
import { requestHeadersForApp } from './headers.js';

/**
 * An HTTP/1.1 Upgrade (WebSocket) to the app: send the request head, then relay bytes both ways
 * untouched. Settles when both sides have closed. Only a failure to connect is an error answer;
 * once bytes flow, a failure just closes both sockets.
 */
export function tunnel(ex: Exchange, up: UpgradeTunnel, host: string, port: number, clock: Clock, metrics: Metrics): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    ex.upstreamStart = clock.monotonic();
    const app = connect({ host, port, noDelay: true });
    const client = up.socket;
    let open = false;
    app.once('connect', () => {
      open = true;
      const headers = requestHeadersForApp(ex, false);
      headers[H.connection] = 'Upgrade';
      const upgrade = ex.headers[H.upgrade];
      if (upgrade !== undefined) headers[H.upgrade] = upgrade;
      let head = `${ex.method} ${ex.target} HTTP/1.1\r\n`;
      for (const k in headers) {
        const v = headers[k]!;
        for (const one of Array.isArray(v) ? v : [v]) head += `${k}: ${one}\r\n`;
      }
      app.write(`${head}\r\n`);
      if (up.head.length > 0) app.write(up.head);
      app.once('data', (chunk: Buffer) => {
        // Status for the access log: "HTTP/1.1 101 ..." → 101.
        ex.status = Number(chunk.subarray(9, 12).toString('latin1')) || 502;
        ex.upstreamMs = clock.monotonic() - ex.upstreamStart;
      });
      app.pipe(client);
      client.pipe(app);
    });
    let closed = 0;
    const onClose = (): void => {
      app.destroy();
      client.destroy();
      if (++closed === 2) resolve();
    };
    app.once('close', onClose);
    client.once('close', onClose);
    app.on('error', (err) => {
      if (!open) {
        app.off('close', onClose);
        client.off('close', onClose);
        reject(upstreamError(err, ex.timeoutMs, metrics));
      }
    });
    client.on('error', () => app.destroy());
  });
}
