/**
 * The static Envoy sidecar on the real kernel: a meshed pod (capture rules, Envoy as uid 1337)
 * routed through its node namespace, which holds a "service" address. Proves the bootstrap's
 * listeners do what Istio's do: the app's outbound connections leave through PassthroughCluster
 * from the pod IP, inbound ones reach the app from 127.0.0.6.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { findProgram, runCommand, type SpawnedProgram } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createCgroup, findCgroup2Root, removeCgroupTree } from "./cgroup.js";
import { renderStaticSidecarBootstrap } from "./envoy-static.js";
import { buildPodNetwork, destroyPodNetwork } from "./netns.js";
import { routePodsViaNode } from "./node-routes.js";
import { podCommand, spawnInPod, waitForListening } from "./process.js";
import { ENVOY_ADMIN_PORT, startEnvoySidecar } from "./sidecar.js";
import type { PodNetwork } from "./types.js";

async function skipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "not root";
  for (const tool of ["envoy", "ip", "iptables-restore", "nsenter", "setpriv", "ss", "curl"]) {
    if (!(await findProgram(tool))) return `${tool} not installed`;
  }
  return findCgroup2Root().then(
    () => undefined,
    () => "no cgroup2 mount",
  );
}
const skip = await skipReason();
if (skip) console.warn(`skipping the static Envoy sidecar test: ${skip}`);

const SERVICE_IP = "10.96.0.20";
const POD_IP = "10.215.0.10";
/** Served by the app and named in the bootstrap (inbound|8080||). */
const APP_PORT = 8080;
/** Served by the app but not named in the bootstrap: InboundPassthroughCluster. */
const OTHER_PORT = 7000;

/** Listens on each host:port and answers every connection with the peer address it sees. */
const WHO_SERVER = `const net = require("node:net");
for (const spec of process.argv.slice(1)) {
  const [host, port] = spec.split(",");
  net.createServer((s) => s.end(s.remoteAddress + "\\n")).listen(Number(port), host);
}`;
const WHO_CLIENT = `const s = require("node:net").connect(Number(process.argv[2]), process.argv[1]);
let got = ""; s.on("data", (d) => { got += d; }); s.on("end", () => process.stdout.write(got.trim()));`;

describe.skipIf(skip)("static Envoy sidecar in a pod routed through its node", () => {
  const id = `mcp-${process.pid % 10_000}`;
  const workDir = `/tmp/${id}`;
  let cgroupParent = "";
  let network: PodNetwork;
  let node: { netns: string; cgroup: string };
  const programs: SpawnedProgram[] = [];

  /** Dials host:port from `where` and returns the peer address the server saw. */
  const whoAmI = async (where: { netns: string; cgroup: string }, host: string, port: number) => {
    const { command, args } = podCommand(where, [process.execPath, "-e", WHO_CLIENT, host, String(port)]);
    return (await runCommand(command, args, { timeoutMs: 15_000 })).stdout;
  };
  const adminStat = async (name: string) => {
    const stats = await runCommand(
      "ip",
      ["netns", "exec", network.pods[0]!.netns, "curl", "-sf", `http://127.0.0.1:${ENVOY_ADMIN_PORT}/stats`],
      { timeoutMs: 10_000 },
    );
    const line = stats.stdout.split("\n").find((l) => l.startsWith(`${name}: `));
    return Number(line?.split(": ")[1] ?? Number.NaN);
  };

  beforeAll(async () => {
    cgroupParent = join(await findCgroup2Root(), id);
    node = { netns: `${id}-node`, cgroup: join(cgroupParent, "node") };
    network = {
      nodeNetns: node.netns,
      bridge: "br0",
      subnet: "10.215.0.0/24",
      pods: [
        {
          netns: `${id}-app`,
          ip: POD_IP,
          bridgePort: "vapp",
          cgroup: join(cgroupParent, "app"),
          sidecar: { outboundPort: 15001, inboundPort: 15006 },
        },
      ],
    };
    const pod = network.pods[0]!;
    await mkdir(workDir, { recursive: true, mode: 0o755 });
    for (const cgroup of [node.cgroup, pod.cgroup]) await createCgroup(cgroup);
    await buildPodNetwork(network);
    await routePodsViaNode(network, { gatewayIp: "10.215.0.1", nodeAddresses: [SERVICE_IP] });
    programs.push(spawnInPod(node, [process.execPath, "-e", WHO_SERVER, `${SERVICE_IP},80`]));
    programs.push(
      spawnInPod(pod, [process.execPath, "-e", WHO_SERVER, `0.0.0.0,${APP_PORT}`, `0.0.0.0,${OTHER_PORT}`]),
    );
    expect(await waitForListening(node.netns, [80], 10_000)).toBe(true);
    expect(await waitForListening(pod.netns, [APP_PORT, OTHER_PORT], 10_000)).toBe(true);
    const sidecar = await startEnvoySidecar(pod, {
      name: "app",
      workDir,
      bootstrap: renderStaticSidecarBootstrap({ appPorts: [APP_PORT] }),
      threads: 2,
      ports: [ENVOY_ADMIN_PORT, 15001, 15006],
    });
    programs.push(sidecar.program);
  }, 60_000);

  afterAll(async () => {
    for (const program of programs) program.kill("SIGKILL");
    try {
      if (network) await destroyPodNetwork(network);
    } finally {
      if (cgroupParent) await removeCgroupTree(cgroupParent);
      await rm(workDir, { recursive: true, force: true });
    }
  });

  test("the app reaches the node's service through 15001 and PassthroughCluster, from the pod IP", async () => {
    const before = await adminStat("cluster.PassthroughCluster.upstream_cx_total");
    expect(await whoAmI(network.pods[0]!, SERVICE_IP, 80)).toBe(POD_IP);
    expect(await adminStat("cluster.PassthroughCluster.upstream_cx_total")).toBe(before + 1);
  });

  test("the node reaches the app port through 15006: the app sees 127.0.0.6", async () => {
    const before = await adminStat("cluster.inbound|8080||.upstream_cx_total");
    expect(await whoAmI(node, POD_IP, APP_PORT)).toBe("127.0.0.6");
    expect(await adminStat("cluster.inbound|8080||.upstream_cx_total")).toBe(before + 1);
  });

  test("a port the bootstrap does not name passes through to the original destination, from 127.0.0.6", async () => {
    const before = await adminStat("cluster.InboundPassthroughCluster.upstream_cx_total");
    expect(await whoAmI(node, POD_IP, OTHER_PORT)).toBe("127.0.0.6");
    expect(await adminStat("cluster.InboundPassthroughCluster.upstream_cx_total")).toBe(before + 1);
  });
});
