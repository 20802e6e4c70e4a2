import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from '../../protocol/node-http.js';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../../telemetry/metrics.js';
import { bind } from '../bind.js';
import { runProbe, type AppProbes } from './probes.js';

const { createServer } = http;

/** Something that has a say in readiness (policy loaded, keys fetched, not draining). */
export interface ReadinessCheck {
  readonly name: string;
  ready(): boolean;
}

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly checks: () => readonly ReadinessCheck[];
  readonly probes: AppProbes;
  /** Start a graceful drain (POST /drain) or an immediate shutdown (/quitquitquit); loopback only. */
  readonly drain: (delay: boolean) => void;
  /** Extra read-only JSON views (e.g. /policy, /breaker), keyed by path. */
  readonly views: ReadonlyMap<string, () => unknown>;
  /**
   * Read-only views that show configuration in detail (/debug/policy): GET only, and from
   * loopback only, like the state-changing actions (kubectl port-forward and exec arrive there).
   */
  readonly debugViews?: ReadonlyMap<string, () => unknown>;
}

export function isLoopback(addr: string | undefined): boolean {
  if (addr === undefined) return false;
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return v4.startsWith('127.') || addr === '::1';
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s), 'cache-control': 'no-store' });
  res.end(s);
}

/**
 * Port 15090: liveness, readiness, Prometheus metrics, the app's rewritten kubelet probes, and
 * the loopback-only drain controls. Never redirected, never authenticated, never access-logged.
 */
export class AdminServer {
  private readonly server: Server;
  constructor(private readonly opts: AdminOptions) {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.keepAliveTimeout = 5_000;
  }

  listen(): Promise<AddressInfo> {
    return bind(this.server, this.opts.host, this.opts.port);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0]!;
    try {
      if (path === '/healthz/live') {
        json(res, 200, { status: 'live' });
        return;
      }
      if (path === '/healthz/ready') {
        const failing = this.opts
          .checks()
          .filter((c) => !c.ready())
          .map((c) => c.name);
        json(res, failing.length === 0 ? 200 : 503, failing.length === 0 ? { status: 'ready' } : { status: 'not ready', failing });
        return;
      }
      if (path === '/metrics') {
        const body = await this.opts.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.opts.metrics.registry.contentType });
        res.end(body);
        return;
      }
      if (path.startsWith('/app-health/')) {
        await this.appHealth(path.slice('/app-health/'.length), res);
        return;
      }
      if (path === '/drain' || path === '/quitquitquit') {
        // State changes take POST only: in a pod the app shares loopback, and a plain GET is what an
        // SSRF in the app (or a curious browser) can send (Envoy's admin and Istio's agent agree).
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST');
          json(res, 405, { error: `${path} takes POST` });
          return;
        }
        if (!isLoopback(req.socket.remoteAddress)) {
          json(res, 403, { error: `${path} is only accepted from loopback` });
          return;
        }
        json(res, 202, { status: path === '/drain' ? 'draining' : 'exiting' });
        this.opts.drain(path === '/drain');
        return;
      }
      const view = this.opts.views.get(path);
      if (view !== undefined) {
        json(res, 200, view());
        return;
      }
      const debug = this.opts.debugViews?.get(path);
      if (debug !== undefined) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.setHeader('allow', 'GET, HEAD');
          json(res, 405, { error: `${path} takes GET` });
          return;
        }
        if (!isLoopback(req.socket.remoteAddress)) {
          json(res, 403, { error: `${path} is only served to loopback (kubectl port-forward or exec)` });
          return;
        }
        json(res, 200, debug());
        return;
      }
      json(res, 404, {
        error: 'not found',
        endpoints: [
          '/healthz/live',
          '/healthz/ready',
          '/metrics',
          '/app-health/<container>/<probe>',
          '/drain',
          '/quitquitquit',
          ...this.opts.views.keys(),
          ...(this.opts.debugViews?.keys() ?? []),
        ],
      });
    } catch (err) {
      this.opts.log.error({ err, path }, 'admin request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  }

  private async appHealth(key: string, res: ServerResponse): Promise<void> {
    const probe = this.opts.probes.get(key);
    if (probe === undefined) {
      json(res, 404, { error: `no app probe "${key}" in SIDEGATE_APP_PROBES` });
      return;
    }
    const r = await runProbe(probe);
    json(res, r.ok ? 200 : 503, { probe: key, ok: r.ok, detail: r.detail });
  }
}
