/**
 * Sidecar -> SidecarModel: the egress listeners of the workloads it selects (hosts, and
 * optionally one port with its own address), the inbound ports it serves in place of its
 * services' ports (`ingress`), and where traffic to destinations outside the registry goes
 * (`outboundTrafficPolicy`). Checked as istiod's validation checks a Sidecar
 * (pkg/config/validation: validateSidecar*).
 */
import { isIP } from "node:net";
import type { FieldPath, FieldReader } from "./field-reader.js";
import type {
  OutboundTrafficMode,
  SidecarEgressListener,
  SidecarIngressListener,
  SidecarModel,
  SidecarPort,
  SourceRef,
} from "./types.js";

/**
 * How istiod listens on a Sidecar port, from its protocol alone (`protocol.Parse`, any case):
 * HTTP (an HCM), TCP (tcp_proxy), or `sniffed` (no or an unknown protocol: istiod sniffs it).
 *
 * @example
 * sidecarPortKind("grpc"); // "http"
 */
export function sidecarPortKind(protocol: string): "http" | "tcp" | "sniffed" | "other" {
  const p = protocol.toUpperCase();
  if (["HTTP", "HTTP2", "GRPC", "GRPC-WEB"].includes(p)) return "http";
  if (["TCP", "HTTPS", "TLS", "MONGO", "MYSQL", "REDIS"].includes(p)) return "tcp";
  if (p === "UDP" || p === "HTTP_PROXY") return "other";
  return "sniffed";
}

const CAPTURE_MODES = ["DEFAULT", "IPTABLES", "NONE"] as const;
type CaptureMode = (typeof CAPTURE_MODES)[number];

/** `port: {number, protocol, name}`; `targetPort` is rejected, as istiod rejects it. */
function readSidecarPort(r: FieldReader, path: FieldPath, allowZero: boolean): SidecarPort | undefined {
  const number = allowZero
    ? r.num([...path, "number"], { required: true, integer: true, min: 0, max: 65535 })
    : r.port([...path, "number"], { required: true });
  if (r.has([...path, "targetPort"]))
    r.error([...path, "targetPort"], "targetPort has no impact on Sidecars (istiod rejects it); remove it");
  const protocol = r.str([...path, "protocol"]) ?? "";
  const name = r.str([...path, "name"]) ?? "";
  return number === undefined ? undefined : { number, protocol, name };
}

function readCaptureMode(r: FieldReader, path: FieldPath): CaptureMode | undefined {
  const mode = r.str(path);
  if (mode === undefined) return undefined;
  if ((CAPTURE_MODES as readonly string[]).includes(mode)) return mode as CaptureMode;
  r.error(path, `unknown captureMode ${mode}; expected DEFAULT, IPTABLES or NONE`);
  return undefined;
}

function readBind(r: FieldReader, path: FieldPath): string | undefined {
  const bind = r.str(path);
  if (bind === undefined || bind === "") return undefined;
  if (isIP(bind) === 0 && !bind.startsWith("unix://"))
    r.error(path, `bind must be an IP address (or unix:// for an egress port 0), got "${bind}"`);
  return bind;
}

/** `127.0.0.1:PORT`, `0.0.0.0:PORT`, `[::1]:PORT`, `[::]:PORT` or `unix://path`, as istiod validates it. */
function readDefaultEndpoint(r: FieldReader, path: FieldPath): string | undefined {
  const ep = r.str(path);
  if (ep === undefined || ep === "") return undefined;
  if (ep.startsWith("unix://")) {
    if (ep.length === "unix://".length) r.error(path, "unix:// needs a socket path");
    return ep;
  }
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(ep);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !["127.0.0.1", "0.0.0.0", "::1", "::", ""].includes(host ?? "") || port < 1 || port > 65535) {
    r.error(
      path,
      `defaultEndpoint must be of form 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port> or unix://<path>, got "${ep}"`,
    );
    return undefined;
  }
  return ep;
}

function parseEgress(r: FieldReader): SidecarEgressListener[] {
  const out: SidecarEgressListener[] = [];
  const n = r.list(["spec", "egress"]);
  for (let i = 0; i < n; i++) {
    const e = ["spec", "egress", i];
    const hosts = r.strings([...e, "hosts"], { required: true });
    hosts.forEach((h, j) => {
      if (!h.includes("/")) r.error([...e, "hosts", j], `egress host must be namespace/host, got "${h}"`);
    });
    const hasPort = r.has([...e, "port"]);
    const port = hasPort ? readSidecarPort(r, [...e, "port"], true) : undefined;
    const bind = readBind(r, [...e, "bind"]);
    const captureMode = readCaptureMode(r, [...e, "captureMode"]);
    if (!hasPort && i !== n - 1)
      r.error(e, "the egress listener without a port must be the last one (istiod rejects the Sidecar)");
    if (port?.number === 0 || bind?.startsWith("unix://"))
      r.unsupported(
        [...e, "bind"],
        "Sidecar egress on a unix domain socket is not supported by meshctl yet; the listener is left out",
      );
    else if (port && sidecarPortKind(port.protocol) !== "http" && sidecarPortKind(port.protocol) !== "tcp")
      r.unsupported(
        r.has([...e, "port", "protocol"]) ? [...e, "port", "protocol"] : [...e, "port"],
        `a Sidecar egress port ${port.protocol ? `with protocol ${port.protocol}` : "without a protocol"} (sniffed, UDP or HTTP_PROXY) is not supported by meshctl yet; no listener is generated for it (set HTTP, HTTP2, GRPC or TCP)`,
      );
    else if (!hasPort && (bind !== undefined || captureMode === "NONE"))
      r.unsupported(
        [...e, bind !== undefined ? "bind" : "captureMode"],
        "bind and captureMode NONE on the port-less egress listener are not supported by meshctl yet; ignored (its listeners stay captured by iptables on the usual addresses)",
      );
    out.push({
      hosts,
      ...(port ? { port } : {}),
      ...(bind !== undefined && !bind.startsWith("unix://") ? { bind } : {}),
      ...(captureMode ? { captureMode } : {}),
    });
  }
  const numbers = out.flatMap((l) => (l.port ? [l.port.number] : []));
  if (new Set(numbers).size !== numbers.length)
    r.error(["spec", "egress"], "ports of egress listeners must be unique (istiod rejects the Sidecar)");
  return out;
}

function parseIngress(r: FieldReader): SidecarIngressListener[] {
  const out: SidecarIngressListener[] = [];
  const n = r.list(["spec", "ingress"]);
  for (let i = 0; i < n; i++) {
    const e = ["spec", "ingress", i];
    const port = readSidecarPort(r, [...e, "port"], false);
    const bind = readBind(r, [...e, "bind"]);
    if (bind?.startsWith("unix://")) r.error([...e, "bind"], "an ingress bind must be an IP address");
    const defaultEndpoint = readDefaultEndpoint(r, [...e, "defaultEndpoint"]);
    const captureMode = readCaptureMode(r, [...e, "captureMode"]);
    // istiod applies ingress tls only with ENABLE_TLS_ON_SIDECAR_INGRESS (off by default), and
    // then takes the certificates through Istio's agent (SDS).
    if (r.has([...e, "tls"]))
      r.unsupported(
        [...e, "tls"],
        "Sidecar ingress tls is ignored, as istiod ignores it without ENABLE_TLS_ON_SIDECAR_INGRESS (and its certificates would come from Istio's agent); the port is served in plaintext",
      );
    if (r.has([...e, "connectionPool"]))
      r.unsupported(
        [...e, "connectionPool"],
        "Sidecar ingress connectionPool is not supported by meshctl yet; ignored",
      );
    if (!port) continue;
    if (sidecarPortKind(port.protocol) === "sniffed" || sidecarPortKind(port.protocol) === "other")
      r.unsupported(
        r.has([...e, "port", "protocol"]) ? [...e, "port", "protocol"] : [...e, "port"],
        `a Sidecar ingress port ${port.protocol ? `with protocol ${port.protocol}` : "without a protocol"} (sniffed by istiod, or UDP) is not supported by meshctl yet; it is served as TCP (set HTTP, HTTP2, GRPC or TCP)`,
      );
    out.push({
      port,
      ...(defaultEndpoint ? { defaultEndpoint } : {}),
      ...(bind !== undefined && !bind.startsWith("unix://") ? { bind } : {}),
      ...(captureMode ? { captureMode } : {}),
    });
  }
  const numbers = out.map((l) => l.port.number);
  if (new Set(numbers).size !== numbers.length)
    r.error(["spec", "ingress"], "ports of ingress listeners must be unique (istiod rejects the Sidecar)");
  return out;
}

/**
 * @example
 * parseSidecar(reader, "default", "demo", source).outboundTrafficPolicy; // "REGISTRY_ONLY"
 */
export function parseSidecar(
  r: FieldReader,
  name: string,
  namespace: string,
  source: SourceRef,
): SidecarModel {
  const egress = parseEgress(r);
  // As istiod: a Sidecar without egress has one catch-all listener importing everything.
  if (egress.length === 0) egress.push({ hosts: ["*/*"] });
  const ingress = parseIngress(r);
  if (r.has(["spec", "inboundConnectionPool"]))
    r.unsupported(
      ["spec", "inboundConnectionPool"],
      "inboundConnectionPool is not supported by meshctl yet; ignored",
    );
  let outboundTrafficPolicy: OutboundTrafficMode | undefined;
  const otp = ["spec", "outboundTrafficPolicy"];
  if (r.has(otp)) {
    const mode = r.str([...otp, "mode"]) ?? "REGISTRY_ONLY";
    if (mode === "ALLOW_ANY" || mode === "REGISTRY_ONLY") outboundTrafficPolicy = mode;
    else
      r.error(
        [...otp, "mode"],
        `unknown outboundTrafficPolicy mode ${mode}; expected ALLOW_ANY or REGISTRY_ONLY`,
      );
    if (r.has([...otp, "egressProxy"]))
      r.unsupported([...otp, "egressProxy"], "egressProxy is not supported by meshctl yet; ignored");
  }
  const selKeys = r.keys(["spec", "workloadSelector", "labels"]);
  return {
    name,
    namespace,
    egressHosts: egress.flatMap((l) => l.hosts),
    egress,
    ingress,
    source,
    ...(outboundTrafficPolicy ? { outboundTrafficPolicy } : {}),
    ...(selKeys.length > 0 ? { workloadSelector: r.labels(["spec", "workloadSelector", "labels"]) } : {}),
  };
}
