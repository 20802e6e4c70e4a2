/**
 * Injector configuration: what the chart sets once for the whole cluster. Parsed at the edge
 * (`parseInjectorConfig` takes `unknown`), frozen, and read by the pure `injectPod`.
 */

export interface SecretRef {
  readonly name: string;
  readonly key: string;
}

export interface InjectorConfig {
  /** The sidecar image (also runs `sidegate init-network`). */
  readonly image: string;
  readonly imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** Namespace the injector runs in: never injected. */
  readonly injectorNamespace: string;
  /** Native sidecars (init container with restartPolicy: Always) unless a pod says otherwise. */
  readonly nativeSidecar: boolean;
  readonly interception: 'redirect' | 'none';
  readonly resources: {
    readonly cpuRequest: string;
    readonly memoryRequest: string;
    readonly cpuLimit: string | undefined;
    readonly memoryLimit: string | undefined;
  };
  readonly redis: { readonly url: string; readonly passwordSecret: SecretRef | undefined } | undefined;
  /** Chart-wide default policy document (partial), handed to every sidecar as SIDEGATE_POLICY_DEFAULTS. */
  readonly defaultPolicy: Readonly<Record<string, unknown>> | undefined;
  /** Log level handed to sidecars. */
  readonly logLevel: string | undefined;
  /** Where injected sidecars send traces; undefined: tracing off. */
  readonly tracing:
    { readonly exporter: 'otlp' | 'jaeger'; readonly endpoint: string; readonly sampler: string; readonly samplerArg: string } | undefined;
}

export const DEFAULT_CONFIG: InjectorConfig = Object.freeze({
  image: 'ghcr.io/sidegate/sidegate:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  injectorNamespace: 'sidegate-system',
  nativeSidecar: true,
  interception: 'redirect',
  resources: Object.freeze({ cpuRequest: '50m', memoryRequest: '64Mi', cpuLimit: undefined, memoryLimit: '256Mi' }),
  redis: undefined,
  defaultPolicy: undefined,
  logLevel: undefined,
  tracing: undefined,
});

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Record<string, unknown>, key: string, fallback: string, where: string): string {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${where}.${key}: expected a non-empty string`);
  return v;
}

function optStr(o: Record<string, unknown>, key: string, fallback: string | undefined, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return fallback;
  if (v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ConfigError(`${where}.${key}: expected a string`);
  return v;
}

function oneOf<T extends string>(o: Record<string, unknown>, key: string, allowed: readonly T[], fallback: T): T {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${key}: expected one of ${allowed.join(', ')}`);
  }
  return v as T;
}

/** Parses the injector config (JSON or YAML already decoded). Unknown keys are refused so typos show. */
export function parseInjectorConfig(raw: unknown): InjectorConfig {
  if (raw === undefined || raw === null) return DEFAULT_CONFIG;
  if (!isRecord(raw)) throw new ConfigError('injector config: expected an object');
  const known = [
    'image',
    'imagePullPolicy',
    'injectorNamespace',
    'nativeSidecar',
    'interception',
    'resources',
    'redis',
    'defaultPolicy',
    'logLevel',
    'tracing',
  ];
  for (const k of Object.keys(raw)) if (!known.includes(k)) throw new ConfigError(`injector config: unknown key "${k}"`);
  const d = DEFAULT_CONFIG;
  const res = raw.resources === undefined ? {} : raw.resources;
  if (!isRecord(res)) throw new ConfigError('resources: expected an object');
  let redis: InjectorConfig['redis'];
  if (raw.redis !== undefined && raw.redis !== null) {
    if (!isRecord(raw.redis)) throw new ConfigError('redis: expected an object');
    const ps = raw.redis.passwordSecret;
    if (ps !== undefined && !(isRecord(ps) && typeof ps.name === 'string' && typeof ps.key === 'string')) {
      throw new ConfigError('redis.passwordSecret: expected { name, key }');
    }
    redis = Object.freeze({
      url: str(raw.redis, 'url', '', 'redis'),
      passwordSecret: ps === undefined ? undefined : Object.freeze({ name: ps.name as string, key: ps.key as string }),
    });
    if (redis.url === '') throw new ConfigError('redis.url: required when redis is set');
  }
  let tracing: InjectorConfig['tracing'];
  if (raw.tracing !== undefined && raw.tracing !== null) {
    if (!isRecord(raw.tracing)) throw new ConfigError('tracing: expected an object');
    const SAMPLERS = [
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ] as const;
    tracing = Object.freeze({
      exporter: oneOf(raw.tracing, 'exporter', ['otlp', 'jaeger'] as const, 'otlp'),
      endpoint: str(raw.tracing, 'endpoint', '', 'tracing'),
      sampler: oneOf(raw.tracing, 'sampler', SAMPLERS, 'parentbased_traceidratio'),
      samplerArg: str(raw.tracing, 'samplerArg', '0.1', 'tracing'),
    });
    if (tracing.endpoint === '') throw new ConfigError('tracing.endpoint: required when tracing is set');
    const ratio = Number(tracing.samplerArg);
    if (!(ratio >= 0 && ratio <= 1)) throw new ConfigError('tracing.samplerArg: expected a number from 0 to 1');
  }
  if (raw.nativeSidecar !== undefined && typeof raw.nativeSidecar !== 'boolean') throw new ConfigError('nativeSidecar: expected a boolean');
  if (raw.defaultPolicy !== undefined && raw.defaultPolicy !== null && !isRecord(raw.defaultPolicy)) {
    throw new ConfigError('defaultPolicy: expected a policy document (object)');
  }
  return Object.freeze({
    image: str(raw, 'image', d.image, 'config'),
    imagePullPolicy: oneOf(raw, 'imagePullPolicy', ['Always', 'IfNotPresent', 'Never'] as const, d.imagePullPolicy),
    injectorNamespace: str(raw, 'injectorNamespace', d.injectorNamespace, 'config'),
    nativeSidecar: raw.nativeSidecar ?? d.nativeSidecar,
    interception: oneOf(raw, 'interception', ['redirect', 'none'] as const, d.interception),
    resources: Object.freeze({
      cpuRequest: str(res, 'cpuRequest', d.resources.cpuRequest, 'resources'),
      memoryRequest: str(res, 'memoryRequest', d.resources.memoryRequest, 'resources'),
      cpuLimit: optStr(res, 'cpuLimit', d.resources.cpuLimit, 'resources'),
      memoryLimit: optStr(res, 'memoryLimit', d.resources.memoryLimit, 'resources'),
    }),
    redis,
    defaultPolicy: isRecord(raw.defaultPolicy) ? Object.freeze(structuredClone(raw.defaultPolicy)) : undefined,
    logLevel: optStr(raw, 'logLevel', d.logLevel, 'config'),
    tracing,
  });
}
