/**
 * The haproxy sidecar, rendered from the same mesh model an Envoy sidecar gets over xDS: an outbound
 * listener that forwards to each connection's original destination (the iptables REDIRECT target,
 * read back with SO_ORIGINAL_DST), and an inbound listener that hands requests to the local app
 * from 127.0.0.6, as Istio's inbound passthrough does.
 */

/** One port the pod's app serves, reached by the inbound listener. */
export interface SidecarInboundPort {
  /** Port the app listens on (and the port clients dial on the pod IP). */
  readonly port: number;
  readonly protocol: "http" | "tcp" | "grpc";
}

/** The sidecar of one pod, as the lab's mesh model describes it. */
export interface SidecarModel {
  readonly pod: string;
  /** L7 (`http`) parses and routes HTTP/1.1 requests like Istio's HTTP filter chain; L4 (`tcp`) splices bytes. */
  readonly mode: "http" | "tcp";
  readonly outboundPort: number;
  readonly inboundPort: number;
  /** Readiness endpoint (HTTP 200), Istio's 15021. */
  readonly healthPort: number;
  readonly inbound: readonly SidecarInboundPort[];
  /** Proxy worker threads (Istio runs 2 Envoy workers, the lab's default). */
  readonly threads: number;
}

/**
 * Renders a haproxy configuration for one lab sidecar.
 *
 * @example
 * const cfg = renderHaproxyConfig({ pod: "client", mode: "http", outboundPort: 15001, inboundPort: 15006,
 *   healthPort: 15021, inbound: [{ port: 8080, protocol: "http" }], threads: 1 });
 * await writeFile(join(dir, "haproxy.cfg"), cfg);
 */
export function renderHaproxyConfig(model: SidecarModel): string {
  const lines: string[] = [
    `# meshctl lab sidecar for pod ${model.pod} (generated; do not edit)`,
    "global",
    `  nbthread ${model.threads}`,
    "  maxconn 4096",
    "  tune.bufsize 32768",
    "",
    // No `option splice-*`: bytes redirected by sk_msg are invisible to splice(2) (docs/ebpf.md).
    "defaults",
    `  mode ${model.mode}`,
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    ...(model.mode === "http"
      ? ["  timeout http-keep-alive 60s", "  option http-keep-alive", "  http-reuse safe"]
      : []),
    "",
    "frontend health",
    "  mode http",
    `  bind 0.0.0.0:${model.healthPort}`,
    "  http-request return status 200 content-type text/plain string ready",
    "",
    "# outbound: the app's connections, redirected here by iptables; forwarded to the original destination",
    "frontend outbound",
    `  bind 0.0.0.0:${model.outboundPort}`,
    "  default_backend outbound_original_dst",
    "",
    "backend outbound_original_dst",
    // 0.0.0.0:0 means "the destination the client connected to" (SO_ORIGINAL_DST behind REDIRECT).
    "  server original_dst 0.0.0.0:0",
    "",
    "# inbound: connections to this pod, redirected here by iptables; handed to the app from 127.0.0.6",
    "frontend inbound",
    `  bind 0.0.0.0:${model.inboundPort}`,
  ];
  const ports = model.inbound;
  for (const p of ports) lines.push(`  use_backend inbound_${p.port} if { dst_port ${p.port} }`);
  lines.push(
    ports.length > 0 ? `  default_backend inbound_${ports[0]!.port}` : "  tcp-request connection reject",
  );
  for (const p of ports) {
    lines.push("", `backend inbound_${p.port}`, `  server app 127.0.0.1:${p.port} source 127.0.0.6`);
  }
  return `${lines.join("\n")}\n`;
}
