/**
 * Failure paths on the real kernel: each must surface as a typed EBPF_* error and leave nothing
 * behind (and never touch what someone else attached).
 */
import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { promisify } from "node:util";
import { findProgram, isMeshctlError, runCommand } from "@meshctl/core";
import { afterAll, describe, expect, test } from "vitest";
import { disableEbpfAcceleration, enableEbpfAcceleration, getEbpfStatus } from "../src/index.js";
import { Lab, labPrerequisites } from "./lab.js";

const skipReason = await labPrerequisites();
if (skipReason) console.warn(`skipping eBPF error-path tests: ${skipReason}`);
const clang = await findProgram("clang");
if (!clang) console.warn("skipping the verifier-rejection test: clang is not installed");

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return isMeshctlError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

describe.skipIf(skipReason)("typed failures", () => {
  const lab = new Lab(`e${process.pid % 1000}`);
  const pinDir = `/sys/fs/bpf/mce-test-${process.pid}-e`;
  const otherPinDir = `/sys/fs/bpf/mce-test-${process.pid}-f`;

  afterAll(async () => {
    try {
      await disableEbpfAcceleration({ pinDir, force: true, drainTimeoutMs: 0 });
      await disableEbpfAcceleration({ pinDir: otherPinDir, force: true, drainTimeoutMs: 0 });
    } finally {
      await lab.cleanup();
    }
  });

  test("a cgroup that does not exist or is outside cgroup v2", async () => {
    const cgroup = await lab.cgroup("exists");
    expect(await codeOf(enableEbpfAcceleration({ cgroupPath: `${cgroup}-missing`, pinDir }))).toBe(
      "EBPF_CGROUP_INVALID",
    );
    expect(await codeOf(enableEbpfAcceleration({ cgroupPath: "/tmp", pinDir }))).toBe("EBPF_CGROUP_INVALID");
    await expect(access(pinDir)).rejects.toThrow();
  });

  test("invalid options are usage errors", async () => {
    const cgroup = await lab.cgroup("opts");
    expect(await codeOf(enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, ports: [0] }))).toBe(
      "EBPF_INVALID_OPTIONS",
    );
    expect(await codeOf(enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, maxMessageBytes: -1 }))).toBe(
      "EBPF_INVALID_OPTIONS",
    );
    for (const sidecarUid of [-1, 1.5, 0xffffffff]) {
      expect(await codeOf(enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, sidecarUid }))).toBe(
        "EBPF_INVALID_OPTIONS",
      );
    }
  });

  test("a pin dir already attached elsewhere is refused, then a foreign program is detected and left alone", async () => {
    const first = await lab.cgroup("first");
    const second = await lab.cgroup("second");
    const nested = await lab.cgroup("first/child");
    const enabled = await enableEbpfAcceleration({ cgroupPath: first, pinDir });
    expect(await codeOf(enableEbpfAcceleration({ cgroupPath: second, pinDir }))).toBe(
      "EBPF_ALREADY_ENABLED_ELSEWHERE",
    );

    // A second meshctl (another pin dir) is "someone else" for the first one's cgroup and its children.
    let foreign: unknown;
    try {
      await enableEbpfAcceleration({ cgroupPath: nested, pinDir: otherPinDir });
    } catch (error) {
      foreign = error;
    }
    expect(isMeshctlError(foreign) && foreign.code).toBe("EBPF_FOREIGN_PROGRAM");
    expect(
      isMeshctlError(foreign) && (foreign.details.foreign as Array<{ programId: number }>)[0]?.programId,
    ).toBe(enabled.programs.sockops.id);
    await expect(access(otherPinDir)).rejects.toThrow();
    // Not clobbered: the first attachment is still there and still enabled.
    const status = await getEbpfStatus({ pinDir });
    expect(status.state).toBe("enabled");
    expect(status.attachments.map((a) => a.cgroupPath)).toEqual([first]);

    const disabled = await disableEbpfAcceleration({ pinDir });
    expect(disabled.detached.map((a) => a.cgroupPath)).toEqual([first]);
    expect(disabled.lingering).toEqual({ programIds: [], mapIds: [] });
    expect(
      (await runCommand("bpftool", ["-j", "cgroup", "show", first])).stdout.replace(/\s/g, "") || "[]",
    ).toBe("[]");
  });

  test.skipIf(!clang)(
    "a program the verifier rejects gives EBPF_VERIFIER_REJECTED with the log, and no pins",
    async () => {
      const cgroup = await lab.cgroup("verifier");
      const dir = await lab.tempDir("bad");
      const object = `${dir}/bad.bpf.o`;
      const source = new URL("./fixtures/bad.bpf.c", import.meta.url).pathname;
      const multiarch = process.arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
      await promisify(execFile)(clang!, [
        "-O2",
        "-g",
        "-target",
        "bpf",
        `-I/usr/include/${multiarch}`,
        "-c",
        source,
        "-o",
        object,
      ]);
      let rejected: unknown;
      try {
        await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, objectPath: object });
      } catch (error) {
        rejected = error;
      }
      expect(isMeshctlError(rejected) && rejected.code).toBe("EBPF_VERIFIER_REJECTED");
      expect(isMeshctlError(rejected) && (rejected.details.verifierLog as string[]).join("\n")).toMatch(
        /invalid access to map value/,
      );
      await expect(access(pinDir)).rejects.toThrow();
      expect(
        (await runCommand("bpftool", ["-j", "cgroup", "show", cgroup])).stdout.replace(/\s/g, "") || "[]",
      ).toBe("[]");
    },
  );
});
