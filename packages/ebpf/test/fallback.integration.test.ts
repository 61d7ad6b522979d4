/**
 * Real-kernel tests of the fallback path (ADR 0025): connections that leave acceleration, after a
 * plain disable or after crossing the stream limit, are never slower than plain TCP for
 * request/response, with and without TCP_NODELAY, and lose no byte. Latency is compared with a
 * plain TCP connection of the same process, as a ratio of medians, never against a fixed time.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { disableEbpfAcceleration, enableEbpfAcceleration, getEbpfStatus } from "../src/index.js";
import {
  compileFallbackPeer,
  counters,
  Lab,
  labPrerequisites,
  type Pod,
  type Proc,
  teardown,
  waitFor,
} from "./lab.js";

const skipReason = await labPrerequisites();
if (skipReason) console.warn(`skipping eBPF fallback tests: ${skipReason}`);

/** A stall of Nagle + delayed ACK is ~40 ms against ~0.04 ms: 1,000x. Twice plain TCP is the bound. */
const MAX_RATIO = 2;
const ROUNDS = 3;

interface RrAnswer {
  name: string;
  p50Us: number;
  p99Us: number;
  error?: string;
}

describe.skipIf(skipReason)("fallback to TCP: request/response never slower than plain TCP", () => {
  const lab = new Lab(`f${process.pid % 1000}`);
  const pinDir = `/sys/fs/bpf/mce-test-${process.pid}-f`;
  let cgroup = "";
  let pod: Pod;
  let peer: Proc;
  let seq = 0;

  const ask = async (line: string): Promise<Record<string, unknown>> => {
    peer.send(line);
    const answer = await peer.next(60_000);
    expect(answer.error, line).toBeUndefined();
    return answer;
  };
  const open = async (nodelay: boolean): Promise<string> => {
    const name = `c${++seq}`;
    await ask(`open ${name} ${nodelay ? 1 : 0}`);
    return name;
  };
  const rr = async (name: string): Promise<RrAnswer> =>
    (await ask(`rr ${name} 300 1024 65536 ${seq}`)) as unknown as RrAnswer;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  /** Interleaved rounds of 300 round trips (1-64 KiB) on `name` and on a plain connection. */
  const ratioToPlain = async (name: string, plain: string): Promise<{ ratio: number; p50Us: number }> => {
    const mine: number[] = [];
    const base: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const pair = round % 2 ? [plain, name] : [name, plain];
      for (const conn of pair) (conn === name ? mine : base).push((await rr(conn)).p50Us);
    }
    return { ratio: median(mine) / median(base), p50Us: median(mine) };
  };

  beforeAll(async () => {
    cgroup = await lab.cgroup("fallback");
    pod = await lab.pod("f", cgroup);
    peer = lab.spawnIn(pod, [await compileFallbackPeer(lab)]);
    expect(await peer.next()).toMatchObject({ ready: true });
  }, 60_000);

  afterAll(() => teardown(lab, pinDir));

  for (const nodelay of [false, true]) {
    const label = nodelay ? "TCP_NODELAY" : "Nagle on (no TCP_NODELAY)";

    test(`${label}: connections open at a plain disable`, async () => {
      try {
        const plain = await open(nodelay); // opened before enable: never in the sockhash
        await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
        const idle = await open(nodelay);
        const busy = await open(nodelay);
        const before = await counters(pinDir);
        await rr(idle);
        expect((await counters(pinDir)).ingress.messages - before.ingress.messages).toBeGreaterThanOrEqual(
          600,
        );

        // `busy` exchanges data while disable waits; `idle` does not.
        peer.send(`rr ${busy} 60000 1024 4096 1`);
        const disabled = await disableEbpfAcceleration({ pinDir });
        const busyRun = await peer.next(120_000);
        expect(busyRun.error).toBeUndefined();
        expect(disabled.releasedSockets, "busy's two sockets left the sockhash").toBeGreaterThanOrEqual(2);
        expect(disabled.openSockets, "idle's two sockets are still in it").toBeGreaterThanOrEqual(2);

        const idleRatio = await ratioToPlain(idle, plain);
        const busyRatio = await ratioToPlain(busy, plain);
        console.log(
          `fallback after disable (${label}): idle ${idleRatio.ratio.toFixed(2)}x plain, released ${busyRatio.ratio.toFixed(2)}x plain`,
        );
        expect(idleRatio.ratio).toBeLessThan(MAX_RATIO);
        expect(busyRatio.ratio).toBeLessThan(MAX_RATIO);
      } finally {
        await disableEbpfAcceleration({ pinDir });
      }
    }, 120_000);

    test(`${label}: after one direction crossed the stream limit (default policy)`, async () => {
      try {
        const plain = await open(nodelay);
        await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
        const big = await open(nodelay);
        const before = await counters(pinDir);
        await ask(`echo ${big} 1048576`);
        const crossed = await counters(pinDir);
        // The request crosses 256 KiB; the echo may too, or go out plain when the server's socket was
        // already released by the time it answers.
        expect(crossed.policySkips - before.policySkips).toBeGreaterThanOrEqual(1);

        const { ratio } = await ratioToPlain(big, plain);
        const after = await counters(pinDir);
        console.log(`fallback after the stream limit (${label}): ${ratio.toFixed(2)}x plain`);
        expect(after.socketsReleased - before.socketsReleased, "both sockets are plain TCP again").toBe(2);
        // Once released, the round trips no longer touch the sk_msg program at all.
        expect(after.passedMessages - crossed.passedMessages).toBeLessThanOrEqual(4);
        expect(after.coalesceFails).toBe(0);
        expect(ratio).toBeLessThan(MAX_RATIO);
      } finally {
        await disableEbpfAcceleration({ pinDir });
      }
    }, 120_000);
  }

  test("a release waits until the application has read what was redirected to it: no byte lost", async () => {
    try {
      await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir });
      const sink = await lab.peer(pod, ["sink", "--host", "127.0.0.1", "--port", "9200", "--hold"]);
      await sink.next();
      const before = await counters(pinDir);
      const inSockhash = async () =>
        (await getEbpfStatus({ pinDir })).maps.find((m) => m.name === "mc_socks")?.entries ?? -1;
      // 2 MB in 16 KiB writes, unread: the first 256 KiB are redirected into the sink's queue, the
      // rest crosses the stream limit and arrives through TCP.
      const push = await lab.peer(pod, ["push", "--port", "9200", "--size", "2000000", "--chunk", "16384"]);
      expect(await sink.next()).toMatchObject({ accepted: true });
      await waitFor(async () => (await counters(pinDir)).policySkips > before.policySkips);
      // The sink answers through TCP (its peer is on TCP), and its ACK finds 256 KiB still unread.
      sink.send("say");
      expect(await sink.next()).toMatchObject({ said: true });
      expect(
        await waitFor(async () => (await counters(pinDir)).releaseDeferred > before.releaseDeferred),
      ).toBe(true);
      expect(
        await inSockhash(),
        "the sink's socket stays while bytes wait in its queue",
      ).toBeGreaterThanOrEqual(1);

      sink.send("read");
      const pushed = await push.next();
      push.send("finish");
      expect(await sink.next(60_000)).toMatchObject({ received: 2_000_000, sha256: pushed.sha256 });
      // Everything read: the next acknowledged answer releases it.
      sink.send("say");
      expect(await sink.next()).toMatchObject({ said: true });
      const drained = await waitFor(async () => (await inSockhash()) === 0);
      expect(drained).toBe(true);
      const after = await counters(pinDir);
      expect(after.socketsReleased - before.socketsReleased).toBe(2);
      sink.send("close");
      await push.wait(10_000);
    } finally {
      await disableEbpfAcceleration({ pinDir });
    }
  }, 90_000);
});
