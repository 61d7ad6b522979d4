import { spawnSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { ALLOCATOR_ENV, allocatorEnv } from "./allocator.js";

describe("allocatorEnv", () => {
  test("adds the settings a child lacks, keeps the operator's", () => {
    expect(allocatorEnv({})).toEqual({ MALLOC_MMAP_THRESHOLD_: "65536" });
    expect(allocatorEnv({ MALLOC_MMAP_THRESHOLD_: "131072" })).toEqual({});
    expect(allocatorEnv({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" })).toEqual({});
    expect(allocatorEnv({ GLIBC_TUNABLES: "glibc.rtld.nns=4" })).toEqual(ALLOCATOR_ENV);
  });

  test("a process started with them keeps 64 KiB buffers (socket reads) out of the brk heap", () => {
    // Node's Buffer.allocUnsafeSlow(65536) is one malloc of 64 KiB, like a socket read's buffer.
    // 64 of them held: glibc's default serves them from the main arena's brk heap (it grows by
    // 4 MiB); with the fixed threshold each is a mapping of its own, returned on free.
    const probe = `
      const fs = require("node:fs");
      const heapBytes = () => {
        const line = fs.readFileSync("/proc/self/maps", "utf8").split("\\n").find((l) => l.endsWith("[heap]"));
        if (!line) return 0;
        const [a, b] = line.split(" ")[0].split("-").map((x) => parseInt(x, 16));
        return b - a;
      };
      const before = heapBytes();
      const held = Array.from({ length: 64 }, () => Buffer.allocUnsafeSlow(65536).fill(1));
      process.stdout.write(JSON.stringify({ grew: heapBytes() - before, held: held.length }));
    `;
    const grew = (env: Readonly<Record<string, string>>) => {
      const r = spawnSync(process.execPath, ["-e", probe], {
        env: { PATH: process.env.PATH ?? "", ...env },
        encoding: "utf8",
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { grew: number; held: number };
      expect(out.held).toBe(64);
      return out.grew;
    };
    expect(grew({})).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    expect(grew(ALLOCATOR_ENV)).toBeLessThan(1024 * 1024);
  });
});
