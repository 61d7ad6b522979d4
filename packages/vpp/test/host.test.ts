import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, spawnProgram } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adviseVppBenefit, collectVppHostFacts } from "../src/host/advice.js";
import { inspectVclProcess } from "../src/host/inspect-process.js";
import { installVppHostConfig } from "../src/host/install.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mcv-host-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const GOOD_VCL =
  "vcl {\n  app-socket-api /run/vpp/app_ns_sockets/default\n  use-mq-eventfd\n  multi-thread-workers\n}\n";

/** A /proc/<pid> tree for a process we cannot start here (one that really has VCL mapped). */
async function fakeProc(
  pid: number,
  env: Record<string, string>,
  maps: string[],
  fds: number[],
  files: Record<string, string> = {},
): Promise<string> {
  const root = join(dir, `proc-${pid}-${Math.random().toString(36).slice(2)}`);
  const p = join(root, String(pid));
  await mkdir(join(p, "fd"), { recursive: true });
  await writeFile(
    join(p, "environ"),
    `${Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join("\0")}\0`,
  );
  await writeFile(
    join(p, "maps"),
    maps.map((m) => `7f0000000000-7f0000001000 r-xp 00000000 08:01 1234 ${m}`).join("\n"),
  );
  await writeFile(join(p, "cmdline"), "envoy\0-c\0/etc/envoy.yaml\0");
  for (const fd of fds) await symlink("/dev/null", join(p, "fd", String(fd)));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(p, "root", path, ".."), { recursive: true });
    await writeFile(join(p, "root", path), text);
  }
  return root;
}

describe("inspectVclProcess on real processes", () => {
  test("a process without preload is reported as not on VCL", async () => {
    const report = await inspectVclProcess(process.pid);
    expect(report.usesVcl).toBe(false);
    expect(report.findings.find((f) => f.id === "preload")?.status).toBe("fail");
  });

  test("LD_PRELOAD named but the library not loaded, and VCL_CONFIG checked", async () => {
    const vclPath = join(dir, "vcl.conf");
    await writeFile(vclPath, "vcl {\n  rx-fifo-size 4m\n}\n");
    const child = spawnProgram("sleep", ["30"], {
      env: {
        ...process.env,
        LD_PRELOAD: "/nonexistent/libvcl_ldpreload.so",
        VCL_CONFIG: vclPath,
        LDP_SID_BIT: "10",
      } as Record<string, string>,
    });
    try {
      // The environ file is readable as soon as the process exists.
      let report = await inspectVclProcess(child.pid!).catch(() => undefined);
      for (let i = 0; i < 50 && !report?.ldPreload; i++) {
        await new Promise((r) => setTimeout(r, 20));
        report = await inspectVclProcess(child.pid!);
      }
      expect(report?.ldPreload).toBe("/nonexistent/libvcl_ldpreload.so");
      expect(report?.usesVcl).toBe(false);
      const byId = Object.fromEntries(report!.findings.map((f) => [f.id, f]));
      expect(byId.loaded?.status).toBe("fail");
      expect(byId["vcl-config"]?.status).toBe("fail");
      expect(byId["vcl-config"]?.message).toMatch(/line 2/);
      expect(byId["sid-bit"]?.status).toBe("ok");
    } finally {
      child.kill();
      await child.exited;
    }
  });

  test("a PID that does not exist", async () => {
    await expect(inspectVclProcess(2 ** 22 + 12345)).rejects.toMatchObject({ code: "VPP_PROCESS_NOT_FOUND" });
  });
});

describe("inspectVclProcess on a recorded /proc layout", () => {
  test("preloaded, mapped, valid config, fds under the line", async () => {
    const procRoot = await fakeProc(
      4242,
      {
        LD_PRELOAD: "/opt/meshctl-vpp/lib/libvcl_ldpreload.so",
        VCL_CONFIG: "/etc/meshctl-vpp/vcl.conf",
        LDP_SID_BIT: "14",
        LDP_APP_NAME: "envoy",
      },
      ["/opt/meshctl-vpp/lib/libvcl_ldpreload.so", "/opt/meshctl-vpp/lib/libvppcom.so.26.10"],
      [0, 1, 2, 17],
      { "/etc/meshctl-vpp/vcl.conf": GOOD_VCL },
    );
    const report = await inspectVclProcess(4242, { procRoot });
    expect(report.usesVcl).toBe(true);
    expect(report.findings.every((f) => f.status === "ok")).toBe(true);
    expect(report.maxKernelFd).toBe(17);
    expect(report.mappedVclLibraries).toHaveLength(2);
  });

  test("a kernel fd above 1<<LDP_SID_BIT fails", async () => {
    const procRoot = await fakeProc(
      4243,
      { LD_PRELOAD: "/x/libvcl_ldpreload.so", VCL_CONFIG: "/vcl.conf", LDP_SID_BIT: "5" },
      ["/x/libvcl_ldpreload.so"],
      [0, 1, 40],
      { "/vcl.conf": GOOD_VCL },
    );
    const report = await inspectVclProcess(4243, { procRoot });
    expect(report.findings.find((f) => f.id === "sid-bit")).toMatchObject({ status: "fail" });
    expect(report.usesVcl).toBe(true);
  });
});

describe("adviseVppBenefit", () => {
  test("2 CPUs: unlikely to help, citing the measurement", () => {
    const a = adviseVppBenefit({
      cpus: 2,
      nics: [{ name: "eth0", driver: "virtio_net", pciAddress: "0000:00:03.0" }],
    });
    expect(a.verdict).toBe("unlikely-to-help");
    expect(a.reasons[0]).toMatch(/13.9 µs vs 11.2 µs/);
  });
  test("many CPUs and a NIC VPP can drive: likely helps", () => {
    expect(
      adviseVppBenefit({ cpus: 16, nics: [{ name: "ens1f0", driver: "ice", pciAddress: "0000:18:00.0" }] })
        .verdict,
    ).toBe("likely-helps");
  });
  test("no physical NIC: measure first", () => {
    const a = adviseVppBenefit({ cpus: 8, nics: [] });
    expect(a.verdict).toBe("measure-first");
    expect(a.reasons.join(" ")).toMatch(/no physical/);
  });
  test("host facts come from this machine's /sys/class/net", async () => {
    const facts = await collectVppHostFacts();
    expect(facts.cpus).toBeGreaterThan(0);
    expect(facts.nics.every((n) => n.name !== "lo")).toBe(true);
  });
});

describe("installVppHostConfig", () => {
  test("refuses without VPP unless forced; writes, backs up, and is idempotent", async () => {
    const configDir = join(dir, "etc-vpp");
    if (!(await findProgram("vpp")))
      await expect(installVppHostConfig({ configDir })).rejects.toMatchObject({ code: "VPP_NOT_INSTALLED" });
    const dry = await installVppHostConfig({ configDir, force: true, dryRun: true });
    expect(dry.files.map((f) => f.action)).toEqual(["would-write", "would-write"]);
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, "startup.conf"), "unix { nodaemon }\n");
    const first = await installVppHostConfig({ configDir, force: true });
    expect(first.files.map((f) => f.action)).toEqual(["replaced", "created"]);
    expect(await readFile(join(configDir, "startup.conf.meshctl-bak"), "utf8")).toBe("unix { nodaemon }\n");
    expect(first.restart[0]).toMatch(/systemctl restart vpp/);
    const second = await installVppHostConfig({ configDir, force: true });
    expect(second.files.map((f) => f.action)).toEqual(["unchanged", "unchanged"]);
    expect(second.restart).toEqual([]);
  });
});
