import { describe, expect, test } from "vitest";
import { COUNTER_NAMES, decodeBulkServices, decodeConfig, decodeCounters, encodeConfig } from "./maps.js";

describe("mc_config encoding", () => {
  test("matches struct mc_config (little endian, 96 bytes)", () => {
    const bytes = encodeConfig({
      enabled: true,
      maxMessageBytes: 65_536,
      maxStreamBytes: 262_144,
      ports: [15001, 8080],
      excludePorts: [5432],
      bulkTtlSeconds: 600,
      sidecarUid: 1337,
    }).map(Number);
    expect(bytes).toHaveLength(96);
    expect(bytes.slice(48, 52)).toEqual([1, 0, 0, 0]);
    expect(bytes.slice(52, 54)).toEqual([5432 & 0xff, 5432 >> 8]);
    expect(bytes.slice(0, 4)).toEqual([1, 0, 0, 0]);
    expect(bytes.slice(4, 8)).toEqual([0, 0, 1, 0]);
    expect(bytes.slice(8, 12)).toEqual([0, 0, 4, 0]);
    expect(bytes.slice(12, 16)).toEqual([2, 0, 0, 0]);
    expect(bytes.slice(16, 20)).toEqual([15001 & 0xff, 15001 >> 8, 8080 & 0xff, 8080 >> 8]);
    expect(bytes.slice(20, 48).every((b) => b === 0)).toBe(true);
    expect(bytes.slice(54, 84).every((b) => b === 0)).toBe(true);
    expect(bytes.slice(84, 88)).toEqual([600 & 0xff, 600 >> 8, 0, 0]);
    expect(bytes.slice(88, 96)).toEqual([1, 0, 0, 0, 1337 & 0xff, 1337 >> 8, 0, 0]);
  });

  test("uid 0 is a sidecar uid, not 'off': the set flag says which", () => {
    const base = {
      enabled: true,
      maxMessageBytes: 0,
      maxStreamBytes: 0,
      ports: [],
      excludePorts: [],
      bulkTtlSeconds: 0,
    };
    expect(
      encodeConfig({ ...base, sidecarUid: 0 })
        .slice(88, 96)
        .map(Number),
    ).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(
      encodeConfig({ ...base, sidecarUid: null })
        .slice(88, 96)
        .map(Number),
    ).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(decodeConfig({ sidecar_uid_set: 1, sidecar_uid: 0 }).sidecarUid).toBe(0);
    expect(decodeConfig({ sidecar_uid_set: 0, sidecar_uid: 0 }).sidecarUid).toBeNull();
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
        bulk_ttl_s: 600,
        sidecar_uid_set: 1,
        sidecar_uid: 1337,
      }),
    ).toEqual({
      enabled: true,
      maxMessageBytes: 0,
      maxStreamBytes: 7,
      ports: [15006],
      excludePorts: [22],
      bulkTtlSeconds: 600,
      sidecarUid: 1337,
    });
  });
});

describe("learned bulk services", () => {
  const hex = (buf: Buffer) => [...buf].map((b) => `0x${b.toString(16).padStart(2, "0")}`);
  const entry = (
    ip: number[],
    netns: bigint,
    port: number,
    learnedNs: bigint,
    streams: number,
    skipped: number,
  ) => {
    const key = Buffer.alloc(32);
    Buffer.from(ip).copy(key, 0);
    key.writeBigUInt64LE(netns, 16);
    key.writeUInt16LE(port, 24);
    const value = Buffer.alloc(16);
    value.writeBigUInt64LE(learnedNs, 0);
    value.writeUInt32LE(streams, 8);
    value.writeUInt32LE(skipped, 12);
    return { key: hex(key), value: hex(value) };
  };
  const v4 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 96, 0, 10];
  const v6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

  test("decode struct mc_endpoint -> struct mc_bulk_entry, newest first, with the TTL applied", () => {
    const now = 1_000_000_000_000n;
    const services = decodeBulkServices(
      [
        entry(v4, 4099n, 9000, now - 700_000_000_000n, 3, 12),
        entry(v6, 4100n, 80, now - 2_500_000_000n, 1, 0),
      ],
      now,
      600,
    );
    expect(services).toEqual([
      {
        netnsCookie: 4100,
        ip: "::1",
        port: 80,
        ageSeconds: 2.5,
        active: true,
        streams: 1,
        skippedSockets: 0,
      },
      {
        netnsCookie: 4099,
        ip: "10.96.0.10",
        port: 9000,
        ageSeconds: 700,
        active: false,
        streams: 3,
        skippedSockets: 12,
      },
    ]);
  });

  test("with learning off nothing is active", () => {
    const now = 5_000_000_000n;
    const [service] = decodeBulkServices([entry(v4, 1n, 443, now, 1, 0)], now, 0);
    expect(service).toMatchObject({ ip: "10.96.0.10", port: 443, ageSeconds: 0, active: false });
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
    expect(counters.bulkLearned).toBe(113);
    expect(counters.bulkSkips).toBe(114);
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
