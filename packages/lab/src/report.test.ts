import { encodeEchoMessage, formatRate, PALETTE } from "@meshctl/bench";
import { podCommand } from "@meshctl/pod";
import { Ajv } from "ajv";
import { describe, expect, test } from "vitest";
import { LAB_HTML_SECTION_IDS, renderLabHtmlReport, representativeRound } from "./html-report.js";
import { measurementFromLoadResult } from "./index.js";
import { formatCpuUs, formatSignedFraction } from "./report-figures.js";
import { compareScenarios, curvesOf, summarizeRounds } from "./rounds.js";
import { LAB_RESULT_JSON_SCHEMA } from "./schema.js";
import { renderLabText } from "./text-report.js";
import {
  LAB_CPU_PARTS,
  LAB_SEGMENTS,
  type LabCpuPart,
  type LabMeasurement,
  type LabRate,
  type LabResult,
  type LabScenario,
  type LabSegment,
} from "./types.js";

// ---------------------------------------------------------------------------------------------
// Builders: a lab run from a few rules, summarised by the real rounds.ts.

const MESHED: readonly LabScenario[] = ["sidecar", "sidecar-ebpf", "sidecar-grpc"];
const BASE_P50: Readonly<Record<LabScenario, number>> = {
  direct: 100,
  sidecar: 300,
  "sidecar-ebpf": 290,
  "direct-grpc": 150,
  "sidecar-grpc": 420,
  "grpc-proxyless": 160,
  "sidecar-tstats": 310,
  "sidecar-tstats-wasm": 330,
};
/** Per-round factors: direct and sidecar move together (resolved), sidecar-ebpf does not (not resolved). */
const JITTER: Readonly<Record<LabScenario, readonly number[]>> = {
  direct: [1.0, 1.08, 0.92],
  sidecar: [1.0, 1.1, 0.9],
  "sidecar-ebpf": [1.12, 0.9, 1.0],
  "direct-grpc": [1.0, 1.05, 0.95],
  "sidecar-grpc": [1.0, 1.1, 0.9],
  "grpc-proxyless": [1.0, 1.02, 0.97],
  "sidecar-tstats": [1.0, 1.1, 0.9],
  "sidecar-tstats-wasm": [1.0, 1.1, 0.9],
};
/** The most each scenario sustains: the gRPC ones fall behind at 2,000 req/s. */
const CAPACITY: Readonly<Record<LabScenario, number>> = {
  direct: 9000,
  sidecar: 4800,
  "sidecar-ebpf": 5200,
  "direct-grpc": 1800,
  "sidecar-grpc": 2600,
  "grpc-proxyless": 1500,
  "sidecar-tstats": 4500,
  "sidecar-tstats-wasm": 4000,
};

function p50Of(scenario: LabScenario, rate: LabRate, round: number): number {
  const load = rate === "max" ? 3 : 1 + rate / 5000;
  return Math.round(BASE_P50[scenario] * load * (JITTER[scenario][(round - 1) % 3] ?? 1));
}

function measurementOf(scenario: LabScenario, rate: LabRate, round: number, seconds: number): LabMeasurement {
  const p50 = p50Of(scenario, rate, round);
  const latency = { p50, p90: p50 * 2, p99: p50 * 3, p999: p50 * 4, max: p50 * 5 };
  const achievedQps = rate === "max" ? CAPACITY[scenario] : Math.min(rate, CAPACITY[scenario]);
  const requests = Math.round(achievedQps * seconds);
  const meshed = MESHED.includes(scenario);
  const parts: Partial<Record<LabCpuPart, { userUs: number; systemUs: number }>> = {};
  const perRequest: Record<LabCpuPart, [number, number]> = {
    "client-app": [20, 10],
    "client-sidecar": [40, 20],
    "server-app": [15, 8],
    "server-sidecar": [35, 18],
  };
  for (const part of LAB_CPU_PARTS) {
    if (!meshed && part.endsWith("sidecar")) continue;
    const [user, system] = perRequest[part];
    // eBPF takes the sidecars' loopback hops off the kernel path: less system CPU.
    const kernel = scenario === "sidecar-ebpf" && part.endsWith("sidecar") ? 0.7 : 1;
    parts[part] = { userUs: user * requests * (1 + round / 100), systemUs: system * kernel * requests };
  }
  const segment = (us: number) => ({ p50: us, p90: us * 2, p99: us * 4, mean: us * 1.2 });
  const shares: Record<LabSegment, number> = {
    "client-app-to-sidecar": 0.1,
    "client-sidecar": 0.3,
    "sidecar-to-sidecar": 0.15,
    "server-sidecar": 0.3,
    "server-sidecar-to-app": 0.15,
  };
  return {
    scenario,
    rate,
    round,
    protocol: scenario.includes("grpc") ? "grpc" : "http1",
    requests,
    errors: scenario === "sidecar" && rate === 2000 && round === 2 ? 3 : 0,
    achievedQps,
    rateReached: rate === "max" || achievedQps >= rate * 0.99,
    latencyUs: latency,
    uncorrectedLatencyUs: { ...latency, p99: p50 * 2 },
    cpu: { requests, parts },
    ...(meshed
      ? {
          breakdown: {
            joined: requests,
            unmatched: 0,
            segments: Object.fromEntries(
              LAB_SEGMENTS.map((s) => [s, segment(Math.round(p50 * shares[s]))]),
            ) as Record<LabSegment, ReturnType<typeof segment>>,
            // A stall every second in the client sidecar.
            timeline: Array.from(
              { length: 200 },
              (_, i) => [i * 20, i % 50 === 0 ? 9000 : 90 + (i % 7), 80 + (i % 5)] as const,
            ),
          },
        }
      : {}),
    raw: {
      corrected: { count: requests },
      histogram: {
        spectrum: [
          [0, p50 / 2],
          [50, p50],
          [90, p50 * 2],
          [99, p50 * 3],
          [99.9, p50 * 4],
          [100, p50 * 5],
        ],
        uncorrectedSpectrum: [
          [0, p50 / 2],
          [50, p50],
          [99, p50 * 2],
          [100, p50 * 3],
        ],
        buckets: [
          { startUs: p50 / 2, endUs: p50, count: requests / 2 },
          { startUs: p50, endUs: p50 * 2, count: requests * 0.4 },
          { startUs: p50 * 2, endUs: p50 * 5, count: requests * 0.1 },
        ],
      },
    },
  };
}

function labResultOf(
  opts: { scenarios?: readonly LabScenario[]; rates?: readonly LabRate[]; rounds?: number } = {},
): LabResult {
  const scenarios = opts.scenarios ?? [
    "direct",
    "sidecar",
    "sidecar-ebpf",
    "direct-grpc",
    "sidecar-grpc",
    "grpc-proxyless",
  ];
  const rates = opts.rates ?? [500, 2000, "max"];
  const rounds = opts.rounds ?? 3;
  const measurements: LabMeasurement[] = [];
  for (const rate of rates)
    for (let round = 1; round <= rounds; round++)
      for (const s of scenarios) measurements.push(measurementOf(s, rate, round, 3));
  const summaries = summarizeRounds(measurements, scenarios, rates);
  return {
    schema: "meshctl.bench.lab/v2",
    startedAt: "2026-12-06T04:00:00.000Z",
    durationSeconds: 171.4,
    options: {
      scenarios,
      durationSeconds: 3,
      warmupSeconds: 1,
      rounds,
      rates,
      connections: 4,
      pacing: "timer",
      payloadBytes: 1024,
      sidecar: "envoy",
      sidecarMode: "http",
      pinCpus: false,
    },
    environment: {
      kernel: "6.18",
      cpus: 2,
      cpuModel: "EPYC",
      node: "v20.20.2",
      sidecar: "envoy",
      sidecarVersion: "1.36",
      cgroupRoot: "/sys/fs/cgroup/mcl-lab-0000",
      ebpf: "sockops + sk_msg",
      cpuPinning: "none",
    },
    skipped: [],
    measurements,
    summaries,
    comparisons: compareScenarios(summaries),
    curves: curvesOf(summaries),
    ebpfCounters: {
      redirectedMessages: 12000,
      redirectedBytes: 1_200_000,
      egressMessages: 6000,
      ingressMessages: 6000,
      passedMessages: 3,
      pairsCreated: 8,
      misses: 0,
    },
    warnings: ["sidecar at 2000 req/s round 2: 3 of 6000 requests failed"],
  };
}

// ---------------------------------------------------------------------------------------------
// Reading the two reports back: HTML rows by their data-* attributes, text rows by columns.

function htmlText(s: string): string {
  return s
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");
}

/** Cells of the HTML table rows whose data-* attributes include all of `data`. */
function htmlRows(html: string, data: Readonly<Record<string, string>>): string[][] {
  const rows: string[][] = [];
  for (const [, attrs, body] of html.matchAll(/<tr((?: data-[a-z]+="[^"]*")+)>(.*?)<\/tr>/g)) {
    const have = Object.fromEntries(
      [...attrs!.matchAll(/data-([a-z]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(data).every(([k, v]) => have[k] === v))
      rows.push([...body!.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => htmlText(m[1]!)));
  }
  return rows;
}

/** The inside of one `<section id>` of the HTML report. */
function sectionOf(html: string, id: string): string {
  const at = html.indexOf(`<section id="${id}">`);
  if (at < 0) throw new Error(`no section ${id}`);
  return html.slice(at, html.indexOf("</section>", at));
}

/** Columns of a text table line (cells are separated by at least two spaces). */
function textCells(line: string): string[] {
  return line.trim().split(/\s{2,}/);
}

/** The rows of the text table that follows the line `heading` (up to the next unindented-enough line). */
function textTableAfter(text: string, heading: string): string[][] {
  const lines = text.split("\n");
  const at = lines.indexOf(heading);
  if (at < 0) throw new Error(`no line ${JSON.stringify(heading)} in the text report`);
  const indent = /^ */.exec(lines[at + 1] ?? "")![0].length;
  const out: string[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (/^ */.exec(line)![0].length !== indent || line.trim() === "") break;
    out.push(textCells(line));
  }
  return out;
}

const rateText = (rate: LabRate) => (rate === "max" ? "max" : rate.toLocaleString("en-US"));

// ---------------------------------------------------------------------------------------------

describe("lab reports: text and HTML from one result", () => {
  const result = labResultOf();
  const text = renderLabText(result);
  const html = renderLabHtmlReport(result);

  test("every scenario × rate row has identical headline figures in both", () => {
    expect(result.summaries).toHaveLength(18);
    for (const s of result.summaries) {
      const fromHtml = htmlRows(sectionOf(html, "summary"), { scenario: s.scenario, rate: rateText(s.rate) });
      expect(fromHtml, `${s.scenario}@${s.rate}`).toHaveLength(1);
      const fromText = text
        .split("\n")
        .map(textCells)
        .filter((c) => c[0] === s.scenario && c[1] === rateText(s.rate) && c.length === 11);
      expect(fromText, `${s.scenario}@${s.rate}`).toHaveLength(1);
      // scenario, rate, proto, rounds, achieved, p50, p90, p99, p99.9, max, errors
      expect(fromText[0]).toEqual(fromHtml[0]);
    }
  });

  test("the figures are the medians across rounds, written for humans", () => {
    // sidecar at 500 req/s: p50 330 × (1.0, 1.1, 0.9) -> 330, 363, 297: median 330, range 20%.
    const [row] = htmlRows(sectionOf(html, "summary"), { scenario: "sidecar", rate: "500" });
    expect(row).toEqual([
      "sidecar",
      "500",
      "http1",
      "3",
      "500.0",
      "330µs ±10%",
      "660µs ±10%",
      "990µs ±10%",
      "1.32ms ±10%",
      "1.65ms ±10%",
      "0",
    ]);
    // 3 errors in round 2 at 2,000 req/s, summed over rounds.
    expect(htmlRows(sectionOf(html, "summary"), { scenario: "sidecar", rate: "2,000" })[0]?.[10]).toBe("3");
  });

  test("a missed target rate is flagged in both views for every scenario, gRPC included", () => {
    for (const scenario of ["direct-grpc", "grpc-proxyless"] as const) {
      const line = `${scenario} at 2,000 req/s: target rate not reached`;
      expect(text).toContain(line);
      expect(htmlText(html)).toContain(line);
      const [row] = htmlRows(sectionOf(html, "summary"), { scenario, rate: "2,000" });
      expect(row?.[4]).toMatch(/ !$/);
      expect(html).toMatch(
        new RegExp(
          `data-scenario="${scenario}" data-rate="2,000"><td[^>]*>.*?</td>(<td[^>]*>.*?</td>){3}<td class="bad">`,
        ),
      );
    }
    // sidecar-grpc sustains 2,000 req/s and is not flagged; nothing is flagged at max.
    expect(text).not.toContain("sidecar-grpc at 2,000 req/s: target rate not reached");
    expect(text).not.toMatch(/at max \(closed loop\): target rate not reached/);
  });

  test("each comparison's estimate, interval and verdict read the same in both", () => {
    const blocks = [...html.matchAll(/<h3>([^<]*)<\/h3><table class="deltas">(.*?)<\/table>/g)];
    expect(blocks).toHaveLength(result.comparisons.length);
    let resolved = 0;
    let unresolved = 0;
    for (const c of result.comparisons) {
      const rate = c.rate === "max" ? "max (closed loop)" : `${c.rate.toLocaleString("en-US")} req/s`;
      const heading = `${c.title} at ${rate}: ${c.scenario} vs ${c.baseline}`;
      expect(blocks.map((b) => htmlText(b[1]!))).toContain(heading);
      const fromText = textTableAfter(text, `  ${heading}`);
      expect(fromText).toHaveLength(c.deltas.length);
      c.deltas.forEach((d, i) => {
        const fromHtml = htmlRows(html, { comparison: c.id, rate: rateText(c.rate), metric: d.metric });
        expect(fromHtml).toHaveLength(1);
        expect(fromText[i]).toEqual(fromHtml[0]);
        const [, , estimate, verdict] = fromHtml[0]!;
        expect(verdict).toBe(d.verdict);
        const pct = "(?:0\\.0|[+−]\\d+\\.\\d|[+−]\\d{1,3}(?:,\\d{3})+)%";
        expect(estimate).toMatch(new RegExp(`^${pct} \\[${pct}, ${pct}\\]$`));
        if (d.verdict === "not resolved") unresolved++;
        else resolved++;
      });
    }
    expect(resolved).toBeGreaterThan(0);
    expect(unresolved).toBeGreaterThan(0);
  });

  test("verdicts are stated, never a bare gain, loss or spread", () => {
    const ebpf = result.comparisons.find((c) => c.id === "ebpf-gain" && c.rate === 500)!;
    const p50 = ebpf.deltas.find((d) => d.metric === "p50")!;
    expect(p50.verdict).toBe("not resolved");
    const [row] = htmlRows(html, { comparison: "ebpf-gain", rate: "500", metric: "p50" });
    expect(row?.[3]).toBe("not resolved");
    const overhead = htmlRows(html, { comparison: "sidecar-overhead", rate: "500", metric: "p50" })[0]!;
    expect(overhead.slice(2)).toEqual([expect.stringMatching(/^\+\d+\.\d% \[\+/), "higher"]);
    expect(text).not.toMatch(/\b(gain|loss)\b/);
    for (const line of text.split("\n").filter((l) => /\[[+−]?\d+\.\d%/.test(l)))
      expect(line).toMatch(/(lower|higher|not resolved)$/);
  });

  test("CPU comparisons are in µs per request", () => {
    const [row] = htmlRows(html, { comparison: "ebpf-gain", rate: "500", metric: "sidecar-cpu" });
    // Both sidecars: user (40 + 35) × 1.0r, system 20 + 18 = 38, or × 0.7 = 26.6 with eBPF: −11.4 of ≈114.5.
    expect(row).toEqual(["sidecar CPU /request", "115µs → 103µs", "−10.0% [−10.1%, −9.8%]", "lower"]);
    // direct measures no sidecars, so there is no CPU comparison over it.
    expect(htmlRows(html, { comparison: "sidecar-overhead", rate: "500", metric: "sidecar-cpu" })).toEqual(
      [],
    );
  });

  test("per-hop breakdown: segments in request order, the same in both", () => {
    for (const scenario of MESHED) {
      const heading = `  ${scenario} at 500 req/s`;
      const fromText = textTableAfter(text.slice(text.indexOf("Per-hop latency")), heading);
      const fromHtml = LAB_SEGMENTS.map((segment) => htmlRows(html, { scenario, rate: "500", segment })[0]);
      expect(fromText).toEqual(fromHtml);
      expect(fromText.map((r) => r[0])).toEqual([
        "client app ⇄ client sidecar",
        "client sidecar",
        "sidecar ⇄ sidecar",
        "server sidecar",
        "server sidecar ⇄ app + app",
      ]);
    }
    // sidecar at 500: p50 330 → client sidecar 30% = 99µs; p99 4× = 396µs.
    expect(textTableAfter(text.slice(text.indexOf("Per-hop latency")), "  sidecar at 500 req/s")[1]).toEqual([
      "client sidecar",
      "99µs",
      "198µs",
      "396µs",
      "30%",
    ]);
    expect(text).not.toContain("  direct at 500 req/s\n    segment");
  });

  test("CPU per request per part: user, system, total and per 1,000 requests", () => {
    const cpuText = text.slice(text.indexOf("CPU per request"));
    const fromText = textTableAfter(cpuText, "  At 500 req/s");
    const fromHtml = htmlRows(sectionOf(html, "cpu"), { rate: "500" });
    expect(fromText).toEqual(fromHtml);
    const sidecar = fromText.filter((r) => r[0] === "sidecar");
    // client sidecar: user 40 × (1.01, 1.02, 1.03) → median 40.8; system 20.
    expect(sidecar[1]).toEqual(["sidecar", "client sidecar", "40.8µs", "20µs", "60.8µs", "60.8ms"]);
    expect(sidecar.at(-1)?.[1]).toBe("all parts");
    // direct has no sidecars: two parts and no "all parts" row.
    expect(fromText.filter((r) => r[0] === "direct").map((r) => r[1])).toEqual(["client app", "server app"]);
  });

  test("curves: each rate's achieved rate and latency, and the max sustainable rate", () => {
    for (const c of result.curves) {
      const heading = blocksHeading(c.scenario);
      expect(text).toContain(`  ${heading}`);
      expect(htmlText(html)).toContain(heading);
      const fromText = textTableAfter(text.slice(text.indexOf("Latency against throughput")), `  ${heading}`);
      const fromHtml = htmlRows(sectionOf(html, "curves"), { scenario: c.scenario });
      expect(fromText).toEqual(fromHtml);
    }
    // grpc-proxyless sustained 500 only (2,000 missed): max is the closed-loop level, 1,500.
    expect(text).toContain("  grpc-proxyless: max sustainable rate: 1,500 req/s");
    expect(textTableAfter(text, "  grpc-proxyless: max sustainable rate: 1,500 req/s")[1]).toEqual([
      "2,000",
      "1,500",
      "224µs",
      "672µs",
      "rate not reached",
    ]);
  });

  test("the HTML draws the breakdown, the sidecars' timeline, CPU bars and the curves inline", () => {
    for (const id of LAB_HTML_SECTION_IDS) expect(html).toContain(`<section id="${id}">`);
    const breakdown = html.slice(
      html.indexOf('<section id="breakdown">'),
      html.indexOf('<section id="timeline">'),
    );
    // One stacked bar per meshed scenario per rate, five segments each.
    expect(breakdown.match(/<rect [^>]*><title>sidecar · client sidecar: /g)).toHaveLength(3);
    expect(breakdown.match(/<svg /g)).toHaveLength(3);
    const timeline = html.slice(html.indexOf('<section id="timeline">'), html.indexOf('<section id="cpu">'));
    expect(timeline.match(/<svg /g)).toHaveLength(MESHED.length * 3);
    expect(timeline).toContain(`stroke="${PALETTE[0]}" stroke-opacity="0.7"`);
    expect(timeline).toContain(`stroke="${PALETTE[1]}" stroke-opacity="0.7"`);
    expect(timeline).toContain("<title>client sidecar</title>");
    expect(timeline).toContain("<title>server sidecar</title>");
    const cpu = html.slice(html.indexOf('<section id="cpu">'), html.indexOf('<section id="curves">'));
    expect(cpu).toContain("client sidecar system");
    expect(cpu).toMatch(/fill-opacity="0\.45"/);
    const curves = html.slice(html.indexOf('<section id="curves">'), html.indexOf('<section id="spectrum">'));
    expect(curves.match(/<polyline/g)).toHaveLength(result.curves.length * 2);
    // Self-contained: no scripts but the data block, nothing fetched.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/(src|href)="https?:/);
    const data = JSON.parse(
      /<script type="application\/json" id="meshctl-lab-data">(.*?)<\/script>/s.exec(html)![1]!,
    );
    expect(data.summaries).toEqual(JSON.parse(JSON.stringify(result.summaries)));
  });

  test("the result validates against the v2 JSON schema, and a v1 result does not", () => {
    const validate = new Ajv({ strict: false }).compile(LAB_RESULT_JSON_SCHEMA);
    expect(validate(JSON.parse(JSON.stringify(result))), JSON.stringify(validate.errors)).toBe(true);
    const v1 = { ...JSON.parse(JSON.stringify(result)), schema: "meshctl.bench.lab/v1" };
    expect(validate(v1)).toBe(false);
    const noRate = JSON.parse(JSON.stringify(result));
    delete noRate.summaries[0].rate;
    expect(validate(noRate)).toBe(false);
  });

  test("says what was skipped, what eBPF did, and warns", () => {
    const skipped = renderLabText({
      ...result,
      skipped: [{ scenario: "grpc-proxyless", reason: "not built" }],
    });
    expect(skipped).toContain("grpc-proxyless: not built");
    expect(text).toContain("12,000 messages redirected socket-to-socket (6,000 between the client app");
    expect(text).toContain("! sidecar at 2000 req/s round 2: 3 of 6000 requests failed");
    expect(htmlText(html)).toContain("sidecar at 2000 req/s round 2: 3 of 6000 requests failed");
  });

  function blocksHeading(scenario: LabScenario): string {
    const c = result.curves.find((x) => x.scenario === scenario)!;
    return `${scenario}: max sustainable rate: ${c.maxSustainableQps === null ? "none" : `${formatRate(c.maxSustainableQps)} req/s`}`;
  }
});

describe("formatting", () => {
  test("relative changes carry a real minus sign, and no decimals from 1,000%", () => {
    expect(formatSignedFraction(-0.084)).toBe("−8.4%");
    expect(formatSignedFraction(0.031)).toBe("+3.1%");
    expect(formatSignedFraction(0.0004)).toBe("0.0%");
    expect(formatSignedFraction(33.418)).toBe("+3,342%");
    expect(formatSignedFraction(-0.99999)).toBe("−100.0%");
  });

  test("CPU time per request keeps three significant digits", () => {
    expect(formatCpuUs(3.4217)).toBe("3.42µs");
    expect(formatCpuUs(42.31)).toBe("42.3µs");
    expect(formatCpuUs(1234)).toBe("1.23ms");
  });
});

describe("lab reports: one rate, one round", () => {
  const result = labResultOf({ scenarios: ["direct", "sidecar"], rates: [1000], rounds: 1 });
  const text = renderLabText(result);
  const html = renderLabHtmlReport(result);

  test("setup line, no spread without rounds, and no interval without two rounds", () => {
    expect(text).toContain(
      "1 interleaved round × 3s (+1s warm-up) per scenario and rate, at 1,000 req/s, 4 connections, 1 KiB payload, sidecar envoy (http)",
    );
    const [row] = htmlRows(sectionOf(html, "summary"), { scenario: "sidecar", rate: "1,000" });
    expect(row?.[5]).toBe("360µs");
    const [p50] = htmlRows(html, { comparison: "sidecar-overhead", rate: "1,000", metric: "p50" });
    expect(p50?.slice(2)).toEqual(["+200.0% (no interval: one round)", "not resolved"]);
    expect(text).toMatch(
      /p50\s{2,}120µs → 360µs\s{2,}\+200\.0% \(no interval: one round\)\s{2,}not resolved/,
    );
  });

  test("a single rate draws no curves", () => {
    expect(text).not.toContain("Latency against throughput");
    expect(html).not.toContain('<section id="curves">');
  });
});

describe("engine result → lab measurement", () => {
  test("keeps corrected and uncorrected percentiles, sums errors, flags a missed rate", () => {
    const summary = (p50: number) => ({
      count: 500,
      min: p50 - 10,
      mean: p50,
      stdev: 1,
      p50,
      p75: p50,
      p90: p50 + 1,
      p99: p50 + 2,
      p999: p50 + 3,
      p9999: p50 + 4,
      max: p50 + 4,
    });
    const slot = { scenario: "sidecar", rate: 1000, round: 2 } as const;
    const out = measurementFromLoadResult(slot, {
      protocol: "http1",
      requests: 500,
      achievedQps: 900,
      fellBehind: true,
      errors: { timeout: 2, ECONNRESET: 1 },
      corrected: summary(300),
      uncorrected: summary(200),
    });
    expect(out).toMatchObject({
      scenario: "sidecar",
      round: 2,
      errors: 3,
      rateReached: false,
      achievedQps: 900,
    });
    expect(out.latencyUs.p99).toBe(302);
    expect(out.uncorrectedLatencyUs.p50).toBe(200);
  });
});

describe("helpers", () => {
  test("the representative round is the one nearest the median p50", () => {
    const rounds = [100, 180, 120].map((p50, i) => {
      const m = measurementOf("direct", 1000, i + 1, 1);
      return { ...m, latencyUs: { ...m.latencyUs, p50 } };
    });
    expect(representativeRound(rounds)?.round).toBe(3);
  });

  test("pod commands join the cgroup, enter the namespace, pin and drop privileges in that order", () => {
    const { command, args } = podCommand(
      { netns: "mcl-1a2b-sidecar-client", cgroup: "/cg/mcl-lab-1a2b/sidecar/client" },
      ["haproxy", "-db"],
      { asSidecar: true, cpus: "0" },
    );
    expect(command).toBe("sh");
    expect(args.slice(2)).toEqual([
      "sh",
      "/cg/mcl-lab-1a2b/sidecar/client",
      "mcl-1a2b-sidecar-client",
      "taskset",
      "-c",
      "0",
      "setpriv",
      "--reuid=1337",
      "--regid=1337",
      "--clear-groups",
      "--",
      "haproxy",
      "-db",
    ]);
    expect(args[1]).toMatch(/cgroup\.procs.*exec nsenter "--net=\/run\/netns\/\$ns"/);
  });

  test("the gRPC echo request is protobuf field 1 with a varint length", () => {
    expect([...encodeEchoMessage(Buffer.from("hi"))]).toEqual([0x0a, 2, 0x68, 0x69]);
    const big = encodeEchoMessage(Buffer.alloc(1024));
    expect([...big.subarray(0, 3)]).toEqual([0x0a, 0x80, 0x08]);
    expect(big.length).toBe(1027);
  });
});
