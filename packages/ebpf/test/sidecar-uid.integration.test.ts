/**
 * Real-kernel tests of the sidecar-uid filter (`sidecarUid`, `--sidecar-uid`): with it, only
 * connections with one socket owned by the sidecar's uid are accelerated (app <-> sidecar, both
 * directions); an app <-> app pair in the same pod stays on TCP, and its client socket, which
 * entered the sockhash before its peer was known, is taken back out.
 */
import { SIDECAR_UID } from "@meshctl/pod";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  disableEbpfAcceleration,
  type EbpfCounters,
  enableEbpfAcceleration,
  getEbpfStatus,
} from "../src/index.js";
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
} from "./lab.js";

const skipReason = (await labPrerequisites()) ?? (await envoyPrerequisite());
if (skipReason) console.warn(`skipping sidecar-uid filter tests: ${skipReason}`);

/** The app (root) listens here; the sidecar's inbound 15006 forwards to it. */
const APP_PORT = 8080;
/** A second app process (root) in the same pod, reached on 127.0.0.1 without the sidecar. */
const OTHER_APP_PORT = 9500;
const SIZE = 256 * 1024;

function delta(after: EbpfCounters, before: EbpfCounters) {
  return {
    socketsAdded: after.socketsAdded - before.socketsAdded,
    ownerSkips: after.ownerSkips - before.ownerSkips,
    ingressBytes: after.ingress.bytes - before.ingress.bytes,
    egressBytes: after.egress.bytes - before.egress.bytes,
    pairsCreated: after.pairsCreated - before.pairsCreated,
  };
}

describe.skipIf(skipReason)("sidecar-uid filter", () => {
  const lab = new Lab(`u${process.pid % 1000}`);
  const pinDir = `/sys/fs/bpf/mce-test-${process.pid}-u`;
  let cgroup = "";
  let pod: Pod;

  beforeAll(async () => {
    ({ pod, cgroup } = await lab.sidecarPod("pu", APP_PORT));
    await (await lab.peer(pod, ["server", "--host", "127.0.0.1", "--port", String(OTHER_APP_PORT)])).next();
    // No stream limit and no learning: only the uid filter decides here.
    const enabled = await enableEbpfAcceleration({
      cgroupPath: cgroup,
      pinDir,
      maxStreamBytes: 0,
      bulkTtlSeconds: 0,
      sidecarUid: SIDECAR_UID,
    });
    expect(enabled.config.sidecarUid).toBe(SIDECAR_UID);
  });

  afterAll(() => teardown(lab, pinDir));

  /** Two root-owned processes of the pod over 127.0.0.1, no sidecar involved; bytes checked by the peer. */
  const appToApp = async () => {
    const before = await counters(pinDir);
    const result = await runClient(lab, pod, [
      "--host",
      "127.0.0.1",
      "--port",
      String(OTHER_APP_PORT),
      "--size",
      String(SIZE),
    ]);
    expect(result).toMatchObject({ ok: true });
    return delta(await counters(pinDir), before);
  };

  test("egress (app -> 15001, Envoy's accepted socket is uid 1337) is accelerated", async () => {
    const before = await counters(pinDir);
    const result = await runClient(lab, pod, [
      "--host",
      SVC_IP,
      "--port",
      String(SVC_PORT),
      "--size",
      String(SIZE),
    ]);
    expect(result).toMatchObject({ ok: true });
    const d = delta(await counters(pinDir), before);
    expect(d.pairsCreated).toBe(1);
    expect(d.egressBytes).toBeGreaterThanOrEqual(2 * SIZE);
    expect(d.ownerSkips).toBe(0);
  });

  test("ingress (sidecar -> app, the client socket is uid 1337) is accelerated", async () => {
    const before = await counters(pinDir);
    const result = await runClient(lab, pod.world, [
      "--host",
      pod.ip,
      "--port",
      String(APP_PORT),
      "--size",
      String(SIZE),
    ]);
    expect(result).toMatchObject({ ok: true });
    const d = delta(await counters(pinDir), before);
    expect(d.ingressBytes).toBeGreaterThanOrEqual(2 * SIZE);
    expect(d.ownerSkips).toBe(0);
  });

  test("app -> app on 127.0.0.1 (neither end uid 1337) stays on TCP, bytes intact", async () => {
    const d = await appToApp();
    // The client's socket entered provisionally (its owner is root, its peer not yet known); the
    // server's end kept itself out and took the client's back out of the sockhash.
    expect(d).toMatchObject({ socketsAdded: 1, ownerSkips: 2, ingressBytes: 0, egressBytes: 0 });
  });

  test("without the filter the same app -> app pair is accelerated (the filter made the difference)", async () => {
    await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir, maxStreamBytes: 0, bulkTtlSeconds: 0 });
    const d = await appToApp();
    expect(d).toMatchObject({ socketsAdded: 2, ownerSkips: 0 });
    expect(d.ingressBytes).toBeGreaterThanOrEqual(2 * SIZE);
  });

  test("disable leaves nothing behind, mc_owner included", async () => {
    await disableEbpfAcceleration({ pinDir, force: true, drainTimeoutMs: 0 });
    const status = await getEbpfStatus({ pinDir });
    expect(status.state).toBe("disabled");
    expect(status.attachments).toEqual([]);
    expect(status.maps).toEqual([]);
  });
});
