/** How subcommands talk to the terminal; tests pass their own. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  stdin?: NodeJS.ReadableStream;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  stdin: process.stdin,
};
