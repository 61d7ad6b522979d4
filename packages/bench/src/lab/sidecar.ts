import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MeshctlError, runCommand, type SpawnedProgram } from "@meshctl/core";
import { renderHaproxyConfig } from "./haproxy.js";
import { APP_PORT, type LabPlan, type LabPodPlan } from "./plan.js";
import { spawnInPod, waitForListening } from "./pod-process.js";
import type { SidecarKind } from "./types.js";

/** Kubernetes namespace of the lab's mesh model (Envoy node ids, Services). */
export const LAB_MESH_NAMESPACE = "mcl-lab";

/** Port of the per-pod xDS control plane the Envoy sidecar bootstraps to (Istio's istiod port). */
export const LAB_XDS_PORT = 15010;

/** Envoy's admin port inside each meshed pod (Istio's 15000), on 127.0.0.1 only. */
export const ENVOY_ADMIN_PORT = 15000;

/**
 * Picks the sidecar proxy: Envoy when asked for or (with `auto`) when `envoy` is on PATH,
 * otherwise haproxy. Pure: the caller passes what `findProgram` found. `missing` names the
 * program the choice needs but that is not installed.
 *
 * @example
 * selectSidecarKind("auto", { envoy: undefined, haproxy: "/usr/sbin/haproxy" }); // { kind: "haproxy" }
 */
export function selectSidecarKind(
  requested: SidecarKind | "auto",
  found: { readonly envoy: string | undefined; readonly haproxy: string | undefined },
): { kind: SidecarKind; missing?: SidecarKind } {
  const kind: SidecarKind = requested === "auto" ? (found.envoy ? "envoy" : "haproxy") : requested;
  return found[kind] ? { kind } : { kind, missing: kind };
}

/**
 * The mesh the Envoy sidecars get over xDS, as plain Kubernetes objects (served by a
 * `staticMeshSource`, no files): per meshed scenario a Service `echo-<scenario>` on port 8080
 * whose one endpoint is that scenario's server pod, so the server sidecar gets an
 * `inbound|8080||` chain to its app. Clients dial the server's IP, which no route names, so
 * their sidecars forward it through `allow_any` → PassthroughCluster (original destination), as
 * Istio does for IPs outside the registry. `tcp` mode makes the port opaque TCP (tcp_proxy),
 * like haproxy's L4 mode.
 *
 * @example
 * const objects = labSidecarMeshObjects(plan, "http");
 */
export function labSidecarMeshObjects(plan: Pick<LabPlan, "pods">, mode: "http" | "tcp"): object[] {
  return plan.pods
    .filter((p) => p.sidecar && p.role === "server")
    .flatMap((server) =>
      labServiceObjects({ name: `echo-${server.scenario}`, protocol: mode, address: server.ip }),
    );
}

/**
 * A Service and its EndpointSlice in the lab's mesh namespace: one port (APP_PORT) and one
 * endpoint. Plain objects, as an API server would return them.
 *
 * @example
 * labServiceObjects({ name: "echo-grpc", protocol: "grpc", address: "10.77.0.3" });
 */
export function labServiceObjects(o: { name: string; protocol: string; address: string }): object[] {
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: o.name, namespace: LAB_MESH_NAMESPACE },
      spec: { ports: [{ name: o.protocol, port: APP_PORT, appProtocol: o.protocol }] },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${o.name}-0`,
        namespace: LAB_MESH_NAMESPACE,
        labels: { "kubernetes.io/service-name": o.name },
      },
      addressType: "IPv4",
      ports: [{ name: o.protocol, port: APP_PORT }],
      endpoints: [{ addresses: [o.address], conditions: { ready: true } }],
    },
  ];
}

/** The mesh identity of a meshed pod: its Envoy node name (`<scenario>-<role>`) and IP. */
function meshNameOf(pod: LabPodPlan): string {
  return pod.sidecar?.pod ?? `${pod.scenario}-${pod.role}`;
}

/**
 * The Envoy bootstrap of a meshed pod: node `sidecar~<pod IP>~<scenario>-<role>.mcl-lab~…`, ADS
 * from the control plane on the pod's 127.0.0.1:15010, admin on 127.0.0.1:15000.
 *
 * @example
 * const bootstrap = labEnvoyBootstrap(pod);
 * (bootstrap.node as { id: string }).id; // "sidecar~10.213.7.21~sidecar-client.mcl-lab~mcl-lab.svc.cluster.local"
 */
export async function labEnvoyBootstrap(pod: LabPodPlan): Promise<Record<string, unknown>> {
  const { renderBootstrap } = await import("@meshctl/xds");
  return renderBootstrap({
    kind: "envoy",
    name: meshNameOf(pod),
    namespace: LAB_MESH_NAMESPACE,
    server: `127.0.0.1:${LAB_XDS_PORT}`,
    ip: pod.ip,
    adminPort: ENVOY_ADMIN_PORT,
  });
}

/**
 * The Envoy argv of a meshed pod. `--disable-hot-restart`, as Istio's pilot-agent passes it: a
 * sidecar is restarted by replacing it, never hot. With hot restart on, Envoy 1.40 creates
 * `/dev/shm/envoy_shared_memory_<base id × 10>` and keeps it after any exit, clean or not; with it
 * off Envoy creates no shared memory and binds no hot-restart socket, so nothing outlives the pod
 * and concurrent sidecars need no distinct `--base-id`.
 *
 * @example
 * envoyArgv("/tmp/mcl-lab-1a2b/sidecar-client.envoy.json", 1);
 * // ["envoy", "-c", "/tmp/…/sidecar-client.envoy.json", "--disable-hot-restart", "--log-level", "warn", "--concurrency", "1"]
 */
export function envoyArgv(configFile: string, threads: number): string[] {
  return [
    "envoy",
    "-c",
    configFile,
    "--disable-hot-restart",
    "--log-level",
    "warn",
    "--concurrency",
    String(threads),
  ];
}

/** Where Envoy keeps its hot-restart shared memory (`shm_open` names live in this tmpfs). */
export const ENVOY_SHM_DIR = "/dev/shm";

/**
 * The lab id whose Envoy sidecar left a hot-restart shared-memory file, or undefined when the name
 * is not one the lab ever made. Lab runs before hot restart was disabled started pod `i` of lab
 * `id` (4 hex digits) with `--base-id id × 16 + i + 1`, and Envoy names the file
 * `envoy_shared_memory_<base id × 10>`. The name alone does not prove the lab made it (any Envoy
 * may pick such a base id): the caller also checks the file belongs to the sidecar uid.
 *
 * @example
 * labIdOfEnvoyShm("envoy_shared_memory_1071880"); // "1a2b" (base id 107188: pod 3 of lab 1a2b)
 * labIdOfEnvoyShm("envoy_shared_memory_0"); // undefined (Envoy's default base id)
 */
export function labIdOfEnvoyShm(name: string): string | undefined {
  const digits = /^envoy_shared_memory_([1-9]\d{0,7})$/.exec(name)?.[1];
  if (!digits) return undefined;
  const n = Number(digits);
  if (n % 10 !== 0) return undefined;
  const id = Math.floor((n / 10 - 1) / 16);
  return id <= 0xffff ? id.toString(16).padStart(4, "0") : undefined;
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

/**
 * Starts a sidecar proxy as the proxy uid in the pod, and waits until it listens on `ports`; a
 * proxy that exits or never listens is killed and reported with the tail of its stderr.
 */
async function spawnSidecar(
  pod: LabPodPlan,
  argv: readonly string[],
  cpus: string | undefined,
  readiness: {
    readonly ports: readonly number[];
    readonly timeoutMs: number;
    readonly failure: string;
    readonly details: Record<string, string>;
  },
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

/**
 * Starts the Envoy sidecar of a meshed pod as the proxy uid, in the pod's cgroup and namespace,
 * bootstrapped to the control plane on the pod's 127.0.0.1:15010 (which must already run), and
 * waits for its admin port and the xDS-delivered listeners 15001/15006.
 *
 * @example
 * const sidecar = await startEnvoySidecar(pod, "/tmp/mcl-lab-1a2b");
 */
export async function startEnvoySidecar(
  pod: LabPodPlan,
  workDir: string,
  cpus?: string,
): Promise<RunningSidecar> {
  if (!pod.sidecar) throw new Error(`pod ${pod.netns} has no sidecar`);
  const file = join(workDir, `${pod.scenario}-${pod.role}.envoy.json`);
  await writeFile(file, `${JSON.stringify(await labEnvoyBootstrap(pod), null, 2)}\n`);
  await chmod(file, 0o644);
  // 15001/15006 only appear once LDS arrived: readiness also proves the xDS connection works.
  return spawnSidecar(pod, envoyArgv(file, pod.sidecar.threads), cpus, {
    ports: [ENVOY_ADMIN_PORT, pod.sidecar.outboundPort, pod.sidecar.inboundPort],
    timeoutMs: 20_000,
    failure: `Envoy sidecar of ${pod.scenario}/${pod.role} did not start or got no listeners over xDS`,
    details: { pod: pod.netns, bootstrap: file },
  });
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
  return spawnSidecar(pod, ["haproxy", "-f", file, "-db"], cpus, {
    ports: [pod.sidecar.outboundPort, pod.sidecar.inboundPort, pod.sidecar.healthPort],
    timeoutMs: 10_000,
    failure: `haproxy sidecar of ${pod.scenario}/${pod.role} did not start`,
    details: { pod: pod.netns, config: file },
  });
}
