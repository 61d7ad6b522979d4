/** Reads a pod's spec for its place in the mesh: sidecar, proxyless bootstrap, traffic capture. */
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import type { CaptureSettings, PodFact } from "./types.js";

export const ISTIO_PROXY_CONTAINER = "istio-proxy";
export const ISTIO_INIT_CONTAINER = "istio-init";
/** With istio-cni, capture is set up by the node agent and this init container only verifies it. */
export const ISTIO_VALIDATION_CONTAINER = "istio-validation";
/** gRPC's xDS client reads its bootstrap from one of these (a file path, or the JSON itself). */
export const GRPC_BOOTSTRAP_ENV = ["GRPC_XDS_BOOTSTRAP", "GRPC_XDS_BOOTSTRAP_CONFIG"] as const;

// istio-iptables flags (short and long) and the environment variable each falls back to.
const CAPTURE_FLAGS = {
  outboundPort: { flags: ["-p", "--envoy-port"], env: "ENVOY_PORT" },
  inboundPort: { flags: ["-z", "--inbound-capture-port"], env: "INBOUND_CAPTURE_PORT" },
  inboundPorts: { flags: ["-b", "--istio-inbound-ports"], env: "ISTIO_INBOUND_PORTS" },
  outboundCidrs: { flags: ["-i", "--istio-service-cidr"], env: "ISTIO_SERVICE_CIDR" },
  mode: { flags: ["-m", "--istio-inbound-interception-mode"], env: "ISTIO_INBOUND_INTERCEPTION_MODE" },
  proxyUid: { flags: ["-u", "--proxy-uid"], env: "ENVOY_USER" },
} as const;

/**
 * The capture settings of an `istio-iptables` command line (istio-init's args), with the
 * container's environment as the fallback istio-iptables itself uses.
 *
 * @example
 * parseIstioIptablesArgs(["istio-iptables", "-p", "15001", "-z", "15006", "-i", "*", "-b", "*"]).inboundPorts; // "*"
 */
export function parseIstioIptablesArgs(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  capabilities: readonly string[] = [],
): CaptureSettings {
  const value = (flags: readonly string[], envName: string): string | null => {
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] ?? "";
      for (const flag of flags) {
        if (arg === flag) return args[i + 1] ?? "";
        if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
      }
    }
    return env[envName] ?? null;
  };
  const settings = Object.fromEntries(
    Object.entries(CAPTURE_FLAGS).map(([key, spec]) => [key, value(spec.flags, spec.env)]),
  ) as Record<keyof typeof CAPTURE_FLAGS, string | null>;
  return { args: [...args], ...settings, capabilities: [...capabilities] };
}

function containerEnv(c: V1Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

function captureOf(c: V1Container): CaptureSettings {
  const sc = c.securityContext;
  const caps = [...(sc?.capabilities?.add ?? []), ...(sc?.privileged ? ["privileged"] : [])];
  return parseIstioIptablesArgs([...(c.command ?? []), ...(c.args ?? [])], containerEnv(c), caps);
}

/**
 * The mesh facts of one pod, from its spec (what the injector wrote), not from what runs.
 *
 * @example
 * const fact = podFactOf(await core.readNamespacedPod({ name: "echo-1", namespace: "demo" }));
 * fact.sidecar !== null; // has an istio-proxy container
 */
export function podFactOf(pod: V1Pod): PodFact {
  const meta = pod.metadata ?? {};
  const spec = pod.spec;
  const containers = spec?.containers ?? [];
  const inits = spec?.initContainers ?? [];
  const proxy =
    containers.find((c) => c.name === ISTIO_PROXY_CONTAINER) ??
    inits.find((c) => c.name === ISTIO_PROXY_CONTAINER && c.restartPolicy === "Always");
  const init = inits.find((c) => c.name === ISTIO_INIT_CONTAINER);
  let bootstrap: string | null = null;
  for (const c of [...inits, ...containers]) {
    const e = (c.env ?? []).find((v) => (GRPC_BOOTSTRAP_ENV as readonly string[]).includes(v.name));
    if (e) {
      bootstrap = `${e.name} in container ${c.name}`;
      break;
    }
  }
  const labels = meta.labels ?? {};
  const annotations = meta.annotations ?? {};
  const ready =
    pod.status?.phase === "Running" &&
    (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
  return {
    namespace: meta.namespace ?? "",
    name: meta.name ?? "",
    phase: pod.status?.phase ?? "Unknown",
    ready,
    podIp: pod.status?.podIP ?? null,
    labels,
    injectOverride: labels["sidecar.istio.io/inject"] ?? annotations["sidecar.istio.io/inject"] ?? null,
    injectTemplates: annotations["inject.istio.io/templates"] ?? null,
    sidecar: proxy ? { image: proxy.image ?? null, native: !containers.includes(proxy) } : null,
    proxylessBootstrap: bootstrap,
    istioInit: init ? captureOf(init) : null,
    cniValidation: inits.some((c) => c.name === ISTIO_VALIDATION_CONTAINER),
  };
}
