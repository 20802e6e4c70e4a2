import t from 'tap';
import { ManualClock, sleepOn } from '../../sidecar/src/clock.js';

void t.test('ManualClock: timers fire in order as advance passes them, each at its own time', async (t) => {
  const clock = new ManualClock(1000, 0);
  const fired: string[] = [];
  clock.after(30, () => fired.push(`b@${clock.monotonic()}/${clock.now()}`));
  clock.after(10, () => fired.push(`a@${clock.monotonic()}/${clock.now()}`));
  clock.after(30, () => fired.push(`c@${clock.monotonic()}`));
  const cancel = clock.after(20, () => fired.push('cancelled'));
  cancel();
  t.equal(clock.timers, 3);
  clock.advance(9);
  t.same(fired, [], 'nothing is due yet');
  clock.advance(100);
  t.same(fired, ['a@10/1010', 'b@30/1030', 'c@30'], 'in time order, ties in the order set');
  t.equal(clock.monotonic(), 109);
  t.equal(clock.now(), 1109);
  t.equal(clock.timers, 0);
});

void t.test('a timer set by a firing timer fires in the same advance when due', async (t) => {
  const clock = new ManualClock();
  const fired: number[] = [];
  clock.after(10, () => {
    fired.push(clock.monotonic());
    clock.after(10, () => fired.push(clock.monotonic()));
  });
  clock.advance(25);
  t.same(fired, [10, 20]);
});

void t.test('sleepOn resolves when the clock passes it', async (t) => {
  const clock = new ManualClock();
  let done = false;
  const p = sleepOn(clock, 50).then(() => {
    done = true;
  });
  clock.advance(49);
  await Promise.resolve();
  t.notOk(done);
  clock.advance(1);
  await p;
  t.ok(done);
});
