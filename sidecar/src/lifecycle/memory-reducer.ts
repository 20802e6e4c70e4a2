import { Script } from 'node:vm';

/**
 * How often the embedder allocation below happens. Any period up to a minute works (V8 forgets a
 * rate ≈ 100 s after the last allocation); 1 s, 10 s and 30 s were traced alike.
 */
export const EMBEDDER_TICK_MS = 10_000;

/**
 * Lets V8's memory reducer shrink an idle heap on V8 13 and later (Node.js 24, 26).
 *
 * The reducer wakes every 8 s and starts a compacting GC only when the young-generation, the
 * old-generation and the embedder (cppgc) allocation rates are all low. Since V8 13.1 a rate is
 * a decaying average with no floor, and a rate of exactly 0 counts as the highest
 * (`Heap::ComputeMutatorUtilizationImpl`). Node.js allocates on cppgc only for `node:vm` scripts
 * and contexts, so in a process that never compiles one the embedder rate is 0 for ever, and the
 * reducer reports "high alloc" on every tick (`node --trace-memory-reducer
 * --trace-mutator-utilization`: `Embedder mutator utilization = 0.000 (mutator_speed=0, ...)`).
 * An idle sidecar then keeps its start-up garbage until the reducer's 100 s watchdog, if an
 * ordinary GC does not reset that clock first. docs/benchmarks.md (run X) has the figures.
 *
 * One tiny `vm.Script` every EMBEDDER_TICK_MS (a few bytes on cppgc, a compilation-cache hit)
 * keeps that rate just above 0, far under V8's threshold, and the reducer compacts an idle heap
 * 8–16 s after start or after traffic stops, as on Node.js 20 and 22 (where it changes nothing).
 * The timer is unref'd: it never keeps a process alive. Returns what stops it.
 */
export function keepMemoryReducerWorking(periodMs = EMBEDDER_TICK_MS): () => void {
  const tick = (): void => {
    new Script('0');
  };
  tick();
  const timer = setInterval(tick, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
