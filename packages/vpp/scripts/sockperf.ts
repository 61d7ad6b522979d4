/** Parsing of sockperf ping-pong client output (sockperf 3.7), shared by the loopback benchmark. */
export interface SockperfResult {
  readonly avgUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly minUs: number;
  readonly maxUs: number;
  readonly observations: number;
}

export function parseSockperfOutput(text: string): SockperfResult {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`sockperf output has no ${what}`);
    return Number(m[1]);
  };
  const pct = (p: string) =>
    num(new RegExp(`percentile ${p.replace(".", "\\.")} =\\s+([\\d.]+)`), `percentile ${p}`);
  return {
    avgUs: num(/avg-latency=([\d.]+)/, "avg-latency"),
    p50Us: pct("50.000"),
    p90Us: pct("90.000"),
    p99Us: pct("99.000"),
    p999Us: pct("99.900"),
    minUs: num(/<MIN> observation =\s+([\d.]+)/, "min"),
    maxUs: num(/<MAX> observation =\s+([\d.]+)/, "max"),
    observations: num(/Total (\d+) observations/, "observation count"),
  };
}
