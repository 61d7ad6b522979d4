import { Ajv } from "ajv";
import { beforeAll, describe, expect, test } from "vitest";
import { LatencyHistogram } from "../engine/histogram.js";
import { buildResult, resolveLoadOptions } from "../engine/run-load.js";
import type { ShardResult } from "../engine/shard.js";
import type { LoadResult } from "../engine/types.js";
import { compareLatency, toReportEntries } from "./compare.js";
import { formatDelta, formatUs } from "./format.js";
import { toFortioJson } from "./fortio.js";
import { HTML_CHART_IDS, renderHtmlReport } from "./html.js";
import { LOAD_RESULT_JSON_SCHEMA } from "./schema.js";
import { renderTextReport } from "./text.js";

/** A result built from known latencies (µs): corrected = value, uncorrected = value / 2. */
function resultOf(
  values: number[],
  opts: { qps?: number; errors?: Record<string, number>; target?: string } = {},
): LoadResult {
  const corrected = new LatencyHistogram();
  const uncorrected = new LatencyHistogram();
  for (const v of values) {
    corrected.record(v);
    uncorrected.record(v / 2);
  }
  const errs = Object.values(opts.errors ?? {}).reduce((a, b) => a + b, 0);
  const shard: ShardResult = {
    corrected,
    uncorrected,
    errors: opts.errors ?? {},
    requests: values.length + errs,
    measureStartEpochMs: Date.parse("2026-11-23T04:00:00Z"),
    durationMs: 1000,
    unsent: 0,
  };
  const resolved = resolveLoadOptions({
    target: opts.target ?? "http://127.0.0.1:8080/",
    qps: opts.qps ?? values.length + errs,
    connections: 4,
    durationMs: 1000,
    payloadBytes: 1024,
    warmupMs: 500,
  });
  return buildResult(resolved, [shard], [], 0);
}

const ramp = (n: number, scale = 1): number[] => Array.from({ length: n }, (_, i) => (i + 1) * scale);

let direct: LoadResult;
let sidecar: LoadResult;
beforeAll(() => {
  direct = resultOf(ramp(1000)); // 1..1000 µs
  sidecar = resultOf(ramp(1000, 2), { errors: { http_503: 3 } }); // 2..2000 µs
});

describe("JSON schema", () => {
  test("a result validates against LOAD_RESULT_JSON_SCHEMA", () => {
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(LOAD_RESULT_JSON_SCHEMA);
    const ok = validate(JSON.parse(JSON.stringify(direct)));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  test("the schema rejects a wrong version", () => {
    const validate = new Ajv({ strict: false }).compile(LOAD_RESULT_JSON_SCHEMA);
    expect(validate({ ...JSON.parse(JSON.stringify(direct)), schema: "meshctl.bench.load/v0" })).toBe(false);
  });
});

describe("comparison", () => {
  test("absolute and relative deltas per percentile", () => {
    const d = compareLatency(direct.corrected, sidecar.corrected);
    expect(d.find((x) => x.metric === "p50")).toEqual({
      metric: "p50",
      baselineUs: 500,
      valueUs: 1000,
      deltaUs: 500,
      deltaPct: 100,
    });
    expect(d.find((x) => x.metric === "p99")).toMatchObject({
      baselineUs: 990,
      valueUs: 1980,
      deltaPct: 100,
    });
  });

  test("unlabelled results are named by target, or run N when targets repeat", () => {
    expect(toReportEntries([direct]).map((e) => e.label)).toEqual(["http://127.0.0.1:8080/"]);
    expect(toReportEntries([direct, sidecar]).map((e) => e.label)).toEqual(["run 1", "run 2"]);
  });

  test("formatting", () => {
    expect(formatUs(850)).toBe("850µs");
    expect(formatUs(1234)).toBe("1.23ms");
    expect(formatUs(2_050_000)).toBe("2.05s");
    expect(formatDelta(500, 100)).toBe("+500µs (+100.0%)");
    expect(formatDelta(-1500, -12.5)).toBe("-1.5ms (-12.5%)");
  });
});

describe("text report", () => {
  test("one table per result with corrected and uncorrected rows", () => {
    const text = renderTextReport(direct);
    expect(text).toContain(
      "http1 · open loop at 1,000 req/s · 4 connections · 1s · payload 1 KiB · warm-up 500ms",
    );
    expect(text).toMatch(/corrected\s+1µs\s+500µs\s+750µs\s+900µs\s+990µs\s+999µs\s+1ms\s+1ms/);
    expect(text).toMatch(/uncorrected\s+1µs\s+250µs/);
    expect(text).not.toContain("Comparison");
  });

  test("several results get a comparison with deltas against the baseline", () => {
    const text = renderTextReport([
      { label: "direct", result: direct },
      { label: "sidecar", result: sidecar },
    ]);
    expect(text).toContain("Comparison (corrected latency)");
    expect(text).toContain("Change vs direct");
    expect(text).toMatch(/sidecar\s+\+0\.3%\s+\+500µs \(\+100\.0%\)/);
    expect(text).toContain("errors: http_503 3");
  });

  test("a baseline from another run is compared too", () => {
    const text = renderTextReport(sidecar, { baseline: direct });
    expect(text).toContain("Change vs baseline");
  });

  test("a run that fell behind says so", () => {
    const slow = resultOf(ramp(500), { qps: 1000 });
    expect(slow.fellBehind).toBe(true);
    expect(renderTextReport(slow)).toMatch(
      /WARNING: achieved 500\.0 req\/s, 50\.0% of the 1000 req\/s target/,
    );
  });
});

describe("fortio JSON", () => {
  test("has fortio's result shape with durations in seconds", () => {
    const f = toFortioJson(sidecar, { labels: "sidecar" });
    expect(f).toMatchObject({
      RunType: "HTTP",
      Labels: "sidecar",
      RequestedQPS: "1003",
      RequestedDuration: "1s",
      NumThreads: 4,
      URL: "http://127.0.0.1:8080/",
      RetCodes: { "200": 1000, "503": 3 },
      ActualDuration: 1_000_000_000,
    });
    expect(f.StartTime).toBe("2026-11-23T04:00:00.000Z");
    const h = f.DurationHistogram;
    expect(h.Count).toBe(1000);
    expect(h.Min).toBeCloseTo(2e-6, 9);
    expect(h.Max).toBeCloseTo(0.002, 5);
    expect(h.Avg).toBeCloseTo(0.001001, 5);
    expect(h.Percentiles.map((p) => p.Percentile)).toEqual([50, 75, 90, 99, 99.9, 99.99]);
    expect(h.Percentiles[0]?.Value).toBeCloseTo(0.001, 5);
    // Buckets: contiguous counts adding up, cumulative percent rising to 100.
    expect(h.Data.reduce((a, d) => a + d.Count, 0)).toBe(1000);
    expect(h.Data.at(-1)?.Percent).toBe(100);
    for (let i = 1; i < h.Data.length; i++)
      expect(h.Data[i]?.Percent).toBeGreaterThan(h.Data[i - 1]?.Percent as number);
    for (const d of h.Data) expect(d.End).toBeGreaterThan(d.Start);
    expect(f.ErrorsDurationHistogram.Count).toBe(0);
    expect(Object.keys(f)).toEqual(
      expect.arrayContaining([
        "RunType",
        "Labels",
        "StartTime",
        "RequestedQPS",
        "RequestedDuration",
        "ActualQPS",
        "ActualDuration",
        "NumThreads",
        "Version",
        "DurationHistogram",
        "ErrorsDurationHistogram",
        "Exactly",
        "Jitter",
        "Uniform",
        "NoCatchUp",
        "RunID",
        "AccessLoggerInfo",
        "ID",
        "RetCodes",
      ]),
    );
  });

  test("tcp and grpc results use fortio's TCP/GRPC run types", () => {
    const tcp = resultOf(ramp(10), { target: "tcp://127.0.0.1:7000" });
    expect(toFortioJson(tcp)).toMatchObject({
      RunType: "TCP",
      Destination: "tcp://127.0.0.1:7000",
      RetCodes: { OK: 10 },
    });
    const grpc = resultOf(ramp(10), { target: "grpc://127.0.0.1:50051" });
    expect(toFortioJson(grpc)).toMatchObject({ RunType: "GRPC", RetCodes: { SERVING: 10 } });
  });
});

describe("HTML report", () => {
  test("is one self-contained page with the charts and the data", () => {
    const html = renderHtmlReport(
      [
        { label: "direct", result: direct },
        { label: "sidecar", result: sidecar },
      ],
      { environment: { sidecar: "haproxy 2.6" }, generatedAt: new Date("2026-11-23T04:00:00Z") },
    );
    expect(html.startsWith("<!doctype html>")).toBe(true);
    for (const id of HTML_CHART_IDS) expect(html).toMatch(new RegExp(`<section id="${id}">[\\s\\S]*?<svg `));
    // Spectrum and histogram draw one series per scenario; the comparison one bar per percentile and scenario.
    expect((html.match(/<polyline /g) ?? []).length).toBe(4);
    expect(html).toContain("Change vs direct");
    expect(html).toContain("+500µs (+100.0%)");
    expect(html).toContain("haproxy 2.6");
    expect(html).toContain(direct.environment.kernel);
    // No external resources: nothing fetched, no scripts executed.
    expect(html).not.toMatch(/<script(?![^>]*application\/json)/);
    expect(html).not.toMatch(/(src|href)="https?:/);
    const data = JSON.parse(
      /<script type="application\/json" id="meshctl-bench-data">([\s\S]*?)<\/script>/.exec(html)?.[1] ??
        "null",
    );
    expect(data.entries.map((e: { label: string }) => e.label)).toEqual(["direct", "sidecar"]);
    expect(data.entries[0].result.corrected).toEqual(direct.corrected);
  });

  test("labels are escaped", () => {
    const html = renderHtmlReport([{ label: "<b>x</b>", result: direct }]);
    expect(html).not.toContain("<b>x</b>");
    expect(html).toContain("&lt;b&gt;x&lt;/b&gt;");
  });
});

/** "850µs" / "9.99ms" / "1.5s" back to µs: an oracle independent of format.ts. */
function parseUs(text: string): number {
  const m = /^(-?[\d.]+)(µs|ms|s)$/.exec(text.trim());
  if (!m) throw new Error(`not a latency: ${text}`);
  return Number(m[1]) * { µs: 1, ms: 1000, s: 1_000_000 }[m[2] as "µs" | "ms" | "s"];
}

function expectNonDecreasing(values: readonly number[]): void {
  for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1] as number);
}

describe("issue 14: whole numbers keep their zeros in reports", () => {
  test("110ms and 200ms read as 110ms and 200ms in the text and HTML reports", () => {
    const slow = resultOf([...Array(50).fill(110_000), ...Array(50).fill(200_000)]);
    const text = renderTextReport(slow);
    expect(text).toMatch(/corrected\s+110ms\s+110ms\s+200ms/);
    expect(text).not.toMatch(/\b(11|2)ms\b/);
    const html = renderHtmlReport([{ label: "slow", result: slow }]);
    expect(html).toContain("<td>110ms</td>");
    expect(html).toContain("<td>200ms</td>");
    // Bar labels and tooltips of the comparison chart, and the axis ticks.
    expect(html).toContain(">200ms</text>");
    expect(html).toContain("slow p50: 110ms");
    expect(html).toContain(">100ms</text>");
    expect(html).not.toMatch(/>(11|2|1)ms</);
  });
});

describe("issue 14: no percentile above its own max", () => {
  // 998 samples of 1ms and two of 9.994ms. Above 8192µs an HDR bucket is 8µs wide: hdr-histogram-js
  // reports p99.9 as the bucket's top (9999µs) but the max as the exact sample (9994µs), which
  // printed as p99.9 "10ms" next to max "9.99ms".
  const tail = (): LoadResult => resultOf([...Array(998).fill(1000), 9994, 9994]);

  test("the text report's percentiles never decrease, and rounding is not a warning", () => {
    const text = renderTextReport(tail());
    const row = /^\s+corrected\s+(.*)$/m.exec(text)?.[1]?.split(/\s{2,}/) ?? [];
    // min, p50 ... p99.99, max (then mean ± stdev)
    const cells = row.slice(0, 8).map(parseUs);
    expect(cells).toHaveLength(8);
    expectNonDecreasing(cells);
    expect(cells.at(-1)).toBe(9990);
    expect(text).not.toContain("WARNING");
  });

  test("the HTML summary and the comparison chart never show p99.9 above max", () => {
    const html = renderHtmlReport([{ label: "tail", result: tail() }]);
    const row = /<table class="summary">[\s\S]*?<tbody><tr>([\s\S]*?)<\/tr>/.exec(html)?.[1] ?? "";
    const cells = [...row.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1] ?? "");
    // ... p50, p90, p99, p99.9, max, p99 uncorrected
    const latencies = cells.slice(-6, -1).map(parseUs);
    expect(latencies).toHaveLength(5);
    expectNonDecreasing(latencies);
    expect(html).toContain("tail p99.9: 9.99ms");
    expect(html).not.toContain("tail p99.9: 10ms");
    expect(html).not.toContain("Warnings");
    // The embedded data stays as measured.
    const data = JSON.parse(
      /<script type="application\/json" id="meshctl-bench-data">([\s\S]*?)<\/script>/.exec(html)?.[1] ??
        "null",
    );
    expect(data.entries[0].result.corrected).toEqual(tail().corrected);
  });

  test("fortio percentiles stay at or below Max", () => {
    const h = toFortioJson(tail()).DurationHistogram;
    for (const p of h.Percentiles) expect(p.Value).toBeLessThanOrEqual(h.Max);
    expect(h.Max).toBeCloseTo(0.009994, 9);
  });

  test("deltas compare ordered figures", () => {
    const d = compareLatency(direct.corrected, tail().corrected);
    const at = (m: string) => d.find((x) => x.metric === m)?.valueUs as number;
    expect(at("p999")).toBeLessThanOrEqual(at("max"));
    expect(at("p9999")).toBeLessThanOrEqual(at("max"));
  });

  test("an inconsistency beyond HDR rounding is flagged in both reports", () => {
    // A max that cannot come from the same histogram as the percentiles.
    const broken: LoadResult = { ...direct, corrected: { ...direct.corrected, max: 400 } };
    const message = "corrected latencies out of order beyond HDR rounding: p50 500µs > max 400µs";
    expect(renderTextReport(broken)).toContain(`WARNING: ${message}`);
    const html = renderHtmlReport([{ label: "broken", result: broken }]);
    expect(html).toMatch(/<section class="warnings">[\s\S]*broken: corrected latencies out of order/);
    expect(html).toContain(message.replace(">", "&gt;"));
    // The input is left as it was.
    expect(broken.warnings).toEqual(direct.warnings);
  });
});
