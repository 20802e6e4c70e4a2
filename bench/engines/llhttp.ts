import { pino } from 'pino';
import { systemClock } from '../../sidecar/src/clock.js';
import { InboundListener } from '../../sidecar/src/inbound/listener.js';
import { Metrics } from '../../sidecar/src/telemetry/metrics.js';
import { Http1Upstream } from '../../sidecar/src/upstream/http1.js';
import { engineArgs } from './common.js';

/**
 * Engine: sidegate's own HTTP/1.1 engine — the inbound listener (llhttp reading the socket in
 * C++, sidecar/src/protocol/http1) and the upstream pool (sidecar/src/upstream/http1) — with every
 * request handed straight to the app: no pipeline, no telemetry. The gap between this and
 * `sidegate` (bare) is what the pipeline, the Exchange's bookkeeping and the metrics cost.
 */
const args = engineArgs(process.argv.slice(2));
const metrics = new Metrics({ processMetrics: false });
const upstream = new Http1Upstream(args.upstream.origin, systemClock, metrics);
const listener = new InboundListener(
  {
    host: args.host,
    port: args.port,
    tls: undefined,
    maxHeaderSize: 16384,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 300_000,
    idleTimeoutMs: 75_000,
    maxConcurrentStreams: 1000,
    metrics,
    log: pino({ level: 'warn' }),
  },
  {
    scheme: 'http',
    clock: systemClock,
    draining: () => false,
    dispatch: (ex) => {
      ex.timeoutMs = 15_000;
      upstream.forward(ex).catch(() => ex.sink.abort());
    },
  },
);
await listener.listen();
const stop = (): void => {
  void listener.stopAccepting();
  listener.destroyAll();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
