import { createHash } from 'node:crypto';
import { watchFile } from '../lifecycle/file-watch.js';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { parseRevocations, type RevocationProblem } from './document.js';
import { describeEntry, RevocationList } from './list.js';

export interface RevocationSourceOptions {
  /** The mounted `revocations.yaml`; undefined: no durable list (Redis only). */
  readonly file: string | undefined;
  readonly log: Logger;
  readonly clock: Clock;
  /** How often the file is re-read besides change events (kubelet swaps a symlink; events get lost). */
  readonly pollMs?: number;
  /** Each newly applied list (after the first load too). */
  readonly onChange?: (list: RevocationList) => void;
}

/**
 * The durable revocation list as this pod sees it: the mounted `sidegate-revocations` ConfigMap,
 * read at start and re-read when it changes (watch plus a poll, as the policy file). The list in
 * force is what the authenticate stage checks first, before Redis and without it. A missing file
 * (the ConfigMap does not exist: nothing revoked yet) is an empty list; a file that is not a
 * revocation list keeps the last good one; bad entries are left out and named, the rest applies.
 */
export class RevocationSource {
  private current: RevocationList = RevocationList.EMPTY;
  private lastHash = '';
  private lastProblems: readonly RevocationProblem[] = [];
  /** Monotonic time of the last successful read of the file (missing counts: the ConfigMap is absent). */
  private readAt: number | undefined;
  private unwatch: (() => void) | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RevocationSourceOptions) {}

  get list(): RevocationList {
    return this.current;
  }
  get file(): string | undefined {
    return this.opts.file;
  }
  /** Bad entries of the file in force (left out). */
  get problems(): readonly RevocationProblem[] {
    return this.lastProblems;
  }

  /** Seconds since the file was last read successfully; undefined without a file. */
  ageSeconds(): number | undefined {
    if (this.opts.file === undefined) return undefined;
    return this.readAt === undefined ? Infinity : Math.max(0, (this.opts.clock.monotonic() - this.readAt) / 1000);
  }

  /** First read; never throws (a bad list must not keep a pod from serving). */
  async load(): Promise<RevocationList> {
    await this.read();
    return this.current;
  }

  watch(): void {
    const file = this.opts.file;
    if (file === undefined) return;
    this.unwatch = watchFile(file, this.opts.pollMs ?? 2000, () => {
      this.reading = this.reading.then(() => this.read());
    });
  }

  /** Re-read now (tests; the watch does it by itself). */
  refresh(): Promise<void> {
    this.reading = this.reading.then(() => this.read());
    return this.reading;
  }

  close(): void {
    this.unwatch?.();
  }

  private async read(): Promise<void> {
    const { file, log, clock } = this.opts;
    if (file === undefined) return;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.readAt = clock.monotonic();
        if (this.lastHash !== 'missing') {
          // A deleted ConfigMap lifts nothing by accident: the list in force stays until a new one is read.
          if (this.current.size > 0)
            log.warn({ file, kept: this.current.size }, 'revocation list file is gone; keeping the entries in force');
          else log.info({ file }, 'no revocation list mounted yet (ConfigMap sidegate-revocations absent): nothing revoked');
          this.lastHash = 'missing';
        }
        return;
      }
      if (this.lastHash !== 'unreadable')
        log.warn({ file, err: (err as Error).message }, 'revocation list unreadable; keeping the entries in force');
      this.lastHash = 'unreadable';
      return;
    }
    this.readAt = clock.monotonic();
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.lastHash) return;
    this.lastHash = hash;
    const r = parseRevocations(text);
    if (!r.ok) {
      this.lastProblems = r.problems;
      log.warn(
        { file, problems: r.problems, kept: this.current.size },
        'revocation list rejected: not a revocation list; keeping the entries in force',
      );
      return;
    }
    this.lastProblems = r.problems;
    if (r.problems.length > 0) log.warn({ file, problems: r.problems }, 'revocation list: bad entries left out, the rest applied');
    const list = new RevocationList(r.entries, r.updated);
    if (list.version === this.current.version && list.updated === this.current.updated) return;
    const now = clock.now();
    const added = list.inForce(now).filter((e) => !this.current.entries.some((o) => JSON.stringify(o) === JSON.stringify(e)));
    this.current = list;
    log.info({ file, version: list.version, ...list.counts(now), added: added.slice(0, 20).map(describeEntry) }, 'revocation list loaded');
    this.opts.onChange?.(list);
  }
}
