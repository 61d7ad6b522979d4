import { describe, expect, test } from "vitest";
import { COUNTER_NAMES, decodeConfig, decodeCounters, encodeConfig } from "./maps.js";

describe("mc_config encoding", () => {
  test("matches struct mc_config (little endian, 84 bytes)", () => {
    const bytes = encodeConfig({
      enabled: true,
      maxMessageBytes: 65_536,
      maxStreamBytes: 262_144,
      ports: [15001, 8080],
      excludePorts: [5432],
    }).map(Number);
    expect(bytes).toHaveLength(84);
    expect(bytes.slice(48, 52)).toEqual([1, 0, 0, 0]);
    expect(bytes.slice(52, 54)).toEqual([5432 & 0xff, 5432 >> 8]);
    expect(bytes.slice(0, 4)).toEqual([1, 0, 0, 0]);
    expect(bytes.slice(4, 8)).toEqual([0, 0, 1, 0]);
    expect(bytes.slice(8, 12)).toEqual([0, 0, 4, 0]);
    expect(bytes.slice(12, 16)).toEqual([2, 0, 0, 0]);
    expect(bytes.slice(16, 20)).toEqual([15001 & 0xff, 15001 >> 8, 8080 & 0xff, 8080 >> 8]);
    expect(bytes.slice(20, 48).every((b) => b === 0)).toBe(true);
    expect(bytes.slice(54).every((b) => b === 0)).toBe(true);
  });

  test("decodes bpftool's BTF view, ignoring unused port slots", () => {
    expect(
      decodeConfig({
        enabled: 1,
        max_msg_bytes: 0,
        max_stream_bytes: 7,
        nports: 1,
        ports: [15006, 0, 0],
        nexclude: 1,
        exclude: [22, 0],
      }),
    ).toEqual({
      enabled: true,
      maxMessageBytes: 0,
      maxStreamBytes: 7,
      ports: [15006],
      excludePorts: [22],
    });
  });
});

describe("counters", () => {
  test("sum per-CPU values and group them by direction", () => {
    const dump = COUNTER_NAMES.map((_, key) => ({
      formatted: {
        key,
        values: [
          { cpu: 0, value: key },
          { cpu: 1, value: 100 },
        ],
      },
    }));
    const counters = decodeCounters(dump);
    expect(counters.ingress).toEqual({ messages: 100, bytes: 101, misses: 102 });
    expect(counters.egress).toEqual({ messages: 103, bytes: 104, misses: 105 });
    expect(counters.socketsAdded).toBe(106);
    expect(counters.policySkips).toBe(111);
  });

  test("the counter list mirrors enum mc_counter in the C header", async () => {
    const { readFile } = await import("node:fs/promises");
    const header = await readFile(new URL("../bpf/mc-common.h", import.meta.url), "utf8");
    const body = /enum mc_counter \{([^}]*)\}/.exec(header)?.[1] ?? "";
    const names = body
      .split(",")
      .map((s) => s.trim().replace(/ = 0$/, ""))
      .filter((s) => s.startsWith("MC_") && s !== "MC_COUNTER_MAX");
    const camel = names.map((n) =>
      n
        .slice(3)
        .toLowerCase()
        .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    );
    expect(camel).toEqual(COUNTER_NAMES.map((n) => n.replace("Messages", "Msgs")));
  });
});
