import { MeshctlError, notAvailableYet } from "@meshctl/core";
import { expect, test } from "vitest";
import { createErrorReport } from "./errors.js";

test("a MeshctlError prints code, message and suggestions without a stack", () => {
  const error = new MeshctlError("EBPF_PERMISSION_DENIED", "Loading BPF needs root.", {
    kind: "environment",
    suggestions: ["Run with sudo."],
  });
  const report = createErrorReport(error, { commandId: "enable:ebpf", verbose: false });
  expect(report.exitCode).toBe(3);
  expect(report.text).toBe("Error [EBPF_PERMISSION_DENIED]: Loading BPF needs root.\n  → Run with sudo.");
  expect(report.text).not.toMatch(/at .*\.js/);
  expect(report.json.code).toBe("EBPF_PERMISSION_DENIED");
});

test("NOT_AVAILABLE_YET exits 2", () => {
  const report = createErrorReport(notAvailableYet("meshctl install", "later"), {
    commandId: "install",
    verbose: false,
  });
  expect(report.exitCode).toBe(2);
  expect(report.json.code).toBe("NOT_AVAILABLE_YET");
});

test("anything else is a bug: stack and versions, exit 1", () => {
  const report = createErrorReport(new TypeError("x is undefined"), { commandId: "status", verbose: false });
  expect(report.exitCode).toBe(1);
  expect(report.text).toMatch(/Internal error/);
  expect(report.text).toMatch(/TypeError: x is undefined/);
  expect(report.text).toContain(process.version);
});
