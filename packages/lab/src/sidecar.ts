import { ENVOY_ADMIN_PORT, type RunningSidecar, startEnvoySidecar, startHaproxySidecar } from "@meshctl/pod";
import { APP_PORT, type LabPlan, type LabPodPlan } from "./plan.js";
import type { SidecarKind } from "./types.js";

/** Kubernetes namespace of the lab's mesh model (Envoy node ids, Services). */
export const LAB_MESH_NAMESPACE = "mcl-lab";

/** The Service the proxyless client resolves: `xds:///echo.mcl-lab.svc.cluster.local:8080`. */
export const PROXYLESS_SERVICE = "echo";

/** Port of the per-pod xDS control plane the Envoy sidecar bootstraps to (Istio's istiod port). */
export const LAB_XDS_PORT = 15010;

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
      labServiceObjects({
        name: `echo-${server.scenario}`,
        protocol: mode === "tcp" ? "tcp" : server.appProtocol === "grpc" ? "grpc" : "http",
        address: server.ip,
      }),
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
  const { tstatsEnvoyStatsConfig } = await import("@meshctl/tstats");
  return renderBootstrap({
    // Every scenario's sidecars get the same bootstrap, telemetry or not (Istio's buckets and
    // stats tags, as `meshctl xds bootstrap` writes): the comparisons differ only in the filter.
    statsConfig: tstatsEnvoyStatsConfig(),
    kind: "envoy",
    name: meshNameOf(pod),
    namespace: LAB_MESH_NAMESPACE,
    server: `127.0.0.1:${LAB_XDS_PORT}`,
    ip: pod.ip,
    adminPort: ENVOY_ADMIN_PORT,
  });
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

/**
 * Starts the sidecar of a meshed pod: Envoy bootstrapped to the control plane on the pod's
 * 127.0.0.1:15010 (which must already run), waiting for its admin port and the xDS-delivered
 * listeners 15001/15006; or haproxy rendered from the same model.
 *
 * @example
 * const sidecar = await startLabSidecar("envoy", pod, "/tmp/mcl-lab-1a2b");
 */
export async function startLabSidecar(
  kind: SidecarKind,
  pod: LabPodPlan,
  workDir: string,
  cpus?: string,
): Promise<RunningSidecar> {
  const model = pod.sidecar;
  if (!model) throw new Error(`pod ${pod.netns} has no sidecar`);
  // In the pod's namespace, accounted in its own cgroup (CPU per part).
  const where = { netns: pod.netns, cgroup: pod.sidecarCgroup };
  if (kind === "haproxy") return startHaproxySidecar(where, model, workDir, cpus);
  return startEnvoySidecar(where, {
    name: model.pod,
    workDir,
    bootstrap: await labEnvoyBootstrap(pod),
    threads: model.threads,
    ports: [ENVOY_ADMIN_PORT, model.outboundPort, model.inboundPort],
    cpus,
    // Access logs reach the file within 100 ms (Envoy's default: 10 s), so a measurement's lines
    // are there when the lab joins them.
    args: ["--file-flush-interval-msec", "100"],
  });
}
