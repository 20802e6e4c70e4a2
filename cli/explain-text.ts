/** `sidegate explain` for people: one section per stage, in the order the sidecar runs them. */
import type { ExplainResult } from './explain.js';

const pad = (s: string): string => s.padEnd(12);

export function explanationText(r: ExplainResult): string {
  const out: string[] = [];
  const line = (head: string, text: string): void => {
    out.push(`${pad(head)}${text}`);
  };
  const more = (text: string): void => {
    out.push(`${pad('')}${text}`);
  };

  line('policy', `${r.policy.name} (version ${r.policy.version})`);
  line('request', `${r.request.method} ${r.request.target} from ${r.request.clientIp}`);
  if (r.request.invalid !== undefined) more(`refused as sent: ${r.request.invalid}`);
  else if (r.request.path !== r.request.target.split('?')[0]) more(`judged as path ${r.request.path}`);
  line('route', r.route);
  line(
    'maintenance',
    r.maintenance === 'excepted'
      ? 'on, but this request is excepted (maintenance.except)'
      : r.maintenance === 'allowed'
        ? 'on, but the token is allow-listed (maintenance.allow)'
        : r.maintenance === 'refused'
          ? 'on: answered 503'
          : r.maintenance,
  );
  line('auth', r.auth.rule === 'none' ? 'not reached (answered before authentication)' : `${r.auth.rule} requires ${r.auth.requires}`);
  if (r.auth.result !== 'not reached') {
    const who = [
      r.auth.subject === undefined ? '' : `subject ${r.auth.subject}`,
      r.auth.provider === undefined ? '' : `provider ${r.auth.provider}`,
    ]
      .filter((x) => x !== '')
      .join(', ');
    more(`${r.auth.result}${r.auth.reason === undefined ? '' : ` (${r.auth.reason})`}${who === '' ? '' : `: ${who}`}`);
  }
  if (!r.limitsReached) line('limits', 'not reached (answered before rate limits)');
  else if (r.limits.length === 0) line('limits', 'none apply');
  for (const [i, l] of r.limits.entries()) {
    (i === 0 ? line : (_: string, t: string): void => more(t))(
      'limits',
      `${l.name}${l.mode === 'shadow' ? ' (shadow: counts, never refuses)' : ''}: ${l.limit}`,
    );
    more(`  key ${l.key}`);
    more(`  from ${l.parts.map((p) => `${p.part} = ${JSON.stringify(p.value)}`).join(', ')}`);
  }
  if (r.answer.forwarded) {
    line('answer', `forwarded to the app as ${r.request.method} ${r.answer.forwardedTarget ?? ''}`);
    for (const [h, v] of Object.entries(r.answer.identityHeaders)) more(`with ${h}: ${v}`);
  } else {
    line(
      'answer',
      `${r.answer.status ?? '?'} ${r.answer.error ?? ''}${r.answer.reason === undefined ? '' : ` (${r.answer.reason})`}: ${r.answer.message ?? ''}`,
    );
    for (const [h, v] of Object.entries(r.answer.headers)) if (h !== 'content-type' && h !== 'x-request-id') more(`${h}: ${v}`);
  }
  for (const n of r.notes) line('note', n);
  return out.join('\n');
}
