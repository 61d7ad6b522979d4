/** Bootstrap files for proxyless gRPC (GRPC_XDS_BOOTSTRAP) and Envoy sidecars. */
import { MeshctlError } from "@meshctl/core";
import { DEFAULT_DOMAIN_SUFFIX } from "./model/types.js";

export interface BootstrapOptions {
  readonly kind: "grpc" | "envoy";
  /** Pod (workload) name. */
  readonly name: string;
  readonly namespace: string;
  /** Control plane `host:port`. Default `127.0.0.1:15010`. */
  readonly server?: string;
  /** The workload's IP (inbound listeners for Envoy are built for endpoints with this IP). Default 127.0.0.1. */
  readonly ip?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Envoy only: use Delta (incremental) ADS instead of state of the world. */
  readonly delta?: boolean;
  /** Envoy only: admin port on 127.0.0.1 (0: Envoy picks one). Default 15000. */
  readonly adminPort?: number;
  /**
   * Envoy only: the bootstrap's `stats_config` (protobuf JSON), e.g. @meshctl/tstats'
   * `tstatsEnvoyStatsConfig()`, which gives the tstats module's histograms Istio's buckets
   * (`meshctl xds bootstrap` always passes it: it only names tstats' own stats).
   */
  readonly statsConfig?: Readonly<Record<string, unknown>>;
  /**
   * Envoy only: the bootstrap's `bootstrap_extensions` (protobuf JSON), e.g. @meshctl/tstats'
   * module extension that owns its TCP counters. Absent or empty: none.
   */
  readonly bootstrapExtensions?: readonly Readonly<Record<string, unknown>>[];
  /**
   * More `node.metadata` string entries (e.g. `MESHCTL_TSTATS_TCP: "true"`, which tells the
   * control plane the bootstrap has that extension). They cannot replace the ones set here.
   */
  readonly nodeMetadata?: Readonly<Record<string, string>>;
}

/** The `server_features` of a gRPC bootstrap: xDS v3, and deletions that do not break clients (gRFC A53). */
export const GRPC_SERVER_FEATURES = ["xds_v3", "ignore_resource_deletion"] as const;

/** Envoy's admin port in a bootstrap, as Istio's sidecars have it. */
export const DEFAULT_ENVOY_ADMIN_PORT = 15000;

/** The Istio-style node id: `<type>~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`. */
export function nodeIdFor(kind: "grpc" | "envoy", name: string, namespace: string, ip = "127.0.0.1"): string {
  return `${kind === "grpc" ? "grpc" : "sidecar"}~${ip}~${name}.${namespace}~${namespace}.svc.${DEFAULT_DOMAIN_SUFFIX}`;
}

function splitServer(server: string): { host: string; port: number } {
  const m = /^(?:\[(.+)\]|([^:]+)):(\d+)$/.exec(server);
  if (!m)
    throw new MeshctlError("XDS_BOOTSTRAP_INVALID", `--server must be HOST:PORT, got "${server}".`, {
      kind: "usage",
    });
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
}

/**
 * Renders a bootstrap JSON object. For `grpc`, write it to a file named by GRPC_XDS_BOOTSTRAP
 * (or put the JSON in GRPC_XDS_BOOTSTRAP_CONFIG); for `envoy`, pass it with `envoy -c`.
 *
 * @example
 * const bootstrap = renderBootstrap({ kind: "grpc", name: "client-1", namespace: "demo", server: "127.0.0.1:15010" });
 * process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify(bootstrap);
 */
export function renderBootstrap(options: BootstrapOptions): Record<string, unknown> {
  if (!options.name || !options.namespace)
    throw new MeshctlError("XDS_BOOTSTRAP_INVALID", "A bootstrap needs a name and a namespace.", {
      kind: "usage",
    });
  const adminPort = options.adminPort ?? DEFAULT_ENVOY_ADMIN_PORT;
  if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535)
    throw new MeshctlError(
      "XDS_BOOTSTRAP_INVALID",
      `The Envoy admin port must be a whole number from 0 (Envoy picks one) to 65535, got ${String(options.adminPort)}.`,
      { kind: "usage", suggestions: [`Pick a free port, e.g. --admin-port ${DEFAULT_ENVOY_ADMIN_PORT}.`] },
    );
  const server = options.server ?? "127.0.0.1:15010";
  const { host, port } = splitServer(server);
  const ip = options.ip ?? "127.0.0.1";
  const id = nodeIdFor(options.kind, options.name, options.namespace, ip);
  const metadata: Record<string, unknown> = {
    ...(options.nodeMetadata ?? {}),
    NAMESPACE: options.namespace,
    NAME: options.name,
    INSTANCE_IPS: ip,
    GENERATOR: options.kind === "grpc" ? "grpc" : "sidecar",
    ...(options.labels ? { LABELS: options.labels } : {}),
  };
  if (options.kind === "grpc") {
    return {
      xds_servers: [
        {
          server_uri: server,
          channel_creds: [{ type: "insecure" }],
          // ignore_resource_deletion (gRFC A53): a Listener or Cluster the server stops sending
          // (a Service file deleted and put back) is kept instead of failing RPCs until restart.
          server_features: [...GRPC_SERVER_FEATURES],
        },
      ],
      node: { id, cluster: `${options.name}.${options.namespace}`, locality: {}, metadata },
      server_listener_resource_name_template: "xds.istio.io/grpc/lds/inbound/%s",
    };
  }
  const ads = { ads: {}, resource_api_version: "V3" };
  return {
    node: { id, cluster: `${options.name}.${options.namespace}`, metadata },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
    ...(options.statsConfig ? { stats_config: options.statsConfig } : {}),
    ...(options.bootstrapExtensions?.length
      ? { bootstrap_extensions: [...options.bootstrapExtensions] }
      : {}),
    dynamic_resources: {
      ads_config: {
        api_type: options.delta ? "DELTA_GRPC" : "GRPC",
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: "xds-grpc" } }],
        set_node_on_first_message_only: true,
      },
      cds_config: ads,
      lds_config: ads,
    },
    static_resources: {
      clusters: [
        {
          name: "xds-grpc",
          type: /^[\d.]+$|:/.test(host) ? "STATIC" : "STRICT_DNS",
          connect_timeout: "1s",
          load_assignment: {
            cluster_name: "xds-grpc",
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: host, port_value: port } } } },
                ],
              },
            ],
          },
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  };
}
