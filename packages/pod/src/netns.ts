import { errorMessage, runCommand, runJson } from "@meshctl/core";
import { renderCaptureRules } from "./iptables.js";
import { type PodNetwork, SIDECAR_UID } from "./types.js";

async function ipBatch(netns: string | undefined, lines: readonly string[]): Promise<void> {
  const args = netns ? ["-n", netns, "-batch", "-"] : ["-batch", "-"];
  await runCommand("ip", args, { input: `${lines.join("\n")}\n`, timeoutMs: 15_000 });
}

/**
 * Builds a pod network: a node namespace holding a bridge, and one namespace per pod wired to it
 * with a veth pair (`eth0` inside the pod). Pods with a sidecar get istio-init capture rules.
 * Addresses are a private subnet that exists only inside these namespaces: nothing is routed to or
 * from the host.
 *
 * @example
 * await buildPodNetwork(plan);
 */
export async function buildPodNetwork(plan: PodNetwork): Promise<void> {
  const prefix = plan.subnet.split("/")[1];
  await ipBatch(undefined, [`netns add ${plan.nodeNetns}`, ...plan.pods.map((p) => `netns add ${p.netns}`)]);
  await ipBatch(plan.nodeNetns, [
    "link set lo up",
    `link add ${plan.bridge} type bridge`,
    `link set ${plan.bridge} up`,
    ...plan.pods.flatMap((p) => [
      `link add ${p.bridgePort} type veth peer name eth0 netns ${p.netns}`,
      `link set ${p.bridgePort} master ${plan.bridge}`,
      `link set ${p.bridgePort} up`,
    ]),
  ]);
  for (const pod of plan.pods) {
    await ipBatch(pod.netns, ["link set lo up", `addr add ${pod.ip}/${prefix} dev eth0`, "link set eth0 up"]);
    if (pod.sidecar) {
      await runCommand("ip", ["netns", "exec", pod.netns, "iptables-restore", "--noflush"], {
        input: renderCaptureRules({
          proxyUid: SIDECAR_UID,
          proxyGid: SIDECAR_UID,
          outboundPort: pod.sidecar.outboundPort,
          inboundPort: pod.sidecar.inboundPort,
        }),
        timeoutMs: 15_000,
      });
    }
  }
}

/** Pids of the processes living in a network namespace. */
export async function netnsPids(netns: string): Promise<number[]> {
  const result = await runCommand("ip", ["netns", "pids", netns], { reject: false, timeoutMs: 5_000 });
  if (result.exitCode !== 0) return [];
  return result.stdout
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 1);
}

/**
 * Kills whatever still runs in a namespace and deletes it (its veths and bridge go with it).
 * Resolves true when this call deleted it, false when it was already gone (teardown is
 * idempotent); throws when it still exists afterwards, e.g. without the privilege to delete it.
 *
 * @example
 * await deleteNetns("mcl-1a2b-direct-client");
 */
export async function deleteNetns(netns: string): Promise<boolean> {
  for (const pid of await netnsPids(netns)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  try {
    await runCommand("ip", ["netns", "delete", netns], { timeoutMs: 10_000 });
    return true;
  } catch (error) {
    // `ip` fails alike for "no such namespace" and "not permitted": the list tells them apart.
    if ((await listNetns()).includes(netns)) throw error;
    return false;
  }
}

/** Names of all network namespaces on the machine. */
export async function listNetns(): Promise<string[]> {
  const list = await runJson<{ name: string }[] | null>("ip", ["-j", "netns", "list"], { timeoutMs: 5_000 });
  return (list ?? []).map((n) => n.name);
}

/**
 * Tears a pod network down: pods first, then the node namespace with the bridge. Idempotent.
 *
 * @example
 * await destroyPodNetwork(plan);
 */
export async function destroyPodNetwork(plan: PodNetwork): Promise<void> {
  const existing = new Set(await listNetns());
  const failures: unknown[] = [];
  // One namespace that will not go must not keep the others (and the bridge's) alive.
  for (const netns of [...plan.pods.map((p) => p.netns), plan.nodeNetns]) {
    if (!existing.has(netns)) continue;
    await deleteNetns(netns).catch((error: unknown) => failures.push(error));
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, failures.map(errorMessage).join("; "));
}
