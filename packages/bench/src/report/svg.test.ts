import { describe, expect, test } from "vitest";
import { formatUs } from "./format.js";
import { intervalChart, lineChart, niceTicks, scatterChart, stackedBarChart } from "./svg.js";

/** Every opened element is closed (self-closing tags count as both), no attribute given twice. */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const [tag, close, name, self] of svg.matchAll(/<(\/?)([a-z]+)\b[^>]*?(\/?)>/g)) {
    const attrs = [...tag.matchAll(/\s([a-z-]+)="/g)].map((m) => m[1]);
    if (new Set(attrs).size !== attrs.length) return false;
    if (self) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name!);
  }
  return stack.length === 0;
}

describe("niceTicks", () => {
  test("steps of 1, 2 or 5 × 10^k covering the range", () => {
    expect(niceTicks(0, 870)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-0.12, 0.3)).toEqual([-0.2, -0.1, 0, 0.1, 0.2, 0.3]);
  });
});

describe("lineChart", () => {
  const svg = lineChart(
    [
      {
        label: "sidecar",
        points: [
          [500, 300],
          [2000, 420],
          [4800, 2600],
        ],
      },
      {
        label: "sidecar",
        points: [
          [500, 900],
          [2000, 1300],
          [4800, 21000],
        ],
        dashed: true,
        color: 0,
      },
      {
        label: "direct <b>",
        points: [
          [500, 100],
          [2000, 120],
        ],
        color: 1,
      },
    ],
    {
      title: "Latency vs throughput",
      x: { label: "achieved req/s" },
      y: { label: "latency", scale: "log", format: formatUs },
      legendNote: "solid: p50 · dashed: p99",
    },
  );

  test("draws one polyline per series on decade ticks, escaping labels", () => {
    expect(balanced(svg)).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(3);
    expect(svg.match(/stroke-dasharray="5 4" points=/g)).toHaveLength(1);
    for (const tick of ["100µs", "1ms", "10ms", "100ms"]) expect(svg).toContain(`>${tick}</text>`);
    expect(svg).toContain("direct &lt;b&gt;");
    expect(svg).not.toContain("<b>");
  });

  test("lists a series sharing label and colour with another once in the legend", () => {
    const legend = svg.slice(svg.indexOf('<g class="legend">'), svg.indexOf("</g>"));
    expect(legend.match(/>sidecar</g)).toHaveLength(1);
    expect(legend).toContain("solid: p50 · dashed: p99");
  });
});

describe("scatterChart", () => {
  test("draws each series as one path with a dot per point", () => {
    const points = Array.from(
      { length: 2000 },
      (_, i) => [i / 100, 40 + (i % 500 === 0 ? 5000 : i % 7)] as const,
    );
    const svg = scatterChart(
      [
        { label: "client sidecar", points },
        { label: "server sidecar", points: points.map(([t, v]) => [t, v / 2] as const) },
      ],
      { title: "Sidecar processing", x: { label: "s" }, y: { label: "µs", scale: "log" } },
    );
    expect(balanced(svg)).toBe(true);
    const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(2);
    expect(paths[0]!.match(/h0/g)).toHaveLength(2000);
    expect(svg).toContain('stroke-linecap="round"');
    expect(svg.length).toBeLessThan(80_000);
  });
});

describe("stackedBarChart", () => {
  test("stacks segments in order, labels the total and skips empty parts", () => {
    const svg = stackedBarChart(
      [
        { label: "sidecar", values: [40, 120, 35, 110, 60] },
        { label: "sidecar-ebpf", values: [20, 115, 0, 108, 30] },
      ],
      {
        title: "Where p50 goes",
        axisLabel: "µs",
        format: formatUs,
        segments: ["a ⇄ b", "b", "b ⇄ c", "c", "c ⇄ d"].map((label) => ({ label })),
      },
    );
    expect(balanced(svg)).toBe(true);
    const rects = [...svg.matchAll(/<rect x="([\d.]+)"[^>]*><title>([^<]*)<\/title>/g)];
    expect(rects.map((m) => m[2])).toEqual([
      "sidecar · a ⇄ b: 40µs",
      "sidecar · b: 120µs",
      "sidecar · b ⇄ c: 35µs",
      "sidecar · c: 110µs",
      "sidecar · c ⇄ d: 60µs",
      "sidecar-ebpf · a ⇄ b: 20µs",
      "sidecar-ebpf · b: 115µs",
      "sidecar-ebpf · c: 108µs",
      "sidecar-ebpf · c ⇄ d: 30µs",
    ]);
    const xs = rects.slice(0, 5).map((m) => Number(m[1]));
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    expect(svg).toContain('font-weight="600">365µs</text>');
    expect(svg).toContain('font-weight="600">273µs</text>');

    const given = stackedBarChart([{ label: "a", values: [1, 2] }], {
      title: "t",
      axisLabel: "x",
      segments: [{ label: "u" }, { label: "s", color: 0, opacity: 0.45 }],
      totals: ["total 3.1"],
    });
    expect(given).toContain(">total 3.1</text>");
    expect(given).toContain('fill-opacity="0.45"');
    const none = stackedBarChart([{ label: "a", values: [1, 2] }], {
      title: "t",
      axisLabel: "x",
      segments: [{ label: "u" }, { label: "s" }],
      totals: false,
    });
    expect(none).not.toContain('font-weight="600"');
  });
});

describe("intervalChart", () => {
  test("draws a zero line, whiskers only where there is an interval, and tones", () => {
    const svg = intervalChart(
      [
        { label: "p50", estimate: -0.084, low: -0.11, high: -0.057, tone: "good" },
        { label: "p99", estimate: 0.031, low: -0.012, high: 0.076 },
        { label: "CPU (1 round)", estimate: 0.2 },
      ],
      { title: "Paired differences", axisLabel: "change", format: (v) => `${Math.round(v * 100)}%` },
    );
    expect(balanced(svg)).toBe(true);
    expect(svg.match(/<circle/g)).toHaveLength(3);
    // Two whiskered rows × (line + two caps).
    expect(svg.match(/stroke-width="2"\/>/g)).toHaveLength(6);
    expect(svg).toContain('fill="#15803d"');
    expect(svg).toContain(">0%</text>");
    expect(svg).toContain("p99: 3% [-1%, 8%]");
  });

  test("a ratio scale puts halving and doubling equally far from zero and clips wild intervals with arrows", () => {
    const pct = (v: number) => `${Math.round(v * 100)}%`;
    const svg = intervalChart(
      [
        { label: "narrow", estimate: 0.2, low: -0.5, high: 1 },
        { label: "wild", estimate: 0.3, low: -0.999, high: 5000 },
      ],
      { title: "t", axisLabel: "change", scale: "ratio", format: pct },
    );
    expect(balanced(svg)).toBe(true);
    const tickX = (label: string) =>
      Number(new RegExp(`<text x="([\\d.]+)"[^>]*>${label}</text>`).exec(svg)?.[1]);
    expect(tickX("0%") - tickX("-50%")).toBeCloseTo(tickX("100%") - tickX("0%"), 0);
    for (const label of ["-90%", "900%"]) expect(svg).toContain(`>${label}</text>`);
    expect(svg).not.toContain(">1900%</text>");
    // The wild row's ends lie beyond the axis: two arrows instead of caps.
    expect(svg.match(/<path d="M[^"]*z"/g)).toHaveLength(2);
    expect(svg).toContain("wild: 30% [-100%, 500000%]");
  });
});
