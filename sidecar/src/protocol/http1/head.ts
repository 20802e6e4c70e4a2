import { http } from '../node-http.js';

const { STATUS_CODES } = http;

/**
 * Serialising HTTP/1.1 heads. Values are written as latin1, byte for byte as llhttp read them.
 * A value with CR, LF or NUL is never written (it would split the message): every value that
 * came from a peer was already refused by llhttp, so this only guards sidegate's own headers.
 */

const UNSAFE_VALUE = /[\r\n\0]/;
const statusLines = new Map<number, string>();

/** `HTTP/1.1 200 OK\r\n`, cached per status. */
export function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (statusLines.size < 256) statusLines.set(status, line);
  }
  return line;
}

/** `name: value\r\n` for one field (one line per element of a list); '' for an unsafe value. */
export function fieldLines(name: string, value: string | number | readonly string[]): string {
  if (typeof value === 'number') return `${name}: ${value}\r\n`;
  if (typeof value === 'string') return UNSAFE_VALUE.test(value) ? '' : `${name}: ${value}\r\n`;
  let out = '';
  for (const v of value) if (!UNSAFE_VALUE.test(v)) out += `${name}: ${v}\r\n`;
  return out;
}

let dateLine = '';
let dateTimer: NodeJS.Timeout | undefined;

/**
 * `date: <IMF-fixdate>\r\n`, formatted at most once a second (RFC 9110 §6.6.1: a recipient that
 * forwards a response without Date adds one). Like node:http, a timer clears the cache at the
 * next second boundary instead of checking the time on every response.
 */
export function dateField(): string {
  if (dateLine === '') {
    const now = new Date();
    dateLine = `date: ${now.toUTCString()}\r\n`;
    dateTimer = setTimeout(() => {
      dateLine = '';
      dateTimer = undefined;
    }, 1000 - now.getMilliseconds());
    dateTimer.unref();
  }
  return dateLine;
}
