import { runCommand } from "@meshctl/core";
import type { PodNetwork } from "./types.js";

/** How the node namespace of a pod network becomes the pods' gateway. */
export interface NodeRoutes {
  /** Address the bridge gets inside the node namespace, in the network's subnet: every pod's default gateway. */
  readonly gatewayIp: string;
  /**
   * Addresses (/32) put on the node namespace's loopback, e.g. a Service VIP: every pod reaches them
   * through its default route, and processes started in the node namespace can listen on them.
   */
  readonly nodeAddresses?: readonly string[];
}

/**
 * Makes the node namespace of a built pod network the pods' gateway, as a Kubernetes node is to
 * its pods: the bridge gets `gatewayIp`, each pod a default route through it, and the node's
 * loopback the `nodeAddresses`. A process in the node namespace then serves "the outside world" at
 * those addresses and reaches every pod by its IP. The node only delivers locally (no forwarding,
 * no NAT): nothing becomes reachable from or to the host.
 *
 * @example
 * await buildPodNetwork(network);
 * await routePodsViaNode(network, { gatewayIp: "10.213.9.1", nodeAddresses: ["10.96.0.10"] });
 * spawnInPod({ netns: network.nodeNetns, cgroup: worldCgroup }, ["node", "echo.js", "--host", "10.96.0.10"]);
 */
export async function routePodsViaNode(network: PodNetwork, routes: NodeRoutes): Promise<void> {
  const prefix = network.subnet.split("/")[1];
  const node = [
    `addr add ${routes.gatewayIp}/${prefix} dev ${network.bridge}`,
    ...(routes.nodeAddresses ?? []).map((address) => `addr add ${address}/32 dev lo`),
  ];
  await runCommand("ip", ["-n", network.nodeNetns, "-batch", "-"], {
    input: `${node.join("\n")}\n`,
    timeoutMs: 15_000,
  });
  for (const pod of network.pods) {
    await runCommand("ip", ["-n", pod.netns, "route", "add", "default", "via", routes.gatewayIp], {
      timeoutMs: 15_000,
    });
  }
}
