import { compilePolicy } from '../../../policies/src/compile.js';
import { parseDuration } from '../../../policies/src/duration.js';
import { ANNOTATIONS, parseAnnotations, type AnnotationSettings } from '../../../injector/src/annotations.js';
import { parseInjectorConfig } from '../../../injector/src/config.js';
import { ANNOTATION_STATUS, LABEL_POD_INJECT, PREFIX, RESERVED_PORTS } from '../../../injector/src/constants.js';
import { injectPod, type InjectResult } from '../../../injector/src/inject.js';
import type { Pod } from '../../../injector/src/k8s.js';
import { buildOverlay } from '../../../injector/src/overlay.js';
import { parseQuantity } from '../../../injector/src/quantity.js';
import { parseRateLimitShorthand } from '../../../injector/src/ratelimit-shorthand.js';
import { Choices, must, oneLine, timeBoundedSync } from '../property.js';

/**
 * The injector's annotation handling: a pod's annotations (keys from docs/annotations.md's table,
 * the injector's own and the label names, plus made-up ones; values any text) through
 * `parseAnnotations` (which calls the rate-limit shorthand and quantity parsers), the overlay
 * they compile to (`buildOverlay` + the policy compiler) and the whole pure `injectPod`, the
 * function the webhook and `sidegate inject` share. Checked on every input:
 * - nothing throws;
 * - problems are typed as the injector defines them (it has no error codes: docs/annotations.md
 *   shows one message per problem): non-empty strings naming the annotation they are about, on
 *   one line and free of control characters whatever the value echoed; errors only for the
 *   annotations it owns; no problem for a key outside `sidegate.dev/`;
 * - settings are typed values only: ports whole and in range (never the sidecar's own), port
 *   names as Kubernetes allows them, quantities Kubernetes accepts and above zero, URLs http(s),
 *   paths starting with `/`, rate limits with 1 to 10^9 requests per a positive duration;
 * - the rate-limit shorthand alone: limits or problems, never neither; its limits are used only
 *   when it has no problem;
 * - deterministic and order-free: the same annotations in reverse order give the same result;
 * - injection is idempotent: the injected pod, injected again, is unchanged (empty patch);
 * Time per input as in property.ts.
 */

export const maxLen = 2048;
export const sync = true;

const KEYS = [
  ...ANNOTATIONS.map((a) => PREFIX + a.name),
  ANNOTATION_STATUS,
  LABEL_POD_INJECT,
  'sidegate.dev/injection',
  'sidegate.dev/',
  'prometheus.io/port',
  'app',
];
const CONFIG = parseInjectorConfig({
  image: 'registry.example.com/sidegate:1.0.0',
  injectorNamespace: 'sidegate-system',
  redis: { url: 'redis://redis.sidegate-system:6379', passwordSecret: { name: 'sidegate-redis', key: 'password' } },
  defaultPolicy: { spec: { upstream: { timeout: '30s' } } },
});
const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_.ABCXYZ';
const NAMESPACE = { name: 'shop', labels: { 'sidegate.dev/injection': 'enabled' } };
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function pod(annotations: Record<string, string>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'orders-1', namespace: 'shop', labels: { app: 'orders' }, annotations },
    spec: {
      containers: [
        {
          name: 'orders',
          image: 'orders:1',
          ports: [
            { name: 'http', containerPort: 8080 },
            { name: 'grpc', containerPort: 9090 },
          ],
        },
      ],
    },
  };
}

/** A canonical rendering (sorted keys) for comparing results. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

const isPort = (n: unknown): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 && !RESERVED_PORTS.has(n);
const isQuantity = (q: unknown): boolean => q === undefined || (typeof q === 'string' && (parseQuantity(q) ?? 0) > 0);
const isHttpUrl = (s: unknown): boolean => {
  try {
    return typeof s === 'string' && /^https?:$/.test(new URL(s).protocol);
  } catch {
    return false;
  }
};

function checkSettings(s: AnnotationSettings): void {
  const bad = (what: string): string => `${what}: ${canonical(s)}`;
  must(s.policyConfigMap === undefined || (s.policyConfigMap.length <= 253 && DNS_SUBDOMAIN.test(s.policyConfigMap)), () =>
    bad('policyConfigMap'),
  );
  must(s.jwtIssuer === undefined || isHttpUrl(s.jwtIssuer), () => bad('jwtIssuer'));
  must(s.jwksUri === undefined || isHttpUrl(s.jwksUri), () => bad('jwksUri'));
  must(
    s.jwtAudiences === undefined ||
      (s.jwtAudiences.length > 0 && s.jwtAudiences.every((a) => a !== '' && a === a.trim() && !a.includes(','))),
    () => bad('jwtAudiences'),
  );
  must(s.publicPaths === undefined || (s.publicPaths.length > 0 && s.publicPaths.every((p) => p.startsWith('/') && !p.includes(','))), () =>
    bad('publicPaths'),
  );
  must(
    s.appPort === undefined || isPort(s.appPort) || (typeof s.appPort === 'string' && s.appPort.length <= 15 && PORT_NAME.test(s.appPort)),
    () => bad('appPort'),
  );
  must(s.appProtocol === undefined || ['http1', 'h2c', 'grpc'].includes(s.appProtocol), () => bad('appProtocol'));
  must(s.interception === undefined || ['redirect', 'none'].includes(s.interception), () => bad('interception'));
  must(s.nativeSidecar === undefined || typeof s.nativeSidecar === 'boolean', () => bad('nativeSidecar'));
  must([s.proxyCpu, s.proxyMemory, s.proxyCpuLimit, s.proxyMemoryLimit].every(isQuantity), () => bad('quantities'));
  must(
    s.inboundPorts === undefined ||
      s.inboundPorts === '*' ||
      (s.inboundPorts.length > 0 && s.inboundPorts.every(isPort) && new Set(s.inboundPorts).size === s.inboundPorts.length),
    () => bad('inboundPorts'),
  );
  must(
    s.excludeInboundPorts === undefined ||
      (s.excludeInboundPorts.every(isPort) && new Set(s.excludeInboundPorts).size === s.excludeInboundPorts.length),
    () => bad('excludeInboundPorts'),
  );
  for (const l of s.rateLimits ?? []) {
    const per = parseDuration(l.limit.per);
    must(
      Number.isInteger(l.limit.requests) &&
        l.limit.requests >= 1 &&
        l.limit.requests <= 1e9 &&
        per !== undefined &&
        per > 0 &&
        (l.limit.burst === undefined || (Number.isInteger(l.limit.burst) && l.limit.burst >= 0)) &&
        l.key.length > 0 &&
        (l.match === undefined || (l.match.paths.length > 0 && l.match.paths.every((p) => p.startsWith('/')))),
      () => bad(`rate limit ${canonical(l)}`),
    );
  }
}

function checkProblems(list: unknown, what: string): void {
  must(Array.isArray(list), () => `${what} is not a list`);
  for (const m of list) {
    must(
      typeof m === 'string' && m !== '' && oneLine(m),
      () => `${what}: ${JSON.stringify(m)} is not a one-line message free of control characters`,
    );
  }
}

/**
 * Run everything on one set of annotations; the canonical result. An injection is compared by the
 * pod it makes: its patch lists replaced annotations in the pod's key order, equivalently.
 */
function run(entries: readonly (readonly [string, string])[]): string {
  const annotations = Object.fromEntries(entries);
  const keys = Object.keys(annotations);
  const { settings, problems } = parseAnnotations(annotations);
  checkProblems(problems.errors, 'errors');
  checkProblems(problems.warnings, 'warnings');
  for (const m of [...problems.errors, ...problems.warnings]) {
    // Each problem names a key it was given (the jwt-issuer dependency names both).
    must(
      keys.some((k) => k.startsWith(PREFIX) && m.includes(k)),
      () => `a problem naming none of the sidegate.dev/ keys given: ${JSON.stringify(m)}`,
    );
  }
  for (const m of problems.errors) {
    const key = keys.find((k) => m.startsWith(`${k}:`) || m.startsWith(`${k} `));
    must(
      key === undefined || KEYS.slice(0, ANNOTATIONS.length).includes(key),
      () => `an error for ${key}, an annotation the injector does not own: ${JSON.stringify(m)}`,
    );
  }
  checkSettings(settings);
  const shorthand = annotations[`${PREFIX}rate-limit`];
  if (shorthand !== undefined) {
    const r = parseRateLimitShorthand(shorthand.trim());
    must(r.limits.length + r.problems.length > 0, () => 'the rate-limit shorthand gave neither limits nor problems');
    must(
      (settings.rateLimits !== undefined) === (r.problems.length === 0),
      () => `rate limits set with ${r.problems.length} problems in the shorthand`,
    );
  }
  const overlay = buildOverlay(settings);
  const compiled =
    overlay === undefined
      ? undefined
      : compilePolicy({ apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'orders' }, spec: {} }, overlay);
  if (compiled !== undefined && !compiled.ok) must(compiled.problems.length > 0, () => 'an overlay refused without problems');

  const result = injectPod(pod(annotations), NAMESPACE, CONFIG);
  checkResult(result);
  if (result.kind === 'inject') {
    const again = injectPod(structuredClone(result.pod), NAMESPACE, CONFIG);
    must(
      again.kind === 'inject' && again.patch.length === 0,
      () => `injecting the injected pod again: ${again.kind} ${canonical(again.kind === 'inject' ? again.patch : again).slice(0, 400)}`,
    );
  }
  return canonical({
    settings,
    problems,
    overlay,
    compiled: compiled?.ok ?? compiled,
    result: result.kind === 'inject' ? { pod: result.pod, warnings: result.warnings } : result,
  });
}

function checkResult(r: InjectResult): void {
  must(['skip', 'refuse', 'inject'].includes(r.kind), () => `injectPod returned ${canonical(r).slice(0, 200)}`);
  checkProblems(r.warnings, 'injectPod warnings');
  if (r.kind === 'refuse') {
    must(r.errors.length > 0, () => 'refused without errors');
    checkProblems(r.errors, 'injectPod errors');
  }
}

function once(data: Buffer): void {
  const c = new Choices(data);
  const entries: [string, string][] = [];
  const n = 1 + c.below(6);
  for (let i = 0; i < n && c.left > 0; i++) {
    const k = c.byte();
    // Made-up keys as the API server lets them through (a qualified name), values any text.
    const key =
      k < KEYS.length * 8
        ? KEYS[k % KEYS.length]!
        : `${k % 2 === 0 ? PREFIX : 'x.example/'}${[...c.bytes(1 + c.below(12))].map((b) => KEY_CHARS[b % KEY_CHARS.length]).join('')}`;
    const value = c.bytes(c.byte()).toString('utf8');
    entries.push([key, value]);
  }
  const forward = run(entries);
  // Same keys, other order (a later duplicate wins either way, so keep the last of each).
  const last = new Map(entries);
  const reversed = [...last].reverse();
  must(run(reversed) === forward, () => `the result depends on the annotations' order: ${JSON.stringify(entries)}`);
}

export function fuzz(data: Buffer): void {
  timeBoundedSync(data, () => once(data));
}

/** Seed inputs (test/fuzz/corpus/annotations/, written by test/fuzz/seeds.ts): each documented example, then mixes. */
export function seeds(): Buffer[] {
  const entry = (name: string, value: string): Buffer => {
    const v = Buffer.from(value, 'utf8');
    return Buffer.concat([Buffer.from([KEYS.indexOf(PREFIX + name), v.length]), v]);
  };
  const input = (...e: Buffer[]): Buffer => Buffer.concat([Buffer.from([e.length - 1]), ...e]);
  const issuer = entry('jwt-issuer', 'https://id.example.com');
  const out = ANNOTATIONS.map((a) =>
    a.name === 'jwks-uri' || a.name === 'jwt-audiences' ? input(entry(a.name, a.example), issuer) : input(entry(a.name, a.example)),
  );
  out.push(
    input(
      entry('rate-limit', '100/s burst 20 by client-ip,header:x-tenant on /api,/v2; 5/10s by claim:sub'),
      entry('public-paths', '/healthz,/public/*'),
      issuer,
      entry('app-protocol', 'grpc'),
    ),
    input(
      entry('app-port', '70000'),
      entry('proxy-memory', 'lots'),
      entry('app-protocol', 'http3'),
      entry('native-sidecar', 'maybe'),
      entry('interception', 'tproxy'),
    ),
    input(entry('proxy-cpu', '2'), entry('proxy-cpu-limit', '500m'), entry('proxy-memory', '1.5Gi'), entry('proxy-memory-limit', '1e9')),
    input(entry('inbound-ports', '8080, 9090,15006'), entry('exclude-inbound-ports', '8080,9090'), entry('app-port', 'grpc')),
    input(entry('policy', 'orders-policy'), entry('public-paths', '/x'), entry('jwt-audiences', 'a,,b')),
    input(entry('rate-limit', '0/s; 99999999999/m; 10/0s; 1/7x burst -1 by ip')),
  );
  return out;
}
