/**
 * Real-kernel tests of the learned bulk-service policy: a connection that crosses the stream limit
 * marks its service (netns, IP, port as the client dialled it); new connections to that service
 * never enter the sockhash, connections to other services still do.
 */
import { access } from "node:fs/promises";
import { runCommand } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type BulkService,
  disableEbpfAcceleration,
  type EbpfCounters,
  enableEbpfAcceleration,
  getEbpfStatus,
} from "../src/index.js";
import {
  envoyPrerequisite,
  Lab,
  labPrerequisites,
  type Pod,
  runClient,
  SVC_IP,
  SVC_PORT,
  teardown,
  waitFor,
} from "./lab.js";

const skipReason = (await labPrerequisites()) ?? (await envoyPrerequisite());
if (skipReason) console.warn(`skipping learned bulk-service tests: ${skipReason}`);

/** In the pod, on 127.0.0.1: a store-and-forward service (bulk both ways) and an echo service. */
const LOCAL_BULK_PORT = 9300;
const LOCAL_RPC_PORT = 9301;
/** In the "world", reached through the (Envoy) sidecar after the REDIRECT to 15001. */
const UPSTREAM_BULK_PORT = 9400;
const BULK_SIZE = 4 << 20;

async function status(pinDir: string) {
  const s = await getEbpfStatus({ pinDir });
  if (!s.counters || !s.bulkServices) throw new Error(`incomplete status: ${JSON.stringify(s)}`);
  return { counters: s.counters, bulkServices: s.bulkServices, maps: s.maps };
}

function delta(after: EbpfCounters, before: EbpfCounters) {
  return {
    socketsAdded: after.socketsAdded - before.socketsAdded,
    bulkLearned: after.bulkLearned - before.bulkLearned,
    bulkSkips: after.bulkSkips - before.bulkSkips,
    policySkips: after.policySkips - before.policySkips,
    pairsCreated: after.pairsCreated - before.pairsCreated,
    ingressBytes: after.ingress.bytes - before.ingress.bytes,
    egressBytes: after.egress.bytes - before.egress.bytes,
    passedBytes: after.passedBytes - before.passedBytes,
  };
}

function find(services: readonly BulkService[], ip: string, port: number): BulkService | undefined {
  return services.find((s) => s.ip === ip && s.port === port);
}

describe.skipIf(skipReason)("learned bulk services", () => {
  const lab = new Lab(`l${process.pid % 1000}`);
  const pinDir = `/sys/fs/bpf/mce-test-${process.pid}-l`;
  let cgroup = "";
  let pod: Pod;

  const client = (host: string, port: number, size: number) =>
    runClient(lab, pod, ["--host", host, "--port", String(port), "--size", String(size)]);

  beforeAll(async () => {
    cgroup = await lab.cgroup("pod");
    pod = await lab.pod("pl", cgroup, { meshed: true });
    for (const args of [
      ["--host", SVC_IP, "--port", String(UPSTREAM_BULK_PORT), "--store"],
      ["--host", SVC_IP, "--port", String(SVC_PORT)],
    ]) {
      await (await lab.peer(pod.world, ["server", ...args])).next();
    }
    for (const args of [
      ["--host", "127.0.0.1", "--port", String(LOCAL_BULK_PORT), "--store"],
      ["--host", "127.0.0.1", "--port", String(LOCAL_RPC_PORT)],
    ]) {
      await (await lab.peer(pod, ["server", ...args])).next();
    }
    await lab.sidecar(pod, [LOCAL_RPC_PORT]);
    const enabled = await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
    // Learning is on by default.
    expect(enabled.config).toMatchObject({ maxStreamBytes: 262_144, bulkTtlSeconds: 600 });
  });

  afterAll(() => teardown(lab, pinDir));

  test("a local bulk service is learned; its next connection skips the sockhash, another port does not", async () => {
    const s0 = await status(pinDir);
    expect(await client("127.0.0.1", LOCAL_BULK_PORT, BULK_SIZE)).toMatchObject({ ok: true });
    const s1 = await status(pinDir);
    const first = delta(s1.counters, s0.counters);
    // The first connection pays the stream-limit path: both sockets in the sockhash, the stream
    // crosses 256 KiB (one 4 MiB write may cross it in its first message) and goes to TCP.
    expect(first.socketsAdded).toBe(2);
    expect(first.policySkips).toBeGreaterThanOrEqual(1);
    expect(first.bulkLearned).toBeGreaterThanOrEqual(1);
    expect(first.passedBytes).toBeGreaterThan(0);
    const learned = find(s1.bulkServices, "127.0.0.1", LOCAL_BULK_PORT);
    expect(learned, JSON.stringify(s1.bulkServices)).toMatchObject({ active: true });
    expect(learned?.netnsCookie).toBeGreaterThan(0);

    // A new connection to the learned service: neither end enters the sockhash, bytes intact both ways.
    expect(await client("127.0.0.1", LOCAL_BULK_PORT, BULK_SIZE)).toMatchObject({ ok: true });
    const s2 = await status(pinDir);
    expect(delta(s2.counters, s1.counters)).toMatchObject({
      socketsAdded: 0,
      bulkSkips: 2,
      ingressBytes: 0,
      passedBytes: 0,
      policySkips: 0,
    });
    expect(find(s2.bulkServices, "127.0.0.1", LOCAL_BULK_PORT)?.skippedSockets).toBe(2);

    // Another service in the same pod is still redirected.
    expect(await client("127.0.0.1", LOCAL_RPC_PORT, 65_536)).toMatchObject({ ok: true });
    const s3 = await status(pinDir);
    const rpc = delta(s3.counters, s2.counters);
    expect(rpc).toMatchObject({ socketsAdded: 2, bulkSkips: 0, bulkLearned: 0 });
    expect(rpc.ingressBytes).toBeGreaterThanOrEqual(2 * 65_536);
    expect(find(s3.bulkServices, "127.0.0.1", LOCAL_RPC_PORT)).toBeUndefined();
  });

  test("through the sidecar (REDIRECT to 15001) the service is keyed by the original destination", async () => {
    const s0 = await status(pinDir);
    expect(await client(SVC_IP, UPSTREAM_BULK_PORT, BULK_SIZE)).toMatchObject({ ok: true });
    const s1 = await status(pinDir);
    const first = delta(s1.counters, s0.counters);
    expect(first.pairsCreated).toBe(1);
    expect(first.policySkips).toBeGreaterThanOrEqual(1);
    expect(first.bulkLearned).toBeGreaterThanOrEqual(1);
    expect(find(s1.bulkServices, SVC_IP, UPSTREAM_BULK_PORT), JSON.stringify(s1.bulkServices)).toMatchObject({
      active: true,
    });
    expect(s1.bulkServices.some((s) => s.port === 15001)).toBe(false);

    // The app's socket, the sidecar's accepted socket and the sidecar's upstream socket all name
    // SVC_IP:9400 (the app's through the pairing with mc_orig): none enters the sockhash.
    expect(await client(SVC_IP, UPSTREAM_BULK_PORT, BULK_SIZE)).toMatchObject({ ok: true });
    const s2 = await status(pinDir);
    expect(delta(s2.counters, s1.counters)).toMatchObject({
      socketsAdded: 0,
      bulkSkips: 3,
      pairsCreated: 0,
      egressBytes: 0,
      passedBytes: 0,
    });

    // The same upstream IP on another port is still paired and redirected.
    expect(await client(SVC_IP, SVC_PORT, 65_536)).toMatchObject({ ok: true });
    const s3 = await status(pinDir);
    const rpc = delta(s3.counters, s2.counters);
    expect(rpc).toMatchObject({ pairsCreated: 1, bulkSkips: 0, bulkLearned: 0 });
    expect(rpc.egressBytes).toBeGreaterThanOrEqual(2 * 65_536);
  });

  test("learning off (TTL 0) keeps the stream-limit behaviour for every connection", async () => {
    const off = await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, bulkTtlSeconds: 0 });
    expect(off).toMatchObject({ changed: true, config: { bulkTtlSeconds: 0 } });
    for (let i = 0; i < 2; i++) {
      const s0 = await status(pinDir);
      expect(await client("127.0.0.1", LOCAL_BULK_PORT, BULK_SIZE)).toMatchObject({ ok: true });
      const s1 = await status(pinDir);
      const d = delta(s1.counters, s0.counters);
      expect(d).toMatchObject({ socketsAdded: 2, bulkSkips: 0, bulkLearned: 0 });
      expect(d.policySkips).toBeGreaterThanOrEqual(1);
      expect(d.passedBytes).toBeGreaterThan(0);
      // Entries learned before stay listed, but nothing is active.
      expect(s1.bulkServices.every((s) => !s.active)).toBe(true);
    }
  });

  test("an expired service is accelerated again and re-learned", async () => {
    await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, bulkTtlSeconds: 1 });
    // The kernel and status compare ages on the same clock (CLOCK_MONOTONIC).
    const expired = await waitFor(async () => {
      const s = await status(pinDir);
      return find(s.bulkServices, "127.0.0.1", LOCAL_BULK_PORT)?.active === false;
    });
    expect(expired).toBe(true);
    const s0 = await status(pinDir);
    expect(await client("127.0.0.1", LOCAL_BULK_PORT, BULK_SIZE)).toMatchObject({ ok: true });
    const s1 = await status(pinDir);
    const d = delta(s1.counters, s0.counters);
    expect(d.socketsAdded).toBe(2);
    expect(d.bulkLearned).toBeGreaterThanOrEqual(1);
    expect(find(s1.bulkServices, "127.0.0.1", LOCAL_BULK_PORT)?.streams).toBeGreaterThan(
      find(s0.bulkServices, "127.0.0.1", LOCAL_BULK_PORT)?.streams ?? 0,
    );
    await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
  });

  test("skipped sockets leave no pairing entries; disable leaves nothing, mc_bulk included", async () => {
    const drained = await waitFor(async () => {
      const s = await getEbpfStatus({ pinDir });
      const entries = Object.fromEntries(s.maps.map((m) => [m.name, m.entries]));
      return (
        entries.mc_pairs === 0 && entries.mc_orig === 0 && entries.mc_socks === 0 && entries.mc_flows === 0
      );
    });
    const before = await getEbpfStatus({ pinDir });
    expect(drained, JSON.stringify(before.maps)).toBe(true);
    const bulkMap = before.maps.find((m) => m.name === "mc_bulk");
    expect(bulkMap?.entries).toBeGreaterThanOrEqual(2);

    const disabled = await disableEbpfAcceleration({ pinDir });
    expect(disabled).toMatchObject({ changed: true, openSockets: 0 });
    expect(disabled.lingering).toEqual({ programIds: [], mapIds: [] });
    expect(disabled.removedPins).toContain(`${pinDir}/maps/mc_bulk`);
    await expect(access(pinDir)).rejects.toThrow();
    const gone = await runCommand("bpftool", ["map", "show", "id", String(bulkMap?.id)], { reject: false });
    expect(gone.exitCode).not.toBe(0);
    expect((await getEbpfStatus({ pinDir })).state).toBe("disabled");
    // Connections after disable are plain TCP and intact.
    expect(await client("127.0.0.1", LOCAL_BULK_PORT, 1 << 20)).toMatchObject({ ok: true });
  });
});
