import { readdir } from "node:fs/promises";
import os from "node:os";
import { basename, join } from "node:path";
import { readlinkSafe } from "./inspect-process.js";

export interface HostNic {
  readonly name: string;
  /** Kernel driver bound to the device (`ixgbe`, `mlx5_core`, `virtio_net`, ...). */
  readonly driver: string | null;
  /** PCI address when the NIC is a PCI device (something DPDK could drive). */
  readonly pciAddress: string | null;
}

export interface VppHostFacts {
  readonly cpus: number;
  readonly nics: readonly HostNic[];
  /** Worker threads of the running VPP, when known (from `show threads`), else null. */
  readonly vppWorkers?: number | null;
}

export interface VppBenefitAdvice {
  readonly verdict: "likely-helps" | "unlikely-to-help" | "measure-first";
  readonly reasons: readonly string[];
}

/** Measured on a 2-vCPU VM, VPP main thread polling one core (fixtures/vpp/latency/summary.md). */
export const MEASURED_TWO_CORE_CAUTION = {
  kernelTcpP50Us: 11.2,
  vppHostStackTcpP50Us: 13.9,
  vppCutThroughTcpP50Us: 13.7,
  source: "sockperf ping-pong over loopback, 3 runs x 10 s, median of run p50s",
} as const;

/**
 * Collects what decides whether VPP can pay off on this host: CPU count and physical NICs.
 *
 * @example
 * const facts = await collectVppHostFacts();
 */
export async function collectVppHostFacts(options: { sysClassNet?: string } = {}): Promise<VppHostFacts> {
  const root = options.sysClassNet ?? "/sys/class/net";
  const nics: HostNic[] = [];
  let names: string[] = [];
  try {
    names = await readdir(root);
  } catch {
    names = [];
  }
  for (const name of names) {
    const device = await readlinkSafe(join(root, name, "device"));
    if (!device) continue; // virtual: lo, veth, bridges, tunnels
    const driver = await readlinkSafe(join(root, name, "device", "driver"));
    const pci = basename(device);
    nics.push({
      name,
      driver: driver ? basename(driver) : null,
      pciAddress: /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(pci) ? pci : null,
    });
  }
  return { cpus: os.availableParallelism?.() ?? os.cpus().length, nics };
}

const DPDK_FRIENDLY =
  /^(ixgbe|ixgbevf|i40e|iavf|ice|mlx5_core|mlx4_core|bnxt_en|ena|igb|igc|e1000e|vmxnet3|virtio_net|virtio-pci|vfio-pci|uio_pci_generic)$/;

/**
 * Says whether VPP's host stack is likely to lower sidecar latency here. VPP pays off with
 * dedicated polling cores, NICs it drives itself and many connections; on a small VM with the
 * kernel's loopback it was measured slower.
 *
 * @example
 * adviseVppBenefit({ cpus: 2, nics: [] }).verdict; // "unlikely-to-help"
 */
export function adviseVppBenefit(facts: VppHostFacts): VppBenefitAdvice {
  const reasons: string[] = [];
  const pciNics = facts.nics.filter((n) => n.pciAddress !== null);
  const drivable = pciNics.filter((n) => n.driver !== null && DPDK_FRIENDLY.test(n.driver));
  const c = MEASURED_TWO_CORE_CAUTION;
  if (facts.cpus <= 2) {
    reasons.push(
      `${facts.cpus} CPU(s): VPP's main thread polls a whole core. On a 2-vCPU VM, loopback TCP ping-pong through VPP was slower than the kernel (p50 ${c.vppHostStackTcpP50Us} µs vs ${c.kernelTcpP50Us} µs; cut-through ${c.vppCutThroughTcpP50Us} µs).`,
    );
  } else if (facts.cpus < 6) {
    reasons.push(
      `${facts.cpus} CPUs: dedicating 1-2 cores to VPP leaves little for the apps and sidecars; measure before adopting.`,
    );
  } else {
    reasons.push(`${facts.cpus} CPUs: room for a dedicated VPP main core and workers.`);
  }
  if (drivable.length === 0) {
    reasons.push(
      pciNics.length
        ? `no NIC with a DPDK-capable driver (${pciNics.map((n) => `${n.name}:${n.driver ?? "none"}`).join(", ")}); VPP would sit behind the kernel (tap/af_packet) and only pod-local cut-through could gain.`
        : "no physical (PCI) NIC: traffic still crosses the kernel to reach VPP, so only same-node cut-through sessions can gain.",
    );
  } else {
    reasons.push(
      `NICs VPP could drive itself: ${drivable.map((n) => `${n.name} (${n.driver}, ${n.pciAddress})`).join(", ")}.`,
    );
  }
  if (facts.vppWorkers === 0)
    reasons.push("the running VPP has no worker threads: all sessions share the main thread.");
  const verdict: VppBenefitAdvice["verdict"] =
    facts.cpus <= 2
      ? "unlikely-to-help"
      : facts.cpus >= 6 && drivable.length > 0
        ? "likely-helps"
        : "measure-first";
  reasons.push(
    verdict === "likely-helps"
      ? "Dedicated cores plus a NIC VPP owns and many connections per sidecar is where VPP pays off; confirm with `meshctl bench`."
      : "Measure your workload with and without VPP (`meshctl bench`) before rolling it out.",
  );
  return { verdict, reasons };
}
