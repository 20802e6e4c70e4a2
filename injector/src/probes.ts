/**
 * Kubelet probes of app containers are rewritten to the sidecar's admin port, so they are never
 * refused by authentication nor answered by the sidecar instead of the app. The originals (named
 * ports resolved to numbers) travel in SIDEGATE_APP_PROBES; the admin server runs them on
 * `GET /app-health/<container>/<probe>`.
 */
import { ADMIN_PORT } from './constants.js';
import { PROBE_KINDS, probeField, type Container, type Json, type Probe } from './k8s.js';

export type AppProbes = Record<string, Json>;

export const appHealthPath = (container: string, kind: string): string => `/app-health/${container}/${kind}`;

const HANDLERS = ['httpGet', 'tcpSocket', 'grpc', 'exec'] as const;

function resolvePort(port: number | string, c: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** The handler the sidecar runs, with numeric ports, or a reason the probe stays as it is. */
function originalHandler(probe: Probe, c: Container): Json | string {
  const timeout = probe.timeoutSeconds ?? 1;
  if (probe.httpGet !== undefined) {
    const g = probe.httpGet;
    if (g.host !== undefined && g.host !== '') return 'it probes another host';
    const port = resolvePort(g.port, c);
    if (port === undefined) return `named port "${String(g.port)}" is not declared by the container`;
    const h: { [k: string]: Json } = { path: g.path ?? '/', port, scheme: g.scheme ?? 'HTTP' };
    if (g.httpHeaders !== undefined && g.httpHeaders.length > 0)
      h.httpHeaders = g.httpHeaders.map((x) => ({ name: x.name, value: x.value }));
    return { httpGet: h, timeoutSeconds: timeout };
  }
  if (probe.tcpSocket !== undefined) {
    if (probe.tcpSocket.host !== undefined && probe.tcpSocket.host !== '') return 'it probes another host';
    const port = resolvePort(probe.tcpSocket.port, c);
    if (port === undefined) return `named port "${String(probe.tcpSocket.port)}" is not declared by the container`;
    return { tcpSocket: { port }, timeoutSeconds: timeout };
  }
  if (probe.grpc !== undefined) {
    return { grpc: { port: probe.grpc.port, service: probe.grpc.service ?? '' }, timeoutSeconds: timeout };
  }
  return 'exec probes run inside the container';
}

export function isRewritten(probe: Probe | undefined, container: string, kind: string): boolean {
  return probe?.httpGet?.port === ADMIN_PORT && probe.httpGet.path === appHealthPath(container, kind);
}

/**
 * Rewrites the probes of one container in place. Returns the originals (for the status
 * annotation, so strip can restore them exactly), the handlers for SIDEGATE_APP_PROBES, and
 * warnings for probes that had to stay as they were.
 */
export function rewriteProbes(c: Container, appProbes: AppProbes, originals: Record<string, Probe>, warnings: string[]): void {
  for (const kind of PROBE_KINDS) {
    const field = probeField(kind);
    const probe = c[field];
    if (probe === undefined || typeof probe !== 'object' || probe === null) continue;
    const handler = originalHandler(probe, c);
    if (typeof handler === 'string') {
      if (!handler.startsWith('exec')) warnings.push(`container ${c.name} ${kind} probe not rewritten: ${handler}`);
      continue;
    }
    const key = `${c.name}/${kind}`;
    appProbes[key] = handler;
    originals[key] = probe;
    const rewritten: Probe = {};
    for (const [k, v] of Object.entries(probe)) {
      if (!(HANDLERS as readonly string[]).includes(k)) rewritten[k] = v;
    }
    rewritten.httpGet = { path: appHealthPath(c.name, kind), port: ADMIN_PORT, scheme: 'HTTP' };
    c[field] = rewritten;
  }
}
