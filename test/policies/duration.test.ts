import t from 'tap';
import { durationMs, formatDuration, parseDuration } from '../../policies/src/duration.js';

void t.test('parses single and compound durations to milliseconds', (t) => {
  const cases: [string, number][] = [
    ['250ms', 250],
    ['15s', 15_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['24h', 86_400_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['0s', 0],
    ['1.5s', 1_500],
    ['2s500ms', 2_500],
    ['0.25ms', 1],
    ['0.4ms', 1],
    ['1.4ms', 1],
    ['1.6ms', 2],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text);
  t.end();
});

void t.test('rejects what is not a duration', (t) => {
  for (const text of ['', '15', '1.5 s', '2d', '-1s', '30sec', 'PT5S', '5M', 's', '1m 30s', '.5s', '1e3ms', ' 1s']) {
    t.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
  t.throws(() => durationMs('soon'), TypeError);
  t.end();
});

void t.test('formats milliseconds back', (t) => {
  t.equal(formatDuration(0), '0s');
  t.equal(formatDuration(90_000), '1m30s');
  t.equal(formatDuration(3_723_004), '1h2m3s4ms');
  t.equal(parseDuration(formatDuration(86_400_000)), 86_400_000);
  t.end();
});
