import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { RedisUnavailableError, withBudget } from '../../../sidecar/src/redis/budget.js';

/** Let pending promise callbacks and one setImmediate turn run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

void t.test('withBudget: a reply that never comes fails with timeout when the clock passes the budget', async (t) => {
  const clock = new ManualClock();
  let outcome: unknown;
  withBudget(new Promise<never>(() => {}), 50, 'test', clock).catch((e: unknown) => {
    outcome = e;
  });
  clock.advance(49);
  await turn();
  t.equal(outcome, undefined, 'not before the budget');
  clock.advance(1);
  await turn();
  t.ok(outcome instanceof RedisUnavailableError);
  t.equal((outcome as RedisUnavailableError).kind, 'timeout');
  t.equal((outcome as RedisUnavailableError).op, 'test');
});

void t.test('withBudget: a reply within the budget wins and cancels the timer', async (t) => {
  const clock = new ManualClock();
  const p = withBudget(Promise.resolve('PONG'), 50, 'test', clock);
  t.equal(await p, 'PONG');
  t.equal(clock.timers, 0, 'no timer left behind');
  const failed = withBudget(Promise.reject(new Error('READONLY')), 50, 'test', clock);
  await t.rejects(failed, /READONLY/);
  t.equal(clock.timers, 0);
});

void t.test('withBudget: a reply already waiting when the timer fires still wins', async (t) => {
  const clock = new ManualClock();
  let answer!: (v: string) => void;
  const p = withBudget(
    new Promise<string>((r) => {
      answer = r;
    }),
    50,
    'test',
    clock,
  );
  clock.advance(50); // the timer fires: its check waits one event-loop turn
  answer('PONG'); // the reply lands in that turn, as one sitting in the socket would
  t.equal(await p, 'PONG');
});
