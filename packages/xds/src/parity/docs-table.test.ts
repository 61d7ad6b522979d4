import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { PARITY_BLOCK_BEGIN, PARITY_BLOCK_END, renderSupportTable } from "./report.js";
import { PARITY_RESULTS_FILE } from "./results-file.js";
import type { ParityReport } from "./types.js";

const pkg = new URL("../../", import.meta.url);

describe("docs/xds.md's support table", () => {
  test("is the one the harness generates from the committed results (npm run parity -- --write-docs)", () => {
    const results = JSON.parse(readFileSync(new URL(PARITY_RESULTS_FILE, pkg), "utf8")) as ParityReport;
    const docs = readFileSync(new URL("../../docs/xds.md", pkg), "utf8");
    const begin = docs.indexOf(PARITY_BLOCK_BEGIN);
    const end = docs.indexOf(PARITY_BLOCK_END);
    expect(begin).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(begin);
    expect(docs.slice(begin + PARITY_BLOCK_BEGIN.length + 1, end)).toBe(renderSupportTable(results));
    expect(results.cases.length).toBe(results.summary.total);
  });
});
