import { createHash } from 'node:crypto';
import { watchFile } from '../lifecycle/file-watch.js';
import { access, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { compilePolicy, loadPolicyFile, mergePolicyDocuments } from '../../../policies/src/index.js';
import type { CompiledPolicy, PolicyProblem } from '../../../policies/src/types.js';
import type { Metrics } from '../telemetry/metrics.js';

export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
  constructor(
    readonly source: string,
    readonly problems: readonly PolicyProblem[],
  ) {
    super(`invalid policy (${source}):\n${problems.map((p) => `  ${source}: ${p.path || '/'}: ${p.message}`).join('\n')}`);
  }
}

export interface PolicySourceOptions {
  readonly file: string | undefined;
  /** JSON documents: chart-wide defaults (under the file) and the annotation overlay (over it). */
  readonly defaults: string | undefined;
  readonly overlay: string | undefined;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** How often the file is also polled, for filesystems where change events are missed. */
  readonly pollMs?: number;
}

const PASS_THROUGH = { apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'default' }, spec: {} };

/**
 * Where the policy comes from: defaults → file (a mounted ConfigMap) → annotation overlay.
 * Watches the file's directory (ConfigMap updates swap a symlink) and recompiles on change; an
 * invalid edit keeps the last good policy, logs at warn and counts a reload failure.
 */
export class PolicySource {
  private unwatch: (() => void) | undefined;
  private lastFileHash = '';
  private current: CompiledPolicy | undefined;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PolicySourceOptions) {}

  get policy(): CompiledPolicy | undefined {
    return this.current;
  }

  /** True once a valid policy is in force. */
  get loaded(): boolean {
    return this.current !== undefined;
  }

  /**
   * First load. A policy file that does not exist yet (an optional ConfigMap volume before the
   * ConfigMap is created) gives undefined: the sidecar stays up, not ready, and loads it when it
   * appears. Any other problem is fatal (thrown as PolicyLoadError with every problem).
   */
  async load(): Promise<CompiledPolicy | undefined> {
    if (this.opts.file !== undefined && !(await exists(this.opts.file))) {
      this.lastFileHash = 'missing';
      this.opts.log.warn({ file: this.opts.file }, 'policy file does not exist yet; not ready until it does');
      return undefined;
    }
    const r = await this.compile();
    if (!r.ok) throw new PolicyLoadError(r.source, r.problems);
    this.apply(r.policy);
    return r.policy;
  }

  /** Start watching; `onChange` gets each newly compiled valid policy. */
  watch(onChange: (p: CompiledPolicy) => void): void {
    const file = this.opts.file;
    if (file === undefined) return;
    this.unwatch = watchFile(file, this.opts.pollMs ?? 2000, () => {
      this.reloading = this.reloading.then(() => this.reload(onChange));
    });
  }

  close(): void {
    this.unwatch?.();
  }

  private async reload(onChange: (p: CompiledPolicy) => void): Promise<void> {
    const file = this.opts.file!;
    let hash: string;
    try {
      hash = createHash('sha256')
        .update(await readFile(file))
        .digest('hex');
    } catch (err) {
      if (this.lastFileHash !== 'missing') {
        this.lastFileHash = 'missing';
        this.fail(file, [{ path: '', message: `cannot read: ${(err as Error).message}` }]);
      }
      return;
    }
    if (hash === this.lastFileHash) return;
    this.lastFileHash = hash;
    const r = await this.compile();
    if (!r.ok) {
      this.fail(r.source, r.problems);
      return;
    }
    if (r.policy.version === this.current?.version) return;
    this.apply(r.policy);
    this.opts.metrics.policyReloads.inc();
    this.opts.log.info({ policy: r.policy.name, version: r.policy.version }, 'policy reloaded');
    onChange(r.policy);
  }

  private fail(source: string, problems: readonly PolicyProblem[]): void {
    this.opts.metrics.policyReloadFailures.inc();
    this.opts.log.warn({ source, problems, kept: this.current?.version }, 'policy reload rejected; keeping the last good policy');
  }

  private apply(p: CompiledPolicy): void {
    if (this.current !== undefined) this.opts.metrics.policyInfo.remove(this.current.name, this.current.version);
    this.current = p;
    this.opts.metrics.policyInfo.set({ name: p.name, version: p.version }, 1);
  }

  private async compile(): Promise<
    { ok: true; policy: CompiledPolicy } | { ok: false; source: string; problems: readonly PolicyProblem[] }
  > {
    const { file, defaults, overlay } = this.opts;
    const defaultsDoc = parseJson(defaults, 'SIDEGATE_POLICY_DEFAULTS');
    if (!defaultsDoc.ok) return { ok: false, source: 'SIDEGATE_POLICY_DEFAULTS', problems: defaultsDoc.problems };
    const overlayDoc = parseJson(overlay, 'SIDEGATE_POLICY_OVERLAY');
    if (!overlayDoc.ok) return { ok: false, source: 'SIDEGATE_POLICY_OVERLAY', problems: overlayDoc.problems };
    // Chart defaults may be partial (`--set sidecar.defaultPolicy.spec.maintenance.enabled=true`):
    // over the pass-through document they are a whole policy even when no file is mounted.
    let base: unknown = defaultsDoc.doc === undefined ? PASS_THROUGH : mergePolicyDocuments(PASS_THROUGH, defaultsDoc.doc);
    if (file !== undefined) {
      const loaded = await loadPolicyFile(file);
      if (!loaded.ok) return { ok: false, source: file, problems: loaded.problems };
      if (this.lastFileHash === '' || this.lastFileHash === 'missing') {
        try {
          this.lastFileHash = createHash('sha256')
            .update(await readFile(file))
            .digest('hex');
        } catch {
          /* raced with a swap */
        }
      }
      base = defaultsDoc.doc === undefined ? loaded.doc : mergePolicyDocuments(base, loaded.doc);
    }
    const r = compilePolicy(base, overlayDoc.doc);
    return r.ok ? r : { ok: false, source: file ?? 'policy', problems: r.problems };
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

function parseJson(s: string | undefined, where: string): { ok: true; doc: unknown } | { ok: false; problems: PolicyProblem[] } {
  if (s === undefined || s.trim() === '') return { ok: true, doc: undefined };
  try {
    return { ok: true, doc: JSON.parse(s) as unknown };
  } catch (err) {
    return { ok: false, problems: [{ path: '', message: `${where} is not valid JSON: ${(err as Error).message}` }] };
  }
}
