/**
 * Every `sidegate.dev/` pod annotation: one table (name, default as documented, meaning, parser).
 * docs/annotations.md and policies/annotations.schema.json list the same names; a test keeps the
 * three in step. Parsing never throws: problems that would break the pod are `errors` (the pod is
 * refused with all of them), softer ones are `warnings` (kubectl prints them, the pod is admitted).
 */
import { quote } from '../../policies/src/index.js';
import { ANNOTATION_STATUS, LABEL_POD_INJECT, PREFIX, RESERVED_PORTS } from './constants.js';
import { parseQuantity } from './quantity.js';
import { parseMaintenanceShorthand, type ShorthandMaintenance } from './maintenance-shorthand.js';
import { parseRateLimitShorthand, type ShorthandLimit } from './ratelimit-shorthand.js';

export interface AnnotationSettings {
  policyConfigMap?: string;
  jwtIssuer?: string;
  jwksUri?: string;
  jwtAudiences?: string[];
  publicPaths?: string[];
  rateLimits?: ShorthandLimit[];
  maintenance?: ShorthandMaintenance;
  /** A number, or a container port name resolved later against the pod. */
  appPort?: number | string;
  appProtocol?: 'http1' | 'h2c' | 'grpc';
  proxyCpu?: string;
  proxyMemory?: string;
  proxyCpuLimit?: string;
  proxyMemoryLimit?: string;
  inboundPorts?: number[] | '*';
  excludeInboundPorts?: number[];
  interception?: 'redirect' | 'none';
  nativeSidecar?: boolean;
}

export interface Problems {
  readonly errors: string[];
  readonly warnings: string[];
}

export interface AnnotationSpec {
  /** Without the prefix. */
  readonly name: string;
  /** The default, as docs/annotations.md shows it. */
  readonly default: string;
  readonly meaning: string;
  readonly example: string;
  parse(value: string, out: AnnotationSettings, p: Problems, full: string): void;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function isHttpUrl(s: string, httpsOnly: boolean): boolean {
  try {
    const u = new URL(s);
    return httpsOnly ? u.protocol === 'https:' : u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A port number for the proxy to use, or an error text. */
function port(s: string, full: string): number | string {
  if (!/^\d+$/.test(s)) return `${full}: ${quote(s)} is not a port number`;
  const n = Number(s);
  if (n < 1 || n > 65535) return `${full}: ${n} is outside 1-65535`;
  if (RESERVED_PORTS.has(n)) return `${full}: ${n} is reserved by the sidecar`;
  return n;
}

function portList(value: string, full: string, p: Problems): number[] {
  const out: number[] = [];
  for (const item of list(value)) {
    const r = port(item, full);
    if (typeof r === 'string') p.errors.push(r);
    else if (!out.includes(r)) out.push(r);
  }
  return out;
}

function quantity(value: string, full: string, p: Problems): string | undefined {
  const q = parseQuantity(value);
  if (q === undefined || q <= 0) {
    p.errors.push(`${full}: ${quote(value)} is not a valid resource quantity (e.g. 100m, 128Mi)`);
    return undefined;
  }
  return value;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], full: string, p: Problems): T | undefined {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  p.errors.push(`${full}: ${quote(value)} must be one of ${allowed.join(', ')}`);
  return undefined;
}

export const ANNOTATIONS: readonly AnnotationSpec[] = [
  {
    name: 'policy',
    default: '(none)',
    example: 'orders-policy',
    meaning:
      "Name of a ConfigMap in the pod's namespace whose key `policy.yaml` holds the Policy. Mounted read-only as an optional volume and reloaded live.",
    parse(v, out, p, full) {
      if (v.length <= 253 && DNS_SUBDOMAIN.test(v)) out.policyConfigMap = v;
      else p.errors.push(`${full}: ${quote(v)} is not a valid ConfigMap name`);
    },
  },
  {
    name: 'jwt-issuer',
    default: '(none: no JWT provider from annotations)',
    example: 'https://id.example.com',
    meaning:
      'Adds a JWT provider named `annotations` with this issuer; every path then needs a valid token unless listed in `public-paths`.',
    parse(v, out, p, full) {
      if (isHttpUrl(v, false)) out.jwtIssuer = v;
      else p.errors.push(`${full}: ${quote(v)} is not an http(s) URL`);
    },
  },
  {
    name: 'jwks-uri',
    default: '(OpenID discovery from the issuer)',
    example: 'https://id.example.com/jwks.json',
    meaning: "Where the provider's signing keys are fetched. Needs `jwt-issuer`.",
    parse(v, out, p, full) {
      if (isHttpUrl(v, false)) out.jwksUri = v;
      else p.errors.push(`${full}: ${quote(v)} is not an http(s) URL`);
    },
  },
  {
    name: 'jwt-audiences',
    default: '(audience not checked)',
    example: 'orders,orders-internal',
    meaning: 'Comma-separated audiences; a token must carry one of them. Needs `jwt-issuer`.',
    parse(v, out, p, full) {
      const a = list(v);
      if (a.length > 0) out.jwtAudiences = a;
      else p.errors.push(`${full}: empty audience list`);
    },
  },
  {
    name: 'public-paths',
    default: '(none)',
    example: '/healthz,/public/*',
    meaning: 'Comma-separated paths (exact, or prefix written `/x/*`) that need no token.',
    parse(v, out, p, full) {
      const paths = list(v);
      const bad = paths.filter((x) => !x.startsWith('/'));
      if (bad.length > 0) p.errors.push(`${full}: paths must start with / (${bad.map(quote).join(', ')})`);
      else if (paths.length === 0) p.errors.push(`${full}: empty path list`);
      else out.publicPaths = paths;
    },
  },
  {
    name: 'rate-limit',
    default: '(none)',
    example: '100/s burst 20 by client-ip',
    meaning:
      'Shared rate limits: `<n>/<period> [burst <n>] [by client-ip|method|route|header:NAME|claim:NAME,...] [on /path,...]`, several separated by `;`. Without `by`, one budget for the whole service.',
    parse(v, out, p, full) {
      const r = parseRateLimitShorthand(v);
      for (const msg of r.problems) p.errors.push(`${full}: ${msg}`);
      if (r.problems.length === 0) out.rateLimits = r.limits;
    },
  },
  {
    name: 'maintenance',
    default: '(none: the policy decides)',
    example: 'on retry-after 10m except /healthz,/status',
    meaning:
      'Maintenance mode for this workload: `on [retry-after <duration>] [except <path>,...]` answers 503 `SIDEGATE_ERR_MAINTENANCE` except on the listed paths; `off` turns off what the chart defaults switched on. It is the overlay, so it wins over the policy ConfigMap; to switch without a rollout, edit `spec.maintenance` in the ConfigMap instead.',
    parse(v, out, p, full) {
      const r = parseMaintenanceShorthand(v);
      for (const msg of r.problems) p.errors.push(`${full}: ${msg}`);
      if (r.maintenance !== undefined) out.maintenance = r.maintenance;
    },
  },
  {
    name: 'app-port',
    default: 'first TCP containerPort of the first container, else 8080',
    example: '8080',
    meaning: 'The app port the sidecar forwards to (number or container port name).',
    parse(v, out, p, full) {
      if (/^\d+$/.test(v)) {
        const r = port(v, full);
        if (typeof r === 'string') p.errors.push(r);
        else out.appPort = r;
      } else if (v.length <= 15 && PORT_NAME.test(v)) out.appPort = v;
      else p.errors.push(`${full}: ${quote(v)} is neither a port number nor a port name`);
    },
  },
  {
    name: 'app-protocol',
    default: 'http1',
    example: 'grpc',
    meaning: 'How the sidecar talks to the app: `http1`, `h2c` or `grpc` (gRPC is h2c).',
    parse(v, out, p, full) {
      const r = oneOf(v, ['http1', 'h2c', 'grpc'] as const, full, p);
      if (r !== undefined) out.appProtocol = r;
    },
  },
  {
    name: 'proxy-cpu',
    default: '50m (injector config)',
    example: '200m',
    meaning: 'CPU request of the sidecar.',
    parse(v, out, p, full) {
      out.proxyCpu = quantity(v, full, p);
    },
  },
  {
    name: 'proxy-memory',
    default: '64Mi (injector config)',
    example: '128Mi',
    meaning: 'Memory request of the sidecar (the memory limit is raised to it when lower).',
    parse(v, out, p, full) {
      out.proxyMemory = quantity(v, full, p);
    },
  },
  {
    name: 'proxy-cpu-limit',
    default: '(none, injector config)',
    example: '1',
    meaning: 'CPU limit of the sidecar; must not be below `proxy-cpu`.',
    parse(v, out, p, full) {
      out.proxyCpuLimit = quantity(v, full, p);
    },
  },
  {
    name: 'proxy-memory-limit',
    default: '256Mi (injector config)',
    example: '512Mi',
    meaning: 'Memory limit of the sidecar; must not be below `proxy-memory`.',
    parse(v, out, p, full) {
      out.proxyMemoryLimit = quantity(v, full, p);
    },
  },
  {
    name: 'inbound-ports',
    default: 'the app port',
    example: '8080,8443',
    meaning:
      'Comma-separated inbound ports redirected to the sidecar, or `*` for every TCP port. The sidecar forwards all of them to the app port.',
    parse(v, out, p, full) {
      if (v.trim() === '*') out.inboundPorts = '*';
      else {
        const ports = portList(v, full, p);
        if (ports.length > 0) out.inboundPorts = ports;
        else if (p.errors.length === 0) p.errors.push(`${full}: empty port list`);
      }
    },
  },
  {
    name: 'exclude-inbound-ports',
    default: '(none)',
    example: '9102',
    meaning: 'Comma-separated inbound ports never redirected (they reach the app directly, bypassing auth and limits).',
    parse(v, out, p, full) {
      out.excludeInboundPorts = portList(v, full, p);
    },
  },
  {
    name: 'interception',
    default: 'redirect (injector config)',
    example: 'none',
    meaning:
      "`redirect`: an init container with NET_ADMIN/NET_RAW redirects inbound traffic to the sidecar. `none`: nothing privileged is added; point the Service's targetPort at the named port `sidegate`.",
    parse(v, out, p, full) {
      const r = oneOf(v, ['redirect', 'none'] as const, full, p);
      if (r !== undefined) out.interception = r;
    },
  },
  {
    name: 'native-sidecar',
    default: 'true (injector config)',
    example: 'false',
    meaning:
      '`true`: the proxy is an init container with `restartPolicy: Always` (Kubernetes 1.29+), started and ready before the app, and Jobs complete. `false`: a classic first container.',
    parse(v, out, p, full) {
      if (v === 'true' || v === 'false') out.nativeSidecar = v === 'true';
      else p.warnings.push(`${full}: ${quote(v)} is not true or false; using the default`);
    },
  },
];

const BY_NAME: ReadonlyMap<string, AnnotationSpec> = new Map(ANNOTATIONS.map((a) => [PREFIX + a.name, a]));

/** Parses all `sidegate.dev/` annotations of a pod (ours, like the status annotation, are skipped). */
export function parseAnnotations(annotations: Readonly<Record<string, string>> | undefined): {
  settings: AnnotationSettings;
  problems: Problems;
} {
  const settings: AnnotationSettings = {};
  const problems: Problems = { errors: [], warnings: [] };
  for (const [key, raw] of Object.entries(annotations ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!key.startsWith(PREFIX) || key === ANNOTATION_STATUS) continue;
    const spec = BY_NAME.get(key);
    if (spec !== undefined) {
      spec.parse(String(raw).trim(), settings, problems, key);
    } else if (key === LABEL_POD_INJECT) {
      problems.warnings.push(`${key} is a label, not an annotation; the annotation is ignored`);
    } else {
      problems.warnings.push(`${key}: unknown sidegate annotation, ignored`);
    }
  }
  for (const [need, what] of [
    ['jwksUri', 'jwks-uri'],
    ['jwtAudiences', 'jwt-audiences'],
  ] as const) {
    if (settings[need] !== undefined && settings.jwtIssuer === undefined) {
      problems.errors.push(`${PREFIX}${what} needs ${PREFIX}jwt-issuer`);
    }
  }
  return { settings, problems };
}
