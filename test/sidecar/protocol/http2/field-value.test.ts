import t from 'tap';
import { validValue as check } from '../../../../sidecar/src/protocol/http2/connection.js';

/** One connection's memory of the last long valid value, as the engine keeps it. */
const memo = { lastLong: '' };
const validValue = (v: string): boolean => check(v, memo);

/**
 * The HTTP/2 front's field-value check (RFC 9113 §8.2.1, RFC 9110 §5.5) against a reference
 * written from the rules: short values are checked character by character, long ones (64 and
 * more) by a regular expression with the connection's last valid one remembered, so the two
 * paths and the memory must all give the reference's answer, including for a value that differs
 * from the remembered one by a single character.
 */

function reference(v: string): boolean {
  if (v.length === 0) return true;
  if (/^[ \t]|[ \t]$/.test(v)) return false;
  for (const ch of v) {
    const c = ch.charCodeAt(0);
    if ((c < 32 && c !== 9) || c === 127) return false;
  }
  return true;
}

t.test('every character, at the start, middle and end of short and long values', async (t) => {
  let checked = 0;
  for (const len of [1, 2, 63, 64, 65, 700]) {
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      for (const at of [0, Math.floor(len / 2), len - 1]) {
        const v = 'x'.repeat(at) + ch + 'x'.repeat(len - at - 1);
        if (validValue(v) !== reference(v)) t.fail(`len ${len}, char ${c} at ${at}: ${validValue(v)}`);
        checked++;
      }
    }
  }
  t.pass(`${checked} values agree with the reference`);
});

t.test('a long value one character away from the remembered valid one is judged afresh', async (t) => {
  const token = `Bearer ${'eyJhbGciOiJSUzI1NiJ9'.repeat(30)}`;
  t.ok(validValue(token), 'a valid token');
  t.ok(validValue(token), 'the same again (remembered)');
  t.ok(validValue(`${token}`.slice(0)), 'an equal string');
  for (const [i, c] of [
    [10, '\r'],
    [token.length - 1, '\x7f'],
    [200, '\0'],
    [token.length - 1, ' '],
  ] as const) {
    const bad = token.slice(0, i) + c + token.slice(i + 1);
    t.equal(bad.length, token.length);
    t.notOk(validValue(bad), `char ${c.charCodeAt(0)} at ${i} is refused after the valid one`);
    t.ok(validValue(token), 'and the valid one is still valid');
  }
  // Random long values, repeated and interleaved, as connections would send them.
  let x = 7;
  const rnd = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const pool: string[] = [];
  for (let i = 0; i < 50; i++) {
    let v = '';
    const len = 64 + rnd(300);
    for (let j = 0; j < len; j++) v += String.fromCharCode(33 + rnd(94));
    // Half of them get one character of any value at any place.
    if (rnd(2) === 0) {
      const at = rnd(len);
      v = v.slice(0, at) + String.fromCharCode(rnd(256)) + v.slice(at + 1);
    }
    pool.push(v);
  }
  let disagree = 0;
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    const v = pool[rnd(pool.length)]!;
    if (validValue(v) !== reference(v)) disagree++;
    if (!reference(v)) refused++;
  }
  t.equal(disagree, 0, 'no disagreement over 2,000 draws');
  t.ok(refused > 0 && refused < 2000, `both answers drawn (${refused} refused)`);
});
