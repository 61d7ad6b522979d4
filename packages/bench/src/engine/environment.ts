import os from "node:os";
import type { BenchEnvironment } from "./types.js";

/** Version of @meshctl/bench shown in reports; a test keeps it equal to package.json. */
export const BENCH_VERSION = "0.1.0";

/**
 * Describes the machine a run happens on, for reports.
 *
 * @example
 * const env = describeEnvironment(); // { kernel: "6.18.0", cpus: 2, ... }
 */
export function describeEnvironment(): BenchEnvironment {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    kernel: os.release(),
    platform: os.platform(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpus: os.availableParallelism?.() ?? cpus.length,
    node: process.version,
    meshctlBench: BENCH_VERSION,
    loadavg: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}
