import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MeshctlError, runCommand, type SpawnedProgram } from "@meshctl/core";
import { renderHaproxyConfig, type SidecarModel } from "./haproxy.js";
import { spawnInPod, waitForListening } from "./process.js";
import type { PodSpec } from "./types.js";

/** The Envoy release meshctl pins and tests with (`scripts/install-envoy.sh` installs it). */
export const ENVOY_PINNED_VERSION = "1.40.0";

/**
 * The release in `envoy --version` output (`envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL`),
 * or undefined when the output is not Envoy's.
 *
 * @example
 * parseEnvoyVersion("envoy  version: 9e55…/1.40.0/Clean/RELEASE/BoringSSL"); // "1.40.0"
 */
export function parseEnvoyVersion(output: string): string | undefined {
  return /version:\s*[0-9a-f]+\/(\d+\.\d+\.\d+)/.exec(output)?.[1];
}

/** Envoy's admin port inside each meshed pod (Istio's 15000), on 127.0.0.1 only. */
export const ENVOY_ADMIN_PORT = 15000;

/**
 * The Envoy argv of a sidecar. `--disable-hot-restart`, as Istio's pilot-agent passes it: a
 * sidecar is restarted by replacing it, never hot. With hot restart on, Envoy 1.40 creates
 * `/dev/shm/envoy_shared_memory_<base id × 10>` and keeps it after any exit, clean or not; with it
 * off Envoy creates no shared memory and binds no hot-restart socket, so nothing outlives the pod
 * and concurrent sidecars need no distinct `--base-id`. `threads` is Envoy's `--concurrency`
 * (Istio's sidecar default: 2).
 *
 * @example
 * envoyArgv("/tmp/mcl-lab-1a2b/sidecar-client.envoy.json", 2);
 * // ["envoy", "-c", "/tmp/…/sidecar-client.envoy.json", "--disable-hot-restart", "--log-level", "warn", "--concurrency", "2"]
 */
export function envoyArgv(configFile: string, threads: number, extra: readonly string[] = []): string[] {
  return [
    "envoy",
    "-c",
    configFile,
    "--disable-hot-restart",
    "--log-level",
    "warn",
    "--concurrency",
    String(threads),
    ...extra,
  ];
}

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

/** When a started sidecar counts as ready, and how its failure is described. */
export interface SidecarReadiness {
  /** TCP ports that must listen in the pod. */
  readonly ports: readonly number[];
  readonly timeoutMs: number;
  /** Start of the error message when it never gets ready. */
  readonly failure: string;
  readonly details: Record<string, string>;
}

/**
 * Starts a sidecar proxy as the proxy uid in the pod (its cgroup and network namespace), and waits
 * until it listens on the readiness ports; a proxy that exits or never listens is killed and
 * reported (LAB_SIDECAR_FAILED) with the tail of its stderr.
 *
 * @example
 * const sidecar = await spawnSidecar(pod, ["envoy", "-c", file], undefined, { ports: [15001], timeoutMs: 10_000, failure: "envoy", details: {} });
 */
export async function spawnSidecar(
  pod: Pick<PodSpec, "netns" | "cgroup">,
  argv: readonly string[],
  cpus: string | undefined,
  readiness: SidecarReadiness,
): Promise<RunningSidecar> {
  const program = spawnInPod(pod, argv, { asSidecar: true, ...(cpus ? { cpus } : {}) });
  const stderrTail = tailOf(program);
  let alive = true;
  void program.exited.then(() => {
    alive = false;
  });
  if (!(await waitForListening(pod.netns, readiness.ports, readiness.timeoutMs, () => alive))) {
    program.kill("SIGKILL");
    throw new MeshctlError(
      "LAB_SIDECAR_FAILED",
      `${readiness.failure}: ${stderrTail().trim() || "no output"}`,
      {
        kind: "external",
        details: readiness.details,
      },
    );
  }
  return { pod: pod.netns, program, stderrTail };
}

/** Writes a config file the unprivileged sidecar can read. */
async function writeSidecarFile(file: string, text: string): Promise<void> {
  await writeFile(file, text);
  await chmod(file, 0o644);
}

/**
 * Starts an Envoy sidecar in a pod from a bootstrap document (static or pointing at an xDS
 * server that must already run), as the proxy uid, and waits for `ports` (for an xDS bootstrap,
 * listeners that only exist once LDS arrived: readiness then also proves the xDS connection).
 *
 * @example
 * await startEnvoySidecar(pod, { name: "client", workDir, bootstrap, threads: 2, ports: [15000, 15001, 15006] });
 */
export async function startEnvoySidecar(
  pod: Pick<PodSpec, "netns" | "cgroup">,
  o: {
    readonly name: string;
    readonly workDir: string;
    readonly bootstrap: Record<string, unknown>;
    readonly threads: number;
    readonly ports: readonly number[];
    readonly cpus?: string | undefined;
    readonly timeoutMs?: number;
    /** More command-line flags, e.g. `--file-flush-interval-msec 100`. */
    readonly args?: readonly string[];
  },
): Promise<RunningSidecar> {
  const file = join(o.workDir, `${o.name}.envoy.json`);
  await writeSidecarFile(file, `${JSON.stringify(o.bootstrap, null, 2)}\n`);
  return spawnSidecar(pod, envoyArgv(file, o.threads, o.args), o.cpus, {
    ports: o.ports,
    timeoutMs: o.timeoutMs ?? 20_000,
    failure: `Envoy sidecar ${o.name} did not start or got no listeners`,
    details: { pod: pod.netns, bootstrap: file },
  });
}

/**
 * Starts a haproxy sidecar in a pod, rendered from the sidecar model, as the proxy uid, and waits
 * for its listeners.
 *
 * @example
 * const sidecar = await startHaproxySidecar(pod, model, "/tmp/mcl-lab-1a2b");
 */
export async function startHaproxySidecar(
  pod: Pick<PodSpec, "netns" | "cgroup">,
  model: SidecarModel,
  workDir: string,
  cpus?: string,
): Promise<RunningSidecar> {
  const file = join(workDir, `${model.pod}.haproxy.cfg`);
  await writeSidecarFile(file, renderHaproxyConfig(model));
  await runCommand("haproxy", ["-c", "-q", "-f", file], { timeoutMs: 10_000 });
  return spawnSidecar(pod, ["haproxy", "-f", file, "-db"], cpus, {
    ports: [model.outboundPort, model.inboundPort, model.healthPort],
    timeoutMs: 10_000,
    failure: `haproxy sidecar ${model.pod} did not start`,
    details: { pod: pod.netns, config: file },
  });
}
