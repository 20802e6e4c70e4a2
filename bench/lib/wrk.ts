/** wrk command lines and output parsing. wrk is closed-loop: used for capacity only. */

export interface WrkOptions {
  readonly threads: number;
  readonly connections: number;
  readonly durationS: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A Lua script (`-s`), e.g. one that sets a different token on every request. */
  readonly script?: string;
}

export function wrkArgs(url: string, o: WrkOptions): string[] {
  const h: string[] = [];
  for (const [k, v] of Object.entries(o.headers ?? {})) h.push('-H', `${k}: ${v}`);
  if (o.script !== undefined) h.push('-s', o.script);
  return [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationS}s`, ...h, url];
}

export interface WrkSummary {
  readonly rps: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly socketErrors: number;
}

export function parseWrkOutput(stdout: string): WrkSummary {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const reqs = /(\d+) requests in /.exec(stdout);
  if (!rps || !reqs) throw new Error(`unrecognised wrk output:\n${stdout.slice(0, 2000)}`);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return { rps: Number(rps[1]), requests: Number(reqs[1]), non2xx: non2xx ? Number(non2xx[1]) : 0, socketErrors };
}
