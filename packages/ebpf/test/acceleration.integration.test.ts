/**
 * Real-kernel tests: pods from network namespaces (@meshctl/pod), Envoy as the sidecar, istio-init
 * capture rules, and meshctl's programs attached to a dedicated test cgroup (never the cgroup root).
 */
import { access } from "node:fs/promises";
import { runCommand } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { disableEbpfAcceleration, enableEbpfAcceleration, getEbpfStatus } from "../src/index.js";
import {
  counters,
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

const skipReason = await labPrerequisites();
if (skipReason) console.warn(`skipping eBPF real-kernel tests: ${skipReason}`);
const noEnvoy = skipReason ?? (await envoyPrerequisite());
if (noEnvoy && !skipReason) console.warn(`skipping the eBPF tests with a sidecar: ${noEnvoy}`);

const APP_PORT = 8080;

async function alive(kind: "prog" | "map", id: number): Promise<boolean> {
  return (await runCommand("bpftool", [kind, "show", "id", String(id)], { reject: false })).exitCode === 0;
}

describe.skipIf(noEnvoy)("sidecar pod (Envoy): egress via REDIRECT to 15001, ingress via 15006", () => {
  const lab = new Lab(`a${process.pid % 1000}`);
  const pinDir = `/sys/fs/bpf/mce-test-${process.pid}-a`;
  let cgroup = "";
  let pod: Pod;

  beforeAll(async () => {
    ({ pod, cgroup } = await lab.sidecarPod("p1", APP_PORT));
    // No bulk policy first: every byte of every size must take the sk_msg path.
    await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, maxStreamBytes: 0 });
  });

  afterAll(() => teardown(lab, pinDir));

  test("enable is idempotent and status shows the attachment", async () => {
    const again = await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, maxStreamBytes: 0 });
    expect(again.changed).toBe(false);
    const status = await getEbpfStatus({ pinDir });
    expect(status.state).toBe("enabled");
    expect(status.attachments.map((a) => a.cgroupPath)).toEqual([cgroup]);
    expect(status.programs.map((p) => p.name).sort()).toEqual(["mc_redir", "mc_sockops"]);
    expect(status.foreignPrograms).toEqual([]);
  });

  test("egress: bytes arrive intact from 1 B to 4 MiB with half-close, and were redirected", async () => {
    const before = await counters(pinDir);
    const sizes = [1, 1024, 65_536, 1 << 20, 4 << 20];
    for (const size of sizes) {
      const result = await runClient(lab, pod, [
        "--host",
        SVC_IP,
        "--port",
        String(SVC_PORT),
        "--size",
        String(size),
      ]);
      expect(result, `size ${size}`).toMatchObject({ ok: true });
    }
    const after = await counters(pinDir);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(after.pairsCreated - before.pairsCreated).toBeGreaterThanOrEqual(sizes.length);
    // app -> sidecar requests and sidecar -> app responses both went socket to socket.
    expect(after.egress.bytes - before.egress.bytes).toBeGreaterThanOrEqual(2 * total);
    expect(after.egress.messages - before.egress.messages).toBeGreaterThan(0);
  });

  test("ingress: world -> pod through 15006 to the app, redirected sidecar <-> app", async () => {
    const before = await counters(pinDir);
    const sizes = [1, 16_384, 1 << 20, 3 << 20];
    for (const size of sizes) {
      const result = await runClient(lab, pod.world, [
        "--host",
        pod.ip,
        "--port",
        String(APP_PORT),
        "--size",
        String(size),
      ]);
      expect(result, `size ${size}`).toMatchObject({ ok: true });
    }
    const after = await counters(pinDir);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(after.ingress.bytes - before.ingress.bytes).toBeGreaterThanOrEqual(2 * total);
    expect(after.egress.bytes - before.egress.bytes).toBe(0);
  });

  test("1,000 concurrent connections through the sidecar", async () => {
    const before = await counters(pinDir);
    const result = await runClient(lab, pod, [
      "--host",
      SVC_IP,
      "--port",
      String(SVC_PORT),
      "--size",
      "16384",
      "--conns",
      "1000",
    ]);
    expect(result).toMatchObject({ ok: true, failed: 0 });
    const after = await counters(pinDir);
    expect(after.pairsCreated - before.pairsCreated).toBeGreaterThanOrEqual(1000);
    expect(after.egress.bytes - before.egress.bytes).toBeGreaterThan(1000 * 16_384);
  }, 120_000);

  test("the bulk policy moves a long one-way stream to TCP mid-connection without corrupting it", async () => {
    const reconfigured = await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
    expect(reconfigured.changed).toBe(true);
    expect(reconfigured.config.maxStreamBytes).toBe(256 * 1024);
    const before = await counters(pinDir);
    const size = 4 << 20;
    const result = await runClient(lab, pod, [
      "--host",
      SVC_IP,
      "--port",
      String(SVC_PORT),
      "--size",
      String(size),
    ]);
    expect(result).toMatchObject({ ok: true });
    const after = await counters(pinDir);
    expect(after.policySkips - before.policySkips).toBeGreaterThanOrEqual(1);
    expect(after.passedBytes - before.passedBytes).toBeGreaterThan(0);
    // The echo follows its peer to TCP instead of redirecting (ADR 0025), or its socket already left
    // the sockhash: at most the bytes sent before the switch were redirected.
    const followed = after.peerFallbacks - before.peerFallbacks;
    expect(followed + after.socketsReleased - before.socketsReleased).toBeGreaterThanOrEqual(1);
    expect(after.egress.bytes - before.egress.bytes).toBeLessThan(2 * size);
  });

  test("excluded ports keep both the app's and the sidecar's sockets out of the sockhash", async () => {
    await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, excludePorts: [SVC_PORT] });
    const before = await counters(pinDir);
    const result = await runClient(lab, pod, [
      "--host",
      SVC_IP,
      "--port",
      String(SVC_PORT),
      "--size",
      "100000",
    ]);
    expect(result).toMatchObject({ ok: true });
    const after = await counters(pinDir);
    // app -> svc:80 (excluded port), the sidecar's socket accepted on 15001 for it (original
    // destination :80), and the sidecar's upstream socket to :80: none pays the sk_msg cost.
    expect(after.socketsSkipped - before.socketsSkipped).toBe(3);
    expect(after.socketsAdded - before.socketsAdded).toBe(0);
    expect(after.egress.bytes - before.egress.bytes).toBe(0);
    expect(after.passedBytes - before.passedBytes).toBe(0);
  });

  test("pairing entries and sockets are removed when connections close", async () => {
    const drained = await waitFor(async () => {
      const status = await getEbpfStatus({ pinDir });
      const entries = Object.fromEntries(status.maps.map((m) => [m.name, m.entries]));
      return (
        entries.mc_pairs === 0 && entries.mc_orig === 0 && entries.mc_socks === 0 && entries.mc_flows === 0
      );
    });
    const status = await getEbpfStatus({ pinDir });
    expect(drained, JSON.stringify(status.maps)).toBe(true);
  });
});

describe.skipIf(skipReason)("isolation between pods with identical 127.0.0.1 tuples", () => {
  const lab = new Lab(`b${process.pid % 1000}`);
  const pinDir = `/sys/fs/bpf/mce-test-${process.pid}-b`;
  let cgroup = "";

  beforeAll(async () => {
    cgroup = await lab.cgroup("pods");
  });

  afterAll(() => teardown(lab, pinDir));

  test("each pod only ever receives its own data", async () => {
    // Two pods on one bridge; neither is meshed.
    const [podA, podB] = (await lab.pods([
      { name: "pa", cgroup },
      { name: "pb", cgroup },
    ])) as [Pod, Pod];
    for (const [pod, tag] of [
      [podA, "A"],
      [podB, "B"],
    ] as const) {
      const server = await lab.peer(pod, ["server", "--host", "127.0.0.1", "--port", "9000", "--tag", tag]);
      await server.next();
    }
    await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
    const before = await counters(pinDir);
    for (let round = 0; round < 3; round++) {
      // Same source port in both pods: the 4-tuples are byte-identical, only the netns differs.
      const localPort = String(40_000 + round);
      const [a, b] = await Promise.all([
        runClient(lab, podA, [
          "--port",
          "9000",
          "--local-port",
          localPort,
          "--size",
          "65536",
          "--expect-tag",
          "A",
        ]),
        runClient(lab, podB, [
          "--port",
          "9000",
          "--local-port",
          localPort,
          "--size",
          "65536",
          "--expect-tag",
          "B",
        ]),
      ]);
      expect(a).toMatchObject({ ok: true });
      expect(b).toMatchObject({ ok: true });
    }
    const after = await counters(pinDir);
    expect(after.ingress.bytes - before.ingress.bytes).toBeGreaterThanOrEqual(2 * 3 * 2 * 65_536);
  });

  test("request/response with 64 KiB messages stays redirected under the default stream policy", async () => {
    const pod = await lab.pod("pr", cgroup);
    const server = await lab.peer(pod, ["server", "--host", "127.0.0.1", "--port", "9002"]);
    await server.next();
    const client = await lab.peer(pod, ["hold", "--port", "9002"]);
    expect(await client.next()).toMatchObject({ connected: true });
    const before = await counters(pinDir);
    for (let i = 0; i < 50; i++) {
      client.send("send 65536");
      expect(await client.next()).toMatchObject({ ok: true, received: 65_536 });
    }
    const after = await counters(pinDir);
    // 50 x 64 KiB each way = 6.4 MiB on one connection, far above the 256 KiB stream limit, but
    // every reply resets the one-way run.
    expect(after.policySkips - before.policySkips).toBe(0);
    expect(after.ingress.bytes - before.ingress.bytes).toBeGreaterThanOrEqual(2 * 50 * 65_536);
    client.send("close");
    await client.wait(10_000);
  });

  test("IPv6 pairs (::1) are redirected too", async () => {
    const pod = await lab.pod("p6", cgroup);
    const server = await lab.peer(pod, ["server", "--host", "::1", "--port", "9001"]);
    await server.next();
    const before = await counters(pinDir);
    const result = await runClient(lab, pod, ["--host", "::1", "--port", "9001", "--size", "100000"]);
    expect(result).toMatchObject({ ok: true });
    const after = await counters(pinDir);
    expect(after.ingress.bytes - before.ingress.bytes).toBeGreaterThanOrEqual(200_000);
  });
});

describe.skipIf(skipReason)("enable and disable around live connections", () => {
  const lab = new Lab(`c${process.pid % 1000}`);
  const pinDir = `/sys/fs/bpf/mce-test-${process.pid}-c`;

  afterAll(() => teardown(lab, pinDir));

  test("connections opened before enable and open at disable lose nothing; nothing is left after", async () => {
    const cgroup = await lab.cgroup("app");
    const pod = await lab.pod("pc", cgroup);
    const server = await lab.peer(pod, ["server", "--host", "127.0.0.1", "--port", String(APP_PORT)]);
    await server.next();
    const sink = await lab.peer(pod, ["sink", "--host", "127.0.0.1", "--port", "9100"]);
    await sink.next();

    const early = await lab.peer(pod, ["hold", "--port", String(APP_PORT)]);
    expect(await early.next()).toMatchObject({ connected: true });

    const enabled = await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
    const base = await counters(pinDir);
    early.send("send 200000");
    expect(await early.next()).toMatchObject({ ok: true, received: 200_000 });
    // The early connection was never in the sockhash: it stayed on TCP.
    expect((await counters(pinDir)).ingress.bytes - base.ingress.bytes).toBe(0);

    const late = await lab.peer(pod, ["hold", "--port", String(APP_PORT)]);
    expect(await late.next()).toMatchObject({ connected: true });
    late.send("send 200000");
    expect(await late.next()).toMatchObject({ ok: true, received: 200_000 });
    expect((await counters(pinDir)).ingress.bytes - base.ingress.bytes).toBeGreaterThanOrEqual(400_000);

    // Bytes redirected into the sink's queue but not read yet when acceleration goes away.
    const push = await lab.peer(pod, ["push", "--port", "9100", "--size", "100000"]);
    expect(await sink.next()).toMatchObject({ accepted: true });
    const pushed = await push.next();
    expect(pushed).toMatchObject({ sent: 100_000 });

    const disabled = await disableEbpfAcceleration({ pinDir, drainTimeoutMs: 200 });
    expect(disabled.changed).toBe(true);
    expect(disabled.detached.map((d) => d.cgroupPath)).toEqual([cgroup]);
    expect(disabled.openSockets).toBeGreaterThanOrEqual(4);
    await expect(access(pinDir)).rejects.toThrow();
    const attached = await runCommand("bpftool", ["-j", "cgroup", "show", cgroup]);
    expect(JSON.parse(attached.stdout || "[]")).toEqual([]);

    // Open connections keep working after disable: no loss, no hang.
    late.send("send 300000");
    expect(await late.next()).toMatchObject({ ok: true, received: 300_000 });
    early.send("send 300000");
    expect(await early.next()).toMatchObject({ ok: true, received: 300_000 });
    push.send("finish");
    sink.send("read");
    expect(await sink.next()).toMatchObject({ received: 100_000, sha256: pushed.sha256 });

    late.send("close");
    early.send("close");
    await late.wait(10_000);
    await early.wait(10_000);
    await push.wait(10_000);

    // Once the last accelerated socket is gone the kernel frees programs and maps.
    const ids = [enabled.programs.sockops.id, enabled.programs.skMsg.id];
    const gone = await waitFor(async () => {
      for (const id of ids) if (await alive("prog", id)) return false;
      for (const id of disabled.lingering.mapIds) if (await alive("map", id)) return false;
      return true;
    }, 15_000);
    expect(gone).toBe(true);
    expect((await getEbpfStatus({ pinDir })).state).toBe("disabled");
    const again = await disableEbpfAcceleration({ pinDir });
    expect(again.changed).toBe(false);
  }, 90_000);
});
