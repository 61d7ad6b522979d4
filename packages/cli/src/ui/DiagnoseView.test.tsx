import { render } from "ink-testing-library";
import { expect, test } from "vitest";
import type { DiagnoseReport } from "../services/diagnose/index.js";
import { DiagnoseView } from "./DiagnoseView.js";

const report: DiagnoseReport = {
  schemaVersion: 1,
  host: { hostname: "node-1", kernel: "6.8.0", arch: "x64", cpus: 8, node: "v22.0.0" },
  summary: { ok: 1, warn: 1, fail: 1 },
  checks: [
    {
      id: "kernel.version",
      group: "kernel",
      status: "ok",
      summary: "Linux 6.8.0 is new enough",
      evidence: ["uname -r: 6.8.0"],
      recommendation: null,
    },
    {
      id: "kernel.btf",
      group: "kernel",
      status: "warn",
      summary: "No kernel BTF",
      evidence: ["/sys/kernel/btf/vmlinux is missing"],
      recommendation: "Use a BTF kernel",
    },
    {
      id: "privileges.bpf-load",
      group: "privileges",
      status: "fail",
      summary: "May not load BPF",
      evidence: ["euid=1000"],
      recommendation: "Run as root",
    },
  ],
};

test("groups checks under headings, marks statuses, shows evidence only where it matters", () => {
  const { lastFrame } = render(<DiagnoseView report={report} />);
  const frame = lastFrame() ?? "";
  const lines = frame.split("\n");
  const kernel = lines.findIndex((l) => l.trim() === "kernel");
  const privileges = lines.findIndex((l) => l.trim() === "privileges");
  expect(kernel).toBeGreaterThan(0);
  expect(privileges).toBeGreaterThan(kernel);
  expect(frame).toContain("✔ ok   Linux 6.8.0 is new enough");
  expect(frame).toContain("▲ warn No kernel BTF");
  expect(frame).toContain("✘ fail May not load BPF");
  expect(frame).not.toContain("uname -r: 6.8.0"); // ok checks stay short
  expect(frame).toContain("/sys/kernel/btf/vmlinux is missing");
  expect(frame).toContain("→ Run as root");
  expect(frame).toContain("1 ok · 1 warn · 1 fail");
});

test("verbose shows evidence of ok checks too", () => {
  const { lastFrame } = render(<DiagnoseView report={report} verbose />);
  expect(lastFrame()).toContain("uname -r: 6.8.0");
});
