import { describe, expect, test } from "vitest";
import { PARITY_DEVIATIONS } from "./deviations.js";
import {
  buildReport,
  PARITY_BLOCK_BEGIN,
  PARITY_BLOCK_END,
  renderParityText,
  renderSupportTable,
  replaceGeneratedBlock,
} from "./report.js";
import type { ParityCaseResult, ParityVerdict } from "./types.js";

function result(
  name: string,
  verdict: ParityVerdict,
  features: string[],
  classes: string[] = [],
  grpc?: "equal" | "different",
): ParityCaseResult {
  const defects = verdict === "different" ? Math.max(1, classes.length) : 0;
  const deliberate = verdict === "deliberate" ? 1 : 0;
  return {
    name,
    origin: "feature",
    features,
    verdict,
    durationMs: 5,
    ...(verdict === "error" ? { error: "istiod refused the config" } : {}),
    diffs:
      verdict === "different"
        ? [
            {
              proxy: "app-sidecar",
              type: "routes",
              resource: "80",
              path: "virtual_hosts[a].routes[0].route.retry_policy.num_retries.value",
              istiod: 2,
              meshctl: 3,
            },
          ]
        : verdict === "deliberate"
          ? [
              {
                proxy: "app-sidecar",
                type: "listeners",
                resource: "0.0.0.0_80",
                path: "stat_prefix",
                istiod: "a",
                meshctl: "b",
                deviation: "stats-only",
              },
            ]
          : [],
    ...(verdict === "error"
      ? {}
      : {
          proxyVerdicts: [
            { proxy: "app-sidecar", kind: "envoy", verdict, defects },
            ...(grpc ? [{ proxy: "app-grpc", kind: "grpc" as const, verdict: grpc, defects: 0 }] : []),
          ],
          diffCounts: {
            total: defects + deliberate,
            defects,
            deliberate,
            byDeviation: deliberate ? { "stats-only": 1 } : {},
            defectsByType: { listeners: 0, routes: defects, clusters: 0, endpoints: 0 },
            defectClasses: Object.fromEntries(classes.map((c) => [c, 1])),
          },
        }),
  };
}

const results = [
  result("retries", "different", ["VirtualService.http.retries"], ["routes a", "routes b"], "equal"),
  result("retries-default", "equal", ["VirtualService.http.retries"]),
  result("timeout", "equal", ["VirtualService.http.timeout"]),
  result("stats", "deliberate", ["Service.http"]),
  result("broken", "error", ["ServiceEntry"]),
  result("other-retries", "different", [], ["routes a"]),
];

describe("buildReport", () => {
  test("summarises verdicts and ranks defect classes by the cases they touch", () => {
    const report = buildReport(results, "1.30.3");
    expect(report.summary).toEqual({
      total: 6,
      equal: 2,
      deliberate: 1,
      different: 2,
      error: 1,
      equalPercent: 33.3,
      semanticPercent: 50,
    });
    expect(report.defectClasses).toEqual([
      { class: "routes a", cases: 2, diffs: 2 },
      { class: "routes b", cases: 1, diffs: 1 },
    ]);
  });
});

describe("renderParityText", () => {
  test("a row per case with its verdict, diff count and first diff", () => {
    const text = renderParityText(buildReport(results, "1.30.3"));
    expect(text).toContain(
      "3/6 cases semantically equal (50.0 %): 2 equal (33.3 %), 1 equal apart from documented deviations (deliberately different); 2 different, 1 not run",
    );
    expect(text).toMatch(/retries\s+feature\s+different\s+2\n/);
    expect(text).toContain(
      "routes 80 virtual_hosts[a].routes[0].route.retry_policy.num_retries.value: istiod 2, meshctl 3",
    );
    expect(text).toMatch(/stats\s+feature\s+deliberate\s+1 \(1 deliberate\)/);
    expect(text).toContain("[stats-only]");
    expect(text).toContain("error: istiod refused the config");
  });
});

describe("renderSupportTable", () => {
  test("one row per feature tag from the verdicts, and every deviation with its reason", () => {
    const md = renderSupportTable(buildReport(results, "1.30.3"));
    expect(md).toContain("| `VirtualService.http.retries` | 2 | 1 | 0 | 1 | 0 | 1/2 | 1/1 | differs |");
    expect(md).toContain("| `VirtualService.http.timeout` | 1 | 1 | 0 | 0 | 0 | 1/1 | - | same |");
    expect(md).toContain("| `Service.http` | 1 | 0 | 1 | 0 | 0 | 1/1 | - | same (documented deviations) |");
    expect(md).toContain("| `ServiceEntry` | 1 | 0 | 0 | 0 | 1 | - | - | not run |");
    expect(md).toContain("| `(untagged)` | 1 | 0 | 0 | 1 | 0 | 0/1 | - | differs |");
    for (const d of PARITY_DEVIATIONS) expect(md).toContain(`| \`${d.id}\` |`);
    expect(md).toMatch(/\| `stats-only` \|.*\| 1 \|\n/);
    // Deterministic: the same results render the same text.
    expect(renderSupportTable(buildReport(results, "1.30.3"))).toBe(md);
  });
});

describe("replaceGeneratedBlock", () => {
  const doc = `# xDS\n\nintro\n\n${PARITY_BLOCK_BEGIN}\nold table\n${PARITY_BLOCK_END}\n\nafter\n`;

  test("replaces only the text between the markers, keeping them", () => {
    const r = replaceGeneratedBlock(doc, "new table");
    expect(r).toEqual({
      ok: true,
      markdown: `# xDS\n\nintro\n\n${PARITY_BLOCK_BEGIN}\nnew table\n${PARITY_BLOCK_END}\n\nafter\n`,
    });
    // Replacing again with the same block changes nothing.
    if (r.ok) expect(replaceGeneratedBlock(r.markdown, "new table")).toEqual(r);
  });

  test("reports missing, repeated and swapped markers instead of guessing", () => {
    expect(replaceGeneratedBlock("# xDS\n", "t")).toMatchObject({
      ok: false,
      problem: expect.stringContaining("begin"),
    });
    expect(replaceGeneratedBlock(`${PARITY_BLOCK_BEGIN}\n`, "t")).toMatchObject({
      ok: false,
      problem: expect.stringContaining("end"),
    });
    expect(replaceGeneratedBlock(`${PARITY_BLOCK_END}\n${PARITY_BLOCK_BEGIN}\n`, "t")).toMatchObject({
      ok: false,
    });
    expect(replaceGeneratedBlock(`${doc}${PARITY_BLOCK_BEGIN}`, "t")).toMatchObject({ ok: false });
  });
});
