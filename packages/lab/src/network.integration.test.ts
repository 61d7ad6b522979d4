import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findProgram, runCommand } from "@meshctl/core";
import {
  buildPodNetwork,
  createCgroup,
  destroyPodNetwork,
  findCgroup2Root,
  listNetns,
  removeCgroupTree,
  spawnInPod,
  startHaproxySidecar,
  waitForListening,
} from "@meshctl/pod";
import { afterAll, describe, expect, test } from "vitest";
import { type LabPlan, planLab, podOf } from "./plan.js";

const isRoot = process.getuid?.() === 0;
const haproxy = await findProgram("haproxy");
const reason = !isRoot ? "needs root" : !haproxy ? "haproxy is not installed" : "";
if (reason) console.log(`skipped lab network test: ${reason}`);

// A peer-reporting HTTP server: it answers with the address the request came from, which tells
// whether the request went through the inbound sidecar (127.0.0.6) or straight from the client pod.
const PEER_SERVER = `require("node:http").createServer((q, r) => r.end(q.socket.remoteAddress.replace("::ffff:", ""))).listen(8080, "0.0.0.0")`;

describe.skipIf(Boolean(reason))("lab network (namespaces, bridge, capture, haproxy sidecars)", () => {
  let plan: LabPlan | undefined;

  afterAll(async () => {
    if (!plan) return;
    await removeCgroupTree(plan.cgroupBase);
    await destroyPodNetwork(plan);
    await rm(plan.workDir, { recursive: true, force: true });
    const left = (await listNetns()).filter((n) => n.startsWith(`mcl-${plan!.id}-`));
    expect(left).toEqual([]);
  });

  test("direct traffic reaches the app from the client pod; meshed traffic passes both sidecars", {
    timeout: 60_000,
  }, async () => {
    const id = randomBytes(2).toString("hex");
    plan = planLab({ id, scenarios: ["direct", "sidecar"], cgroupRoot: await findCgroup2Root() });
    await mkdir(plan.workDir, { recursive: true, mode: 0o755 });
    // Marks the lab as live, so a concurrent cleanupLabLeftovers() leaves it alone.
    await writeFile(join(plan.workDir, "owner.pid"), `${process.pid}\n`);
    for (const pod of plan.pods) await createCgroup(pod.cgroup);
    await buildPodNetwork(plan);
    for (const scenario of ["direct", "sidecar"] as const) {
      const server = podOf(plan, scenario, "server");
      spawnInPod(server, [process.execPath, "-e", PEER_SERVER]);
      expect(await waitForListening(server.netns, [8080], 10_000)).toBe(true);
    }
    for (const pod of plan.pods.filter((p) => p.sidecar))
      await startHaproxySidecar(pod, pod.sidecar!, plan.workDir);

    const get = async (scenario: "direct" | "sidecar") => {
      const client = podOf(plan!, scenario, "client");
      const server = podOf(plan!, scenario, "server");
      // A plain GET from inside the client pod (node, so the test needs no curl).
      const script = `require("node:http").get(${JSON.stringify(`http://${server.ip}:8080/`)}, (r) => r.pipe(process.stdout)).setTimeout(5000, () => process.exit(3))`;
      const r = await runCommand("ip", ["netns", "exec", client.netns, process.execPath, "-e", script]);
      return { peer: r.stdout.trim(), client };
    };
    const direct = await get("direct");
    expect(direct.peer).toBe(direct.client.ip);
    const meshed = await get("sidecar");
    expect(meshed.peer).toBe("127.0.0.6");

    // The capture rules really counted the redirected connection on the client's outbound chain.
    const client = podOf(plan, "sidecar", "client");
    const counters = await runCommand("ip", [
      "netns",
      "exec",
      client.netns,
      "iptables",
      "-t",
      "nat",
      "-L",
      "MCL_REDIRECT",
      "-v",
      "-n",
      "-x",
    ]);
    const packets = Number(counters.stdout.split("\n")[2]?.trim().split(/\s+/)[0]);
    expect(packets).toBeGreaterThan(0);
  });
});
