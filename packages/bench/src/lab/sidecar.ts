import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MeshctlError, runCommand, type SpawnedProgram } from "@meshctl/core";
import { renderHaproxyConfig } from "./haproxy.js";
import type { LabPodPlan } from "./plan.js";
import { spawnInPod, waitForListening } from "./pod-process.js";

/** A running sidecar proxy. */
export interface RunningSidecar {
  readonly pod: string;
  readonly program: SpawnedProgram;
  /** Last lines the proxy wrote to stderr, for error messages. */
  stderrTail(): string;
}

function tailOf(program: SpawnedProgram): () => string {
  let tail = "";
  program.stderr?.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-2000);
  });
  program.stdout?.on("data", () => {});
  return () => tail;
}

/**
 * Starts the haproxy sidecar of a meshed pod as the proxy uid, in the pod's cgroup and namespace,
 * and waits for its listeners.
 *
 * @example
 * const sidecar = await startHaproxySidecar(pod, "/tmp/mcl-lab-1a2b");
 */
export async function startHaproxySidecar(
  pod: LabPodPlan,
  workDir: string,
  cpus?: string,
): Promise<RunningSidecar> {
  if (!pod.sidecar) throw new Error(`pod ${pod.netns} has no sidecar`);
  const file = join(workDir, `${pod.scenario}-${pod.role}.haproxy.cfg`);
  await writeFile(file, renderHaproxyConfig(pod.sidecar));
  // The proxy runs unprivileged and must be able to read its config.
  await chmod(file, 0o644);
  await runCommand("haproxy", ["-c", "-q", "-f", file], { timeoutMs: 10_000 });
  const program = spawnInPod(pod, ["haproxy", "-f", file, "-db"], {
    asSidecar: true,
    ...(cpus ? { cpus } : {}),
  });
  const stderrTail = tailOf(program);
  let alive = true;
  void program.exited.then(() => {
    alive = false;
  });
  const ports = [pod.sidecar.outboundPort, pod.sidecar.inboundPort, pod.sidecar.healthPort];
  const ready = await waitForListening(pod.netns, ports, 10_000, () => alive);
  if (!ready) {
    program.kill("SIGKILL");
    throw new MeshctlError(
      "LAB_SIDECAR_FAILED",
      `haproxy sidecar of ${pod.scenario}/${pod.role} did not start: ${stderrTail().trim() || "no output"}`,
      {
        kind: "external",
        details: { pod: pod.netns, config: file },
      },
    );
  }
  return { pod: pod.netns, program, stderrTail };
}
