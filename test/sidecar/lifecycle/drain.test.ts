import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { Drainer, POLL_MS, type Drainable } from '../../../sidecar/src/lifecycle/drain.js';

/** A proxy stand-in that records what the drainer asked of it. */
function target(busy: { inflight: number; connections: number }) {
  const calls: string[] = [];
  const d: Drainable = {
    stopAccepting: () => calls.push('stopAccepting'),
    closeIdle: () => calls.push('closeIdle'),
    busy: () => ({ ...busy }),
    destroyAll: () => calls.push('destroyAll'),
  };
  return { d, calls, busy };
}

/** Let the drainer's pending promise callbacks run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

void t.test('the delay keeps serving, then it stops accepting and waits for in-flight requests', async (t) => {
  const clock = new ManualClock();
  const { d, calls, busy } = target({ inflight: 2, connections: 1 });
  const drainer = new Drainer(d, 1000, 5000, clock);
  let result: { forced: boolean } | undefined;
  void drainer.start(true).then((r) => {
    result = r;
  });
  t.equal(drainer.phase, 'delay');
  t.ok(drainer.draining, 'not ready from the first moment');
  t.notOk(drainer.stopping, 'still accepting during the delay');
  clock.advance(999);
  await settle();
  t.same(calls, [], 'nothing stopped before the delay is over');
  clock.advance(1);
  await settle();
  t.equal(drainer.phase, 'stopping');
  t.same(calls, ['stopAccepting', 'closeIdle']);
  clock.advance(POLL_MS);
  await settle();
  t.same(calls, ['stopAccepting', 'closeIdle', 'closeIdle'], 'idle connections closed on every look');
  busy.inflight = 0;
  busy.connections = 0;
  clock.advance(POLL_MS);
  await settle();
  t.same(result, { forced: false }, 'drained without force');
  t.equal(drainer.phase, 'done');
  t.notOk(calls.includes('destroyAll'));
  t.equal(clock.timers, 0);
});

void t.test('what is still busy at the timeout is destroyed', async (t) => {
  const clock = new ManualClock();
  const { d, calls } = target({ inflight: 1, connections: 1 });
  const drainer = new Drainer(d, 1000, 200, clock);
  let result: { forced: boolean } | undefined;
  void drainer.start(false).then((r) => {
    result = r;
  });
  await settle();
  t.equal(drainer.phase, 'stopping', 'no delay when asked for none');
  for (let i = 0; i < 200 / POLL_MS - 1; i++) {
    clock.advance(POLL_MS);
    await settle();
  }
  t.equal(result, undefined, 'still waiting just before the timeout');
  clock.advance(POLL_MS);
  await settle();
  t.same(result, { forced: true });
  t.equal(calls.at(-1), 'destroyAll');
});

void t.test('start twice: one drain', async (t) => {
  const clock = new ManualClock();
  const { d } = target({ inflight: 0, connections: 0 });
  const drainer = new Drainer(d, 0, 100, clock);
  const a = drainer.start(true);
  t.equal(drainer.start(false), a);
  t.same(await a, { forced: false });
});
