import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, test } from "vitest";
import { runMeshctl } from "./helpers.js";

const ajv = new Ajv({ allErrors: true, strict: false });
const schema = (name: string) =>
  JSON.parse(readFileSync(new URL(`../schemas/${name}.schema.json`, import.meta.url), "utf8")) as object;

describe("the built meshctl binary", () => {
  test("--help lists the commands and topics", async () => {
    const { code, stdout } = await runMeshctl(["--help"]);
    expect(code).toBe(0);
    for (const word of [
      "diagnose",
      "enable",
      "disable",
      "status",
      "install",
      "bench",
      "xds",
      "ebpf",
      "vpp",
      "tstats",
    ]) {
      expect(stdout).toContain(word);
    }
  });

  test("diagnose --json matches its published schema", async () => {
    const { code, stdout } = await runMeshctl(["diagnose", "--json"]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as unknown;
    const validate = ajv.compile(schema("diagnose"));
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
  });

  test("piped output is plain text without colour codes", async () => {
    const { code, stdout } = await runMeshctl(["diagnose"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^meshctl diagnose: /);
    expect(stdout).toMatch(/\d+ ok, \d+ warn, \d+ fail/);
    expect(stdout).not.toContain("\u001b[");
  });

  test("errors: a clear paragraph on stderr, the error JSON with --json, stable exit codes", async () => {
    const plain = await runMeshctl(["install", "--kubeconfig", "/nonexistent/kubeconfig"]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain("Error [KUBE_CONFIG_INVALID]");
    expect(plain.stderr).not.toMatch(/\n\s+at /); // no stack trace for a user-facing error
    const json = await runMeshctl(["install", "--kubeconfig", "/nonexistent/kubeconfig", "--json"]);
    expect(json.code).toBe(2);
    const validate = ajv.compile(schema("error"));
    expect(validate(JSON.parse(json.stdout))).toBe(true);
  });

  test("a user mistake (unknown flag) is a usage error, exit 2, no stack", async () => {
    const { code, stderr } = await runMeshctl(["diagnose", "--no-such-flag"]);
    expect(code).toBe(2);
    expect(stderr).toContain("Error [USAGE]");
    expect(stderr).toContain("meshctl diagnose --help");
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  test("diagnose --strict exits 5 only when a check fails", async () => {
    const { code, stdout } = await runMeshctl(["diagnose", "--json", "--strict"]);
    const report = JSON.parse(stdout) as { summary: { fail: number } };
    expect(code).toBe(report.summary.fail > 0 ? 5 : 0);
  });
});
