import { randomUUID } from 'node:crypto';

/** Ids we accept from clients: short, printable, no separators that could forge log fields. */
const SAFE_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/** The client's `x-request-id` when it is safe to echo and log, else a fresh UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && SAFE_ID.test(header) ? header : randomUUID();
}
