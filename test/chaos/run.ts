/**
 * `npm run test:chaos`: the fault suite, short form (about a minute; what .ci/run runs).
 * `npm run test:chaos -- --full` or SIDEGATE_CHAOS=full: every fault held longer, plus the
 * 10-minute soak. Knobs: SIDEGATE_CHAOS_RATE (req/s), SIDEGATE_SOAK_SECONDS, SIDEGATE_CHAOS_LOGS
 * (directory that keeps every sidecar's output), SIDEGATE_CHAOS_REPORT / SIDEGATE_SOAK_REPORT
 * (files the fault table and the soak summary are written to).
 * These files are not `*.test.js`, so the default `npm test` never runs them.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const full = process.argv.includes('--full') || process.env.SIDEGATE_CHAOS === 'full';
const here = dirname(new URL(import.meta.url).pathname);
const files = [join(here, 'faults.chaos.js'), ...(full ? [join(here, 'soak.chaos.js')] : [])];
const tap = join(dirname(createRequire(import.meta.url).resolve('tap/package.json')), 'dist', 'esm', 'run.mjs');
const child = spawn(process.execPath, [tap, '--disable-coverage', '--jobs', '1', '--timeout', full ? '1800' : '300', ...files], {
  stdio: 'inherit',
  env: { ...process.env, SIDEGATE_CHAOS: full ? 'full' : 'short' },
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
