import { describe, expect, test } from "vitest";
import { parseKernelRelease, parseMounts } from "./environment.js";

describe("parseMounts", () => {
  test("finds cgroup2 and bpffs on a hybrid host, decoding octal escapes", () => {
    const text = [
      "tmpfs /sys/fs/cgroup tmpfs ro,nosuid 0 0",
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0",
      "bpf /sys/fs/bpf bpf rw 0 0",
      "none /mnt/with\\040space ext4 rw 0 0",
    ].join("\n");
    const mounts = parseMounts(text);
    expect(mounts.filter((m) => m.type === "cgroup2").map((m) => m.target)).toEqual([
      "/sys/fs/cgroup/unified",
    ]);
    expect(mounts.find((m) => m.type === "bpf")?.target).toBe("/sys/fs/bpf");
    expect(mounts.at(-1)?.target).toBe("/mnt/with space");
  });
});

describe("parseKernelRelease", () => {
  test.each([
    ["6.18.44-fc-v782", [6, 18]],
    ["5.4.0-74-generic", [5, 4]],
    ["nonsense", undefined],
  ] as const)("%s", (text, expected) => {
    expect(parseKernelRelease(text)).toEqual(expected);
  });
});

describe("privileges", () => {
  test("a non-root user gets EBPF_PERMISSION_DENIED before anything touches the kernel", async () => {
    const { vi } = await import("vitest");
    const { enableEbpfAcceleration, disableEbpfAcceleration, getEbpfStatus } = await import("./loader.js");
    const spy = vi.spyOn(process as { getuid(): number }, "getuid").mockReturnValue(1000);
    try {
      for (const call of [
        () =>
          enableEbpfAcceleration({ cgroupPath: "/sys/fs/cgroup/x", pinDir: "/sys/fs/bpf/mce-test-nonroot" }),
        () => disableEbpfAcceleration({ pinDir: "/sys/fs/bpf/mce-test-nonroot" }),
        () => getEbpfStatus({ pinDir: "/sys/fs/bpf/mce-test-nonroot" }),
      ]) {
        await expect(call()).rejects.toMatchObject({ code: "EBPF_PERMISSION_DENIED", kind: "environment" });
      }
    } finally {
      spy.mockRestore();
    }
  });
});
