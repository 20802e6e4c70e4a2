import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseProxyConfig } from '../../sidecar/src/config.js';
import { Proxy, type ProxyDeps } from '../../sidecar/src/proxy.js';

export interface RunningProxy {
  readonly proxy: Proxy;
  /** http://127.0.0.1:PORT of the inbound listener. */
  readonly url: string;
  readonly adminUrl: string;
  /** Parsed JSON log lines written so far. */
  readonly logs: Record<string, unknown>[];
  readonly policyFile: string | undefined;
  close(): Promise<void>;
}

/** Write a policy document to a fresh temp dir (the directory is what the sidecar watches). */
export function writePolicy(yaml: string, dir = mkdtempSync(join(tmpdir(), 'sidegate-policy-'))): string {
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, yaml);
  return file;
}

/**
 * An in-process sidecar on ephemeral ports in front of `upstream`, logs captured. `flags` are
 * `sidegate proxy` flags; env is not consulted, so tests are independent of the machine.
 */
export async function startProxy(
  upstream: string,
  flags: string[] = [],
  opts: { policy?: string } & ProxyDeps = {},
): Promise<RunningProxy> {
  const logs: Record<string, unknown>[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const policyFile = opts.policy === undefined ? undefined : writePolicy(opts.policy);
  const argv = [
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--upstream',
    upstream,
    '--drain-delay',
    '0s',
    '--drain-timeout',
    '2s',
    ...fastPathFlags(),
    ...(policyFile === undefined ? [] : ['--policy', policyFile]),
    ...flags,
  ];
  const proxy = await Proxy.start(parseProxyConfig(argv, {}), { processMetrics: false, logStream, ...opts });
  return {
    proxy,
    logs,
    policyFile,
    url: `http://127.0.0.1:${proxy.port}`,
    adminUrl: `http://127.0.0.1:${proxy.adminPort}`,
    close: async () => {
      await proxy.shutdown(false);
    },
  };
}

/**
 * `SIDEGATE_TEST_HTTP1_FAST_PATH=off` runs every test's sidecars with HTTP/1.1 sockets read
 * through stream events (`--http1-fast-path`); `SIDEGATE_TEST_HTTP1_PARSER=public` with the public
 * parser fallback, http-parser-js (`--http1-parser`). A test's own flags come later and win.
 */
export function fastPathFlags(): string[] {
  const f = process.env.SIDEGATE_TEST_HTTP1_FAST_PATH;
  const p = process.env.SIDEGATE_TEST_HTTP1_PARSER;
  return [...(f === undefined || f === '' ? [] : ['--http1-fast-path', f]), ...(p === undefined || p === '' ? [] : ['--http1-parser', p])];
}

/** Wait until `pred` holds, polling; fails the test with `what` after `ms`. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
