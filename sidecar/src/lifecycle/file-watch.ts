import { readlinkSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/** How long a burst of change events is collapsed into one call. */
const DEBOUNCE_MS = 50;
/** How soon a change to some other entry of the directory is checked. */
const NEIGHBOUR_MS = 1000;

/**
 * The names in `file`'s directory whose change can change what `file` reads: the file, and each
 * symlink on its way that lies in the same directory (`policy.yaml -> data/policy.yaml` with
 * `data -> v1`, or `policy.yaml -> policy-v1.yaml`). ConfigMap entries (`..data`, `..2026_…`) are
 * matched by their prefix.
 */
export function namesFor(file: string): Set<string> {
  const dir = dirname(file);
  const names = new Set([basename(file)]);
  let p = file;
  for (let hop = 0; hop < 8; hop++) {
    let target: string;
    try {
      target = readlinkSync(p);
    } catch {
      break; // not a symlink (or gone)
    }
    const next = resolve(dirname(p), target);
    const rel = relative(dir, next);
    if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) break; // out of the directory
    names.add(rel.split(sep)[0]!);
    p = next;
  }
  return names;
}

/**
 * Calls `onChange` when `file` may have changed: a watch on its directory (a mounted ConfigMap
 * swaps a `..data` symlink there, which a watch on the file itself misses), and a poll every
 * `pollMs` for file systems where watching fails or drops events. `onChange` reads the file and
 * decides whether it really changed. Returns what stops it.
 *
 * Events naming the file, a symlink on its way (`namesFor`) or a `..` ConfigMap entry are
 * debounced: the call comes 50 ms after the last of a burst, when the writer is done. Any other
 * entry of the directory (a log written on every request, an editor's scratch file) only asks for
 * a check within a second, which later events do not push back; the poll calls at once. Before, every
 * event restarted the debounce, and a neighbour written more often than every 50 ms kept the
 * reload (and the poll, which went through the same debounce) from ever running. `neighbourMs`
 * is that second (tests set it out of reach to see the other paths alone).
 */
export function watchFile(file: string, pollMs: number, onChange: () => void, neighbourMs = NEIGHBOUR_MS): () => void {
  let names = namesFor(file);
  let debounce: NodeJS.Timeout | undefined;
  let pending: NodeJS.Timeout | undefined;
  const fire = (): void => {
    clearTimeout(debounce);
    clearTimeout(pending);
    debounce = pending = undefined;
    names = namesFor(file); // a symlink on the way may point elsewhere now
    onChange();
  };
  const check = (ms: number): void => {
    pending ??= setTimeout(fire, ms);
  };
  const onEvent = (_event: string, changed: string | null): void => {
    if (changed === null || names.has(changed) || changed.startsWith('..')) {
      clearTimeout(debounce);
      debounce = setTimeout(fire, DEBOUNCE_MS);
    } else {
      check(neighbourMs);
    }
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, onEvent);
    watcher.on('error', () => undefined);
  } catch {
    // the poll alone
  }
  const poll = setInterval(fire, pollMs);
  poll.unref();
  return () => {
    watcher?.close();
    clearInterval(poll);
    clearTimeout(debounce);
    clearTimeout(pending);
  };
}
