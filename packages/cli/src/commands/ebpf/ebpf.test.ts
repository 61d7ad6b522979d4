import { mkdir, readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { findProgram } from "@meshctl/core";
import { disableEbpfAcceleration, type EbpfStatus, findCgroup2Mount } from "@meshctl/ebpf";
import { settings } from "@oclif/core";
import { register } from "tsx/esm/api";
import { afterAll, describe, expect, test, vi } from "vitest";
import { CLI_ROOT } from "../../../test/helpers.js";
import { type EbpfFacts, evaluateEbpfChecks } from "../../services/diagnose/ebpf-checks.js";
import { ebpfFeatureStatus } from "../../services/ebpf-feature.js";
import DisableEbpf from "../disable/ebpf.js";
import EnableEbpf, { parsePortList } from "../enable/ebpf.js";
import EbpfStatusCommand from "./status.js";

const opts = { root: CLI_ROOT };
settings.enableAutoTranspile = false;
register();

const mount = await findCgroup2Mount();
const skipReason =
  process.getuid?.() !== 0
    ? "not root"
    : !mount
      ? "no cgroup2 mount"
      : !(await findProgram("bpftool"))
        ? "bpftool missing"
        : undefined;
if (skipReason) console.warn(`skipping meshctl enable/disable ebpf on the real kernel: ${skipReason}`);

describe.skipIf(skipReason)("meshctl enable / ebpf status / disable ebpf on the real kernel", () => {
  // A dedicated, empty test cgroup: never the cgroup v2 root.
  const cgroup = join(mount ?? "/nonexistent", `mce-cli-${process.pid}`);
  const pinDir = `/sys/fs/bpf/mce-test-cli-${process.pid}`;
  afterAll(async () => {
    vi.restoreAllMocks();
    try {
      await disableEbpfAcceleration({ pinDir, force: true, drainTimeoutMs: 0 });
    } finally {
      await rmdir(cgroup).catch(() => undefined);
    }
  });

  test("enable is idempotent, status reports it, disable leaves nothing", async () => {
    await mkdir(cgroup, { recursive: true });
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const enableArgs = [
      "--cgroup",
      cgroup,
      "--pin-dir",
      pinDir,
      "--ports",
      "15001,15006",
      "--exclude-ports",
      "5432",
      "--bulk-ttl",
      "120",
      "--sidecar-uid",
      "1337",
      "--json",
    ];
    const first = await EnableEbpf.run(enableArgs, opts);
    expect(first).toMatchObject({
      changed: true,
      cgroupPath: cgroup,
      config: {
        ports: [15001, 15006],
        excludePorts: [5432],
        maxStreamBytes: 262_144,
        bulkTtlSeconds: 120,
        sidecarUid: 1337,
      },
    });
    const second = await EnableEbpf.run(enableArgs, opts);
    expect(second.changed).toBe(false);

    const status = await EbpfStatusCommand.run(["--pin-dir", pinDir, "--json"], opts);
    expect(status.state).toBe("enabled");
    expect(status.attachments.map((a) => a.cgroupPath)).toEqual([cgroup]);
    expect(status.counters?.ingress.messages).toBe(0);
    expect(status.counters?.bulkSkips).toBe(0);
    expect(status.bulkServices).toEqual([]);
    expect(status.config?.bulkTtlSeconds).toBe(120);
    expect(status.config?.sidecarUid).toBe(1337);
    expect(status.counters?.ownerSkips).toBe(0);
    expect((await ebpfFeatureStatus(pinDir)).state).toBe("enabled");

    const disabled = await DisableEbpf.run(["--pin-dir", pinDir, "--json"], opts);
    expect(disabled).toMatchObject({ changed: true, lingering: { programIds: [], mapIds: [] } });
    expect(disabled.detached.map((d) => d.cgroupPath)).toEqual([cgroup]);
    expect((await EbpfStatusCommand.run(["--pin-dir", pinDir, "--json"], opts)).state).toBe("disabled");
    expect((await DisableEbpf.run(["--pin-dir", pinDir, "--json"], opts)).changed).toBe(false);
    expect(await readFile(join(cgroup, "cgroup.procs"), "utf8")).toBe("");
  });

  test("a --pin-dir that climbs out of the bpffs with `..` is a usage error, and nothing is created", async () => {
    const outside = `/tmp/mce-cli-outside-${process.pid}`;
    const printed: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      printed.push(String(chunk));
      return true;
    });
    await expect(
      EnableEbpf.run(
        ["--cgroup", cgroup, "--pin-dir", `/sys/fs/bpf/x/../../../..${outside}`, "--json"],
        opts,
      ),
    ).rejects.toMatchObject({ code: "EEXIT", oclif: { exit: 2 } });
    const { error } = JSON.parse(printed.join("")) as { error: { code: string; message: string } };
    expect(error.code).toBe("EBPF_INVALID_OPTIONS");
    expect(error.message).toContain(`resolves to ${outside}`);
    await expect(readFile(outside)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("eBPF flags and checks", () => {
  test("status text lists learned bulk services and the skip counter", () => {
    const render = (EbpfStatusCommand.prototype as unknown as { renderText(s: EbpfStatus): string })
      .renderText;
    const text = render({
      enabled: true,
      state: "enabled",
      pinDir: "/sys/fs/bpf/meshctl",
      programs: [],
      attachments: [],
      foreignPrograms: [],
      maps: [],
      config: {
        enabled: true,
        maxMessageBytes: 0,
        maxStreamBytes: 262_144,
        ports: [],
        excludePorts: [],
        bulkTtlSeconds: 600,
        sidecarUid: 1337,
      },
      bulkServices: [
        {
          netnsCookie: 4099,
          ip: "10.96.0.10",
          port: 9000,
          ageSeconds: 12.4,
          active: true,
          streams: 2,
          skippedSockets: 6,
        },
        {
          netnsCookie: 4099,
          ip: "::1",
          port: 443,
          ageSeconds: 700,
          active: false,
          streams: 1,
          skippedSockets: 0,
        },
      ],
    });
    expect(text).toContain("bulk learning 600 s; sidecar uid 1337");
    expect(text).toContain("2 learned service(s), 1 active");
    expect(text).toContain("netns 4099 10.96.0.10:9000  age 12 s  2 stream(s), 6 socket(s) kept on TCP");
    expect(text).toContain("[::1]:443  age 700 s (expired)");
    const broken = render({
      enabled: false,
      state: "broken",
      pinDir: "/sys/fs/bpf/meshctl",
      programs: [],
      attachments: [],
      verdict: { mapId: 12, programId: null },
      foreignPrograms: [],
      maps: [],
    });
    expect(broken).toContain("eBPF acceleration: broken");
    expect(broken).toContain("NOT attached to the sockhash");
  });

  test("--ports must be numbers", () => {
    expect(parsePortList("15001, 15006")).toEqual([15001, 15006]);
    expect(parsePortList(undefined)).toBeUndefined();
    expect(() => parsePortList("15001,http")).toThrow(
      expect.objectContaining({ code: "EBPF_INVALID_OPTIONS" }),
    );
  });

  const base: EbpfFacts = {
    bpftool: "/usr/sbin/bpftool",
    cgroup2Mount: "/sys/fs/cgroup",
    support: {
      supported: true,
      kernelRelease: "6.18.0",
      root: true,
      btf: true,
      present: ["sk_msg program"],
      missing: [],
    },
    supportError: null,
    status: {
      enabled: false,
      state: "disabled",
      pinDir: "/sys/fs/bpf/meshctl",
      programs: [],
      attachments: [],
      foreignPrograms: [],
      maps: [],
    },
    statusError: null,
  };

  test("a healthy host that has not enabled acceleration is all ok", () => {
    const checks = evaluateEbpfChecks(base);
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["ebpf.bpftool", "ok"],
      ["ebpf.cgroup2", "ok"],
      ["ebpf.kernel-support", "ok"],
      ["ebpf.status", "ok"],
    ]);
  });

  test("an old kernel, a missing bpftool and a foreign program are reported with what to do", () => {
    const checks = evaluateEbpfChecks({
      ...base,
      bpftool: null,
      support: { ...base.support!, supported: false, missing: ["Linux >= 5.15 (running 5.4.0)"] },
      status: {
        ...base.status!,
        enabled: true,
        state: "enabled",
        attachments: [
          {
            cgroupPath: "/sys/fs/cgroup",
            attachType: "cgroup_sock_ops",
            programId: 7,
            programName: "mc_sockops",
            flags: "multi",
          },
        ],
        foreignPrograms: [
          {
            cgroupPath: "/sys/fs/cgroup",
            attachType: "cgroup_sock_ops",
            programId: 9,
            programName: "bpf_sockmap",
            flags: "multi",
          },
        ],
      },
    });
    const byId = Object.fromEntries(checks.map((c) => [c.id, c]));
    expect(byId["ebpf.bpftool"]?.status).toBe("fail");
    expect(byId["ebpf.kernel-support"]).toMatchObject({ status: "fail" });
    expect(byId["ebpf.kernel-support"]?.summary).toContain("5.15");
    expect(byId["ebpf.foreign-programs"]).toMatchObject({ status: "warn" });
    expect(byId["ebpf.foreign-programs"]?.evidence[0]).toContain("bpf_sockmap id 9");
  });
});
