import { ENVOY_PINNED_VERSION } from "@meshctl/pod";
import { describe, expect, test } from "vitest";
import { evaluateHostChecks, parseKernelVersion } from "./host-checks.js";
import { hostFactsFixture } from "./host-facts.test-data.js";
import type { Check } from "./types.js";

function byId(checks: readonly Check[], id: string): Check {
  const found = checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${checks.map((c) => c.id).join(", ")}`);
  return found;
}

describe("evaluateHostChecks", () => {
  test("a healthy node passes every accelerator check", () => {
    const checks = evaluateHostChecks(hostFactsFixture());
    expect(checks.filter((c) => c.status === "fail")).toEqual([]);
    expect(byId(checks, "kernel.bpf-sockmap").status).toBe("ok");
    expect(byId(checks, "privileges.bpf-load").status).toBe("ok");
    // every check has the public shape
    for (const c of checks) {
      expect(c.id).toMatch(/^[a-z0-9-]+\.[a-z0-9.-]+$/);
      expect(c.summary.length).toBeGreaterThan(0);
      if (c.status !== "ok") expect(c.recommendation).toBeTruthy();
    }
  });

  test("an old kernel fails with the version it needs", () => {
    const checks = evaluateHostChecks(
      hostFactsFixture({
        kernelRelease: "4.14.0-1-amd64",
        bpf: {
          sockOpsProg: true,
          skMsgProg: false,
          sockhashMap: false,
          msgRedirectHash: false,
          unprivilegedBpfDisabled: 0,
          jitEnabled: 1,
        },
      }),
    );
    const version = byId(checks, "kernel.version");
    expect(version.status).toBe("fail");
    expect(version.summary).toContain("4.18");
    const sockmap = byId(checks, "kernel.bpf-sockmap");
    expect(sockmap.status).toBe("fail");
    expect(sockmap.summary).toContain("sk_msg program type");
    expect(sockmap.summary).toContain("sockhash map type");
    expect(sockmap.recommendation).toMatch(/kernel/);
  });

  test("no root and no BPF capabilities: a clear failure naming what is needed", () => {
    const check = byId(
      evaluateHostChecks(hostFactsFixture({ euid: 1000, capEff: 0n })),
      "privileges.bpf-load",
    );
    expect(check.status).toBe("fail");
    expect(check.summary).toMatch(/root, or CAP_BPF and CAP_NET_ADMIN/);
    expect(check.recommendation).toMatch(/sudo/);
  });

  test("CAP_BPF + CAP_NET_ADMIN without root is enough", () => {
    const caps = (1n << 39n) | (1n << 12n);
    expect(
      byId(evaluateHostChecks(hostFactsFixture({ euid: 1000, capEff: caps })), "privileges.bpf-load").status,
    ).toBe("ok");
  });

  test("cgroup v2: mounted, mountable, or missing", () => {
    expect(byId(evaluateHostChecks(hostFactsFixture()), "cgroup.v2").status).toBe("ok");
    const mountable = byId(evaluateHostChecks(hostFactsFixture({ cgroup2Mounts: [] })), "cgroup.v2");
    expect(mountable.status).toBe("warn");
    expect(mountable.recommendation).toMatch(/mount -t cgroup2/);
    const missing = byId(
      evaluateHostChecks(hostFactsFixture({ cgroup2Mounts: [], filesystems: ["proc", "cgroup", "bpf"] })),
      "cgroup.v2",
    );
    expect(missing.status).toBe("fail");
    expect(missing.summary).toMatch(/no cgroup v2/);
  });

  test("without bpftool the BPF check warns instead of guessing silently", () => {
    const check = byId(
      evaluateHostChecks(hostFactsFixture({ bpf: { error: "bpftool is not installed" } })),
      "kernel.bpf-sockmap",
    );
    expect(check.status).toBe("warn");
    expect(check.recommendation).toMatch(/apt-get install bpftool/);
  });

  test("no BTF, no bpffs support, no iptables", () => {
    const checks = evaluateHostChecks(
      hostFactsFixture({
        btfVmlinux: false,
        bpffsMounts: [],
        filesystems: ["proc", "cgroup2"],
        iptables: { path: null, version: null, backend: null },
        nft: { path: null, version: null },
      }),
    );
    expect(byId(checks, "kernel.btf").status).toBe("warn");
    expect(byId(checks, "cgroup.bpffs").status).toBe("fail");
    expect(byId(checks, "netfilter.tools").status).toBe("fail");
  });

  test("istio-init chains are listed when present", () => {
    const check = byId(
      evaluateHostChecks(
        hostFactsFixture({ captureChains: ["ISTIO_INBOUND", "ISTIO_OUTPUT", "ISTIO_REDIRECT"] }),
      ),
      "netfilter.capture",
    );
    expect(check.summary).toContain("ISTIO_OUTPUT");
  });

  test("envoy: missing or another release warns with the install command; the pinned release is ok", () => {
    const missing = byId(evaluateHostChecks(hostFactsFixture()), "dataplane.envoy");
    expect(missing.status).toBe("warn");
    expect(missing.summary).toMatch(/default sidecar/);
    expect(missing.recommendation).toMatch(/install-envoy\.sh/);
    const withEnvoy = (version: string | null) =>
      byId(
        evaluateHostChecks(
          hostFactsFixture({
            programs: { ...hostFactsFixture().programs, envoy: { path: "/usr/bin/envoy", version } },
          }),
        ),
        "dataplane.envoy",
      );
    expect(withEnvoy(ENVOY_PINNED_VERSION)).toMatchObject({ status: "ok" });
    expect(withEnvoy("1.31.2")).toMatchObject({ status: "warn" });
    expect(withEnvoy("1.31.2").summary).toContain("1.31.2");
    expect(withEnvoy("1.31.2").recommendation).toMatch(/install-envoy\.sh/);
    expect(withEnvoy(null).summary).toMatch(/may not be Envoy/);
  });

  test("a 2-CPU busy VM with a powersave governor warns the benchmark user", () => {
    const checks = evaluateHostChecks(
      hostFactsFixture({
        cpu: { count: 2, model: "x", governors: ["powersave"], smtActive: null, isolated: null },
        loadAverage: [3, 2, 1],
        virtualization: "QEMU",
      }),
    );
    expect(byId(checks, "bench.cpus").status).toBe("warn");
    expect(byId(checks, "bench.cpu-governor").recommendation).toMatch(/performance/);
    expect(byId(checks, "bench.environment").status).toBe("warn");
  });
});

test("parseKernelVersion", () => {
  expect(parseKernelVersion("6.18.44-fc-v782")).toEqual([6, 18, 44]);
  expect(parseKernelVersion("5.4")).toEqual([5, 4, 0]);
  expect(parseKernelVersion("garbage")).toBeNull();
});
