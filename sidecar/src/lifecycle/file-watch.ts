import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/** How long a burst of change events is collapsed into one call. */
const DEBOUNCE_MS = 50;

/**
 * Calls `onChange` (debounced) when `file` may have changed: a watch on its directory (a mounted
 * ConfigMap swaps a `..data` symlink there, which a watch on the file itself misses), and a poll
 * every `pollMs` for file systems where watching fails or drops events. `onChange` reads the file
 * and decides whether it really changed. Returns what stops it.
 *
 * Only events naming the file, a `..`-prefixed ConfigMap entry, or no name at all count: other
 * files in the same directory written more often than the debounce (a log, a scratch directory)
 * would otherwise keep pushing the reload back forever, and cost a timer each. The poll calls
 * `onChange` itself, so nothing can starve it.
 */
export function watchFile(file: string, pollMs: number, onChange: () => void): () => void {
  let debounce: NodeJS.Timeout | undefined;
  const name = basename(file);
  const trigger = (_event: string, changed: string | null): void => {
    if (changed !== null && changed !== name && !changed.startsWith('..')) return;
    clearTimeout(debounce);
    debounce = setTimeout(onChange, DEBOUNCE_MS);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, trigger);
    watcher.on('error', () => undefined);
  } catch {
    // the poll alone
  }
  const poll = setInterval(onChange, pollMs);
  poll.unref();
  return () => {
    watcher?.close();
    clearInterval(poll);
    clearTimeout(debounce);
  };
}
