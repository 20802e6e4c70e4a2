/** How subcommands talk to the terminal; tests pass their own. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  readonly stdin?: NodeJS.ReadableStream;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  // A getter: reading process.stdin builds a stream for fd 0 (≈ 7 ms of every sidecar's start-up),
  // and only `inject -f -` reads it.
  get stdin(): NodeJS.ReadableStream {
    return process.stdin;
  },
};
