import { describe, expect, test } from "vitest";
import { parseMeshFileFiltered, prefilterMeshYaml } from "./file-prefilter.js";
import { SUPPORTED_KINDS } from "./parse-documents.js";

const svc = (name: string, port = 7070) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  ports: [{name: grpc, port: ${port}}]\n`;
const configMap = (lines: number) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big, namespace: demo}\ndata:\n${Array.from({ length: lines }, (_, i) => `  k${i}: v${i}\n`).join("")}`;

describe("prefilterMeshYaml", () => {
  test("keeps the line count, so the other documents' line numbers stay right", () => {
    const text = `${configMap(5)}---\n${svc("a", 70000)}`;
    const out = prefilterMeshYaml("m.yaml", text, SUPPORTED_KINDS);
    expect(out.text.split("\n")).toHaveLength(text.split("\n").length);
    expect(out.skippedKinds).toBe(1);
    // The invalid port sits on line 15 of the original text (9 ConfigMap lines, `---`, 5 Service lines).
    const parsed = parseMeshFileFiltered("m.yaml", text);
    expect(parsed.diagnostics).toEqual([
      expect.objectContaining({
        severity: "warning",
        line: 2,
        path: "kind",
        reason: "unsupported kind ConfigMap (v1); skipped",
      }),
      expect.objectContaining({ severity: "error", line: 15, path: "spec.ports[0].port" }),
    ]);
  });

  test("skips Secret and Deployment documents with one warning each, quoted or with comments", () => {
    const text = [
      svc("a"),
      `"apiVersion": "v1"\n"kind": "Secret"\nmetadata: {name: s}\ndata: {k: dg==}\n`,
      `apiVersion: apps/v1\nkind: Deployment # rendered by Helm\nmetadata: {name: d}\nspec: {replicas: 1}\n`,
    ].join("---\n");
    const parsed = parseMeshFileFiltered("all.yaml", text);
    expect(parsed.valid).toBe(true);
    expect(parsed.items.map((i) => i.kind)).toEqual(["Service"]);
    expect(parsed.diagnostics.map((d) => [d.line, d.reason])).toEqual([
      [8, "unsupported kind Secret (v1); skipped"],
      [13, "unsupported kind Deployment (apps/v1); skipped"],
    ]);
  });

  test("a trailing `---`, comment-only documents and a `...` end marker are ignored, not errors", () => {
    for (const text of [
      `${svc("a")}---\n`,
      `${svc("a")}---\n# Source: chart/templates/empty.yaml\n`,
      `# Source: chart/templates/svc.yaml\n---\n${svc("a")}---\n# nothing here\n---\n\n`,
      `---\n${svc("a")}...\n---\n# end\n`,
    ]) {
      const parsed = parseMeshFileFiltered("helm.yaml", text);
      expect({ text, valid: parsed.valid, diagnostics: parsed.diagnostics }).toEqual({
        text,
        valid: true,
        diagnostics: [],
      });
      expect(parsed.items).toHaveLength(1);
    }
  });

  test("a document whose kind cannot be read textually is left to the parser", () => {
    const text = `{apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n---\n${svc("a")}`;
    const out = prefilterMeshYaml("f.yaml", text, SUPPORTED_KINDS);
    expect(out.text).toBe(text);
    const parsed = parseMeshFileFiltered("f.yaml", text);
    expect(parsed.diagnostics.map((d) => d.reason)).toEqual(["unsupported kind ConfigMap (v1); skipped"]);
  });

  test("a `kind:` inside a block scalar or nested mapping is not the document's kind", () => {
    const text = `apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: demo\n  annotations:\n    note: |\n      kind: ConfigMap\nspec:\n  ports: [{name: grpc, port: 7070}]\n`;
    expect(prefilterMeshYaml("f.yaml", text, SUPPORTED_KINDS).skippedKinds).toBe(0);
    expect(parseMeshFileFiltered("f.yaml", text).items).toHaveLength(1);
  });

  test("a large ConfigMap is dropped without being parsed", () => {
    const big = configMap(200_000); // ~3 MB
    const parsed = parseMeshFileFiltered("cm.yaml", `${big}---\n${svc("a")}`);
    expect(parsed.objects).toHaveLength(1);
    expect(parsed.items.map((i) => i.kind)).toEqual(["Service"]);
    expect(parsed.diagnostics[0]?.reason).toBe("unsupported kind ConfigMap (v1); skipped");
  });
});
