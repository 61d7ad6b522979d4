import { parseCgroup2Mount } from "@meshctl/pod";
import { describe, expect, test } from "vitest";
import { parseLabRates, parseLabScenarios, resolveLabOptions } from "./options.js";
import { planLab } from "./plan.js";

describe("planLab", () => {
  const plan = planLab({
    id: "0a1b",
    scenarios: ["direct", "sidecar", "sidecar-ebpf"],
    cgroupRoot: "/sys/fs/cgroup/unified",
  });

  test("names everything with the mcl- prefix and keeps interface names within IFNAMSIZ", () => {
    for (const pod of plan.pods) {
      expect(pod.netns.startsWith("mcl-")).toBe(true);
      expect(pod.bridgePort.startsWith("mcl")).toBe(true);
      expect(pod.bridgePort.length).toBeLessThanOrEqual(15);
      expect(pod.cgroup.startsWith("/sys/fs/cgroup/unified/mcl-lab-0a1b/")).toBe(true);
    }
    expect(plan.bridge.length).toBeLessThanOrEqual(15);
    expect(plan.bpffsPinDir).toBe("/sys/fs/bpf/mcl-lab-0a1b");
    expect(new Set(plan.pods.map((p) => p.bridgePort)).size).toBe(plan.pods.length);
  });

  test("gives every pod a distinct address in one private /24 of 10.213/16", () => {
    const ips = plan.pods.map((p) => p.ip);
    expect(new Set(ips).size).toBe(ips.length);
    const prefix = plan.subnet.replace(/0\/24$/, "");
    expect(plan.subnet).toMatch(/^10\.213\.\d+\.0\/24$/);
    for (const ip of ips) expect(ip.startsWith(prefix)).toBe(true);
  });

  test("only sidecar scenarios get sidecars; only servers serve the app port inbound", () => {
    expect(plan.pods.filter((p) => p.sidecar).map((p) => p.netns)).toEqual([
      "mcl-0a1b-sidecar-client",
      "mcl-0a1b-sidecar-server",
      "mcl-0a1b-sidecar-ebpf-client",
      "mcl-0a1b-sidecar-ebpf-server",
    ]);
    expect(plan.pods.find((p) => p.netns === "mcl-0a1b-sidecar-client")!.sidecar!.inbound).toEqual([]);
    expect(plan.pods.find((p) => p.netns === "mcl-0a1b-sidecar-server")!.sidecar!.inbound).toEqual([
      { port: 8080, protocol: "http" },
    ]);
    expect(plan.scenarioCgroups["sidecar-ebpf"]).toBe("/sys/fs/cgroup/unified/mcl-lab-0a1b/sidecar-ebpf");
  });

  test("rejects ids that would break the naming scheme", () => {
    expect(() => planLab({ id: "../x", scenarios: ["direct"], cgroupRoot: "/c" })).toThrow(/4 hex digits/);
  });
});

describe("cgroup2 mount detection", () => {
  test("finds the hybrid unified mount and prefers /sys/fs/cgroup when it is cgroup2", () => {
    const hybrid =
      "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
    expect(parseCgroup2Mount(hybrid)).toBe("/sys/fs/cgroup/unified");
    expect(parseCgroup2Mount("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\ncgroup2 /x/y cgroup2 rw 0 0")).toBe(
      "/sys/fs/cgroup",
    );
    expect(parseCgroup2Mount("proc /proc proc rw 0 0")).toBeUndefined();
  });
});

describe("lab options", () => {
  test("defaults follow Istio's method scaled down: 1 KiB, fixed 1000 rps, 4 connections, 3 rounds", () => {
    expect(resolveLabOptions()).toMatchObject({
      payloadBytes: 1024,
      rates: [1000],
      connections: 4,
      rounds: 3,
      sidecar: "envoy",
    });
  });
  test("rejects unknown scenarios and non-positive numbers with usage errors", () => {
    expect(parseLabScenarios("direct, sidecar-ebpf")).toEqual(["direct", "sidecar-ebpf"]);
    expect(() => parseLabScenarios("direct,bogus")).toThrow(/bogus/);
    expect(() => resolveLabOptions({ rounds: 0 })).toThrow(/rounds/);
    expect(() => resolveLabOptions({ rates: [-5] })).toThrow(/qps/);
    expect(() => resolveLabOptions({ rates: [] })).toThrow(/rate/);
  });

  test("rate lists: numbers and max, sorted, duplicates dropped; junk is a usage error", () => {
    expect(parseLabRates("5000, 500,max,500")).toEqual([500, 5000, "max"]);
    expect(parseLabRates("1000")).toEqual([1000]);
    for (const bad of ["", "fast", "-1", "0", "1e3", "500,,x"])
      expect(() => parseLabRates(bad), bad).toThrow(/rate/);
  });
});
