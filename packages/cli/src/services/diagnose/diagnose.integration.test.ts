import { describe, expect, test } from "vitest";
import { collectHostFacts } from "./host-facts.js";
import { runDiagnose } from "./index.js";

// Runs on the real machine. CI runs as root on a kernel with BPF, so this asserts what the
// machine really has, not a fixture.
const isRoot = process.geteuid?.() === 0;

describe("diagnose on this machine", () => {
  test.runIf(isRoot)("reports that BPF sockmap acceleration is available (root, modern kernel)", async () => {
    const facts = await collectHostFacts();
    expect("error" in facts.bpf ? facts.bpf.error : "probed").toBe("probed");
    const report = await runDiagnose();
    const sockmap = report.checks.find((c) => c.id === "kernel.bpf-sockmap");
    expect(sockmap?.status).toBe("ok");
    expect(sockmap?.evidence.join(" ")).toContain("bpf_msg_redirect_hash=true");
    expect(report.checks.find((c) => c.id === "privileges.bpf-load")?.status).toBe("ok");
    expect(report.checks.find((c) => c.id === "cgroup.v2")?.status).not.toBe("fail");
    expect(report.summary.ok + report.summary.warn + report.summary.fail).toBe(report.checks.length);
  });

  test("a group that throws becomes a failing check and the others still report", async () => {
    const report = await runDiagnose({
      groups: [
        { name: "broken", run: async () => Promise.reject(new Error("boom")) },
        {
          name: "fine",
          run: async () => [
            {
              id: "fine.one",
              group: "fine",
              status: "ok",
              summary: "fine",
              evidence: [],
              recommendation: null,
            },
          ],
        },
      ],
    });
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ["broken.error", "fail"],
      ["fine.one", "ok"],
    ]);
    expect(report.summary).toEqual({ ok: 1, warn: 0, fail: 1 });
  });
});
