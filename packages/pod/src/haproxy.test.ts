import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, runCommand } from "@meshctl/core";
import { describe, expect, test } from "vitest";
import { renderHaproxyConfig, type SidecarModel } from "./haproxy.js";

function sidecar(overrides: Partial<SidecarModel> = {}): SidecarModel {
  return {
    pod: "sidecar-server",
    mode: "http",
    outboundPort: 15001,
    inboundPort: 15006,
    healthPort: 15021,
    inbound: [{ port: 8080, protocol: "http" }],
    threads: 1,
    ...overrides,
  };
}

const haproxy = await findProgram("haproxy");

describe("renderHaproxyConfig", () => {
  test("forwards outbound traffic to the original destination", () => {
    const cfg = renderHaproxyConfig(sidecar());
    expect(cfg).toMatch(
      /frontend outbound\n {2}bind 0\.0\.0\.0:15001\n {2}default_backend outbound_original_dst/,
    );
    expect(cfg).toContain("server original_dst 0.0.0.0:0");
  });

  test("hands inbound traffic to the app on loopback from 127.0.0.6, by original port", () => {
    const cfg = renderHaproxyConfig(
      sidecar({
        inbound: [
          { port: 8080, protocol: "http" },
          { port: 9090, protocol: "http" },
        ],
      }),
    );
    expect(cfg).toContain("bind 0.0.0.0:15006");
    expect(cfg).toContain("use_backend inbound_9090 if { dst_port 9090 }");
    expect(cfg).toContain("default_backend inbound_8080");
    expect(cfg).toMatch(/backend inbound_9090\n {2}server app 127\.0\.0\.1:9090 source 127\.0\.0\.6/);
  });

  test("a pod serving nothing rejects inbound connections", () => {
    expect(renderHaproxyConfig(sidecar({ inbound: [] }))).toContain("tcp-request connection reject");
  });

  test("L4 mode has no HTTP keep-alive options; L7 mode has them", () => {
    expect(renderHaproxyConfig(sidecar({ mode: "tcp" }))).not.toContain("http-keep-alive");
    expect(renderHaproxyConfig(sidecar({ mode: "tcp" }))).toContain("  mode tcp\n");
    expect(renderHaproxyConfig(sidecar())).toContain("option http-keep-alive");
  });

  test("never enables splicing, which cannot see sk_msg-redirected bytes", () => {
    for (const mode of ["http", "tcp"] as const)
      expect(renderHaproxyConfig(sidecar({ mode }))).not.toMatch(/^\s*option splice/m);
  });

  test.skipIf(!haproxy)("haproxy itself accepts every rendered variant (haproxy -c)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mcl-test-"));
    try {
      for (const model of [sidecar(), sidecar({ mode: "tcp", threads: 2 }), sidecar({ inbound: [] })]) {
        const file = join(dir, "haproxy.cfg");
        await writeFile(file, renderHaproxyConfig(model));
        const result = await runCommand("haproxy", ["-c", "-f", file], { reject: false });
        expect(result.exitCode, result.stderr).toBe(0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  if (!haproxy) console.log("skipped haproxy -c check: haproxy is not installed");
});
