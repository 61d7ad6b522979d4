/**
 * Real-kernel tests that no crash and no option leaves a broken or dangerous state:
 * - kill -9 at every bpftool step of enable and disable, then enable / status / disable agree with
 *   the kernel's own view and traffic is redirected again;
 * - `..` and symlinks in --pin-dir and --cgroup are resolved before they are checked, nothing is
 *   mounted outside the bpffs, and mounts an older version left at a pin dir are removed.
 */
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findProgram, runCommand } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { disableEbpfAcceleration, enableEbpfAcceleration, getEbpfStatus } from "../src/index.js";
import { compileFallbackPeer, counters, Lab, labPrerequisites, type Proc, teardown } from "./lab.js";

const skipReason = await labPrerequisites();
if (skipReason) console.warn(`skipping eBPF safety tests: ${skipReason}`);

const OP = fileURLToPath(new URL("./fixtures/ebpf-op.ts", import.meta.url));
const CRASH_BPFTOOL = fileURLToPath(new URL("./fixtures/crash-bpftool.sh", import.meta.url));
/** The bpffs mounts (other mounts come and go with other tests' network namespaces). */
const mounts = async () =>
  (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .filter((line) => line.split(" ")[2] === "bpf")
    .join("\n");

/** Runs one enable/disable in its own process with bpftool killing it (-9) at `match`. */
async function crashAt(
  binDir: string,
  op: "enable" | "disable",
  match: string,
  when: "before" | "after",
  pinDir: string,
  cgroup: string,
): Promise<NodeJS.Signals | number | null> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=@meshctl/source", OP, op, pinDir, cgroup],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        PATH: `${binDir}:${process.env.PATH}`,
        MC_CRASH_MATCH: match,
        MC_CRASH_WHEN: when,
        MC_REAL_BPFTOOL: (await findProgram("bpftool"))!,
      },
    },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on("exit", (c, s) => resolve([c, s])),
  );
  if (signal !== "SIGKILL") console.warn(`${op} at ${match} (${when}) was not killed: ${code} ${stderr}`);
  return signal ?? code;
}

describe.skipIf(skipReason)("a crash at any step of enable or disable", () => {
  const lab = new Lab(`k${process.pid % 1000}`);
  const pinDir = `/sys/fs/bpf/mce-test-${process.pid}-k`;
  let cgroup = "";
  let binDir = "";
  let peer: Proc;
  let conn = 0;

  /** Enabled for real: status agrees with the kernel, and a new connection is redirected. */
  const expectWorking = async () => {
    const status = await getEbpfStatus({ pinDir });
    expect(status.state).toBe("enabled");
    expect(status.attachments.map((a) => a.cgroupPath)).toEqual([cgroup]);
    const skMsg = status.programs.find((p) => p.name === "mc_redir");
    expect(status.verdict?.programId).toBe(skMsg?.id);
    const before = await counters(pinDir);
    peer.send(`open k${++conn} 0`);
    expect(await peer.next()).toMatchObject({ opened: `k${conn}` });
    peer.send(`rr k${conn} 50 64 1024 ${conn}`);
    expect((await peer.next()).error).toBeUndefined();
    expect((await counters(pinDir)).ingress.messages - before.ingress.messages).toBeGreaterThanOrEqual(100);
  };

  /** Nothing left: no pins, no sock_ops on the cgroup, no new mount. */
  const expectClean = async (mountsBefore: string) => {
    const result = await disableEbpfAcceleration({ pinDir, releaseTimeoutMs: 0, drainTimeoutMs: 0 });
    expect(result.openSockets + result.releasedSockets).toBeGreaterThanOrEqual(0);
    expect(await readdir(pinDir).catch(() => "gone")).toBe("gone");
    const attached = await runCommand("bpftool", ["-j", "cgroup", "show", cgroup]);
    expect(JSON.parse(attached.stdout || "[]")).toEqual([]);
    expect((await getEbpfStatus({ pinDir })).state).toBe("disabled");
    expect(await mounts()).toBe(mountsBefore);
  };

  beforeAll(async () => {
    cgroup = await lab.cgroup("crash");
    binDir = await lab.tempDir("crash-bin");
    await symlink(CRASH_BPFTOOL, join(binDir, "bpftool"));
    const pod = await lab.pod("k", cgroup);
    peer = lab.spawnIn(pod, [await compileFallbackPeer(lab)]);
    expect(await peer.next()).toMatchObject({ ready: true });
  }, 60_000);

  afterAll(() => teardown(lab, pinDir));

  const enableSteps = ["prog loadall", "map update", "prog attach", "cgroup attach"];
  for (const step of enableSteps) {
    for (const when of ["before", "after"] as const) {
      test(`enable killed ${when} \`bpftool ${step}\`: status tells the truth, the next enable repairs`, async () => {
        const mountsBefore = await mounts();
        expect(await crashAt(binDir, "enable", step, when, pinDir, cgroup)).toBe("SIGKILL");
        const status = await getEbpfStatus({ pinDir });
        if (status.state === "enabled") expect(status.verdict?.programId).not.toBeNull();
        const enabled = await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
        if (step === "prog attach" && when === "before")
          expect(enabled.repaired).toEqual(["sk_msg verdict on mc_socks", `sock_ops on ${cgroup}`]);
        await expectWorking();
        await expectClean(mountsBefore);
      }, 60_000);
    }
  }

  for (const when of ["before", "after"] as const) {
    test(`a second enable killed ${when} its kernel query leaves no pin behind`, async () => {
      const mountsBefore = await mounts();
      await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
      expect(await crashAt(binDir, "enable", "iter pin", when, pinDir, cgroup)).toBe("SIGKILL");
      expect((await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir })).repaired).toEqual([]);
      await expectWorking();
      await expectClean(mountsBefore);
    }, 60_000);
  }

  for (const step of ["map update", "cgroup detach", "prog detach"]) {
    for (const when of ["before", "after"] as const) {
      test(`disable killed ${when} \`bpftool ${step}\`: enable works again, disable finishes`, async () => {
        const mountsBefore = await mounts();
        await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
        expect(await crashAt(binDir, "disable", step, when, pinDir, cgroup)).toBe("SIGKILL");
        const status = await getEbpfStatus({ pinDir });
        expect(["enabled", "paused", "loaded-not-attached", "broken"]).toContain(status.state);
        await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
        await expectWorking();
        await expectClean(mountsBefore);
      }, 60_000);
    }
  }

  test("a verdict detached behind meshctl's back: status says broken, enable repairs it", async () => {
    const enabled = await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
    await runCommand("bpftool", [
      "prog",
      "detach",
      "pinned",
      enabled.programs.skMsg.pin,
      "msg_verdict",
      "pinned",
      join(pinDir, "maps", "mc_socks"),
    ]);
    const status = await getEbpfStatus({ pinDir });
    expect(status.state).toBe("broken");
    expect(status.verdict?.programId).toBeNull();
    const repaired = await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
    expect(repaired).toMatchObject({ changed: true, repaired: ["sk_msg verdict on mc_socks"] });
    await expectWorking();
    await expectClean(await mounts());
  }, 60_000);
});

describe.skipIf(skipReason)("path options: `..` and symlinks are resolved before they are checked", () => {
  const lab = new Lab(`p${process.pid % 1000}`);
  const tag = `${process.pid}`;
  const outside = `/tmp/mce-outside-${tag}`;
  const bpfLink = `/sys/fs/bpf/mce-link-${tag}`;
  const goodLink = `/tmp/mce-bpf-link-${tag}`;
  const legacy = `/tmp/mce-legacy-${tag}`;
  let cgroup = "";

  beforeAll(async () => {
    cgroup = await lab.cgroup("paths");
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, "keep.txt"), "mine");
    await symlink(outside, bpfLink);
    await symlink("/sys/fs/bpf", goodLink);
  });

  afterAll(async () => {
    for (const path of [legacy, legacy]) await runCommand("umount", [path], { reject: false });
    await disableEbpfAcceleration({ pinDir: `/sys/fs/bpf/mce-test-${tag}-p`, force: true }).catch(
      () => undefined,
    );
    for (const path of [bpfLink, goodLink, outside, legacy]) await rm(path, { recursive: true, force: true });
    await lab.cleanup();
  });

  const rejected = async (pinDir: string) => {
    const mountsBefore = await mounts();
    for (const run of [
      () => enableEbpfAcceleration({ cgroupPath: cgroup, pinDir }),
      () => disableEbpfAcceleration({ pinDir }),
      () => getEbpfStatus({ pinDir }),
    ]) {
      await expect(run()).rejects.toMatchObject({ code: "EBPF_INVALID_OPTIONS", kind: "usage" });
    }
    expect(await mounts()).toBe(mountsBefore);
    expect(await readdir(outside)).toEqual(["keep.txt"]);
  };

  test("a pin dir that climbs out of /sys/fs/bpf with `..` is refused; nothing is mounted", async () => {
    await rejected(`/sys/fs/bpf/x/../../../..${outside}`);
    await rejected(`/sys/fs/bpf/x/../../../..${outside}/pins`);
  });

  test("a pin dir through a symlink that leaves the bpffs is refused", async () => {
    await rejected(`${bpfLink}/pins`);
  });

  test("a pin dir through a symlink into the bpffs is used under its real path", async () => {
    const real = `/sys/fs/bpf/mce-test-${tag}-p`;
    const enabled = await enableEbpfAcceleration({
      cgroupPath: cgroup,
      pinDir: `${goodLink}/mce-test-${tag}-p`,
    });
    expect(enabled.pinDir).toBe(real);
    expect((await getEbpfStatus({ pinDir: real })).state).toBe("enabled");
    const disabled = await disableEbpfAcceleration({ pinDir: `${goodLink}/mce-test-${tag}-p` });
    expect(disabled).toMatchObject({ changed: true, pinDir: real });
    expect(await readdir(real).catch(() => "gone")).toBe("gone");
  });

  test("a cgroup path with `..` is refused; a symlink to a cgroup is used under its real path", async () => {
    await expect(
      enableEbpfAcceleration({
        cgroupPath: `${cgroup}/../../../..${outside}`,
        pinDir: `/sys/fs/bpf/mce-test-${tag}-p`,
      }),
    ).rejects.toMatchObject({ code: "EBPF_CGROUP_INVALID" });
    const link = join(outside, "cgroup-link");
    await symlink(cgroup, link);
    try {
      const enabled = await enableEbpfAcceleration({
        cgroupPath: link,
        pinDir: `/sys/fs/bpf/mce-test-${tag}-p`,
      });
      expect(enabled.cgroupPath).toBe(cgroup);
      await disableEbpfAcceleration({ pinDir: `/sys/fs/bpf/mce-test-${tag}-p` });
    } finally {
      await rm(link, { force: true });
    }
  });

  test("disable removes the bpffs + bind mount an older version left at a pin dir outside /sys/fs/bpf", async () => {
    // What bpftool itself used to do for a pin path that was not on a bpffs.
    await mkdir(legacy, { recursive: true });
    await runCommand("mount", ["--make-private", "--bind", legacy, legacy]);
    await runCommand("mount", ["-t", "bpf", "bpf", legacy]);
    expect(await mounts()).toContain(` ${legacy} bpf `);
    const all = () => readFile("/proc/self/mounts", "utf8");
    expect(await all()).toContain(` ${legacy} `);
    // A new pin dir may not be a mount point itself.
    await expect(enableEbpfAcceleration({ cgroupPath: cgroup, pinDir: legacy })).rejects.toMatchObject({
      code: "EBPF_INVALID_OPTIONS",
    });
    const result = await disableEbpfAcceleration({ pinDir: legacy });
    expect(result.unmounted).toHaveLength(2);
    expect(await all()).not.toContain(` ${legacy} `);
  });
});
