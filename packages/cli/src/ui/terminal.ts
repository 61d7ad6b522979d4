/** True when stdout is a terminal and nothing asked for plain output. */
export function isInteractive(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && process.env.CI !== "true" && process.env.TERM !== "dumb";
}

/** Colours for plain text, off when piped or with --no-color / NO_COLOR. */
export function paint(enabled: boolean): {
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
} {
  const wrap = (code: number, reset: number) => (s: string) =>
    enabled ? `\u001b[${code}m${s}\u001b[${reset}m` : s;
  return {
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    red: wrap(31, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}
