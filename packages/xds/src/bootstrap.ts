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
   * Envoy only: Istio's Prometheus stats listener (`0.0.0.0:<port>`, `/stats/prometheus` from the
   * admin endpoint), which istiod does not send over xDS: its sidecars have it from their
   * bootstrap. Istio's port is {@link ISTIO_PROMETHEUS_PORT}; absent: none (several Envoys on one
   * host would collide on it). Needs a fixed `adminPort`.
   */
  readonly prometheusPort?: number;
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

/** Istio's sidecar Prometheus scrape port (the bootstrap's `prometheus_stats` listener). */
export const ISTIO_PROMETHEUS_PORT = 15090;

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
  const prometheusPort = options.prometheusPort;
  if (
    prometheusPort !== undefined &&
    (!Number.isInteger(prometheusPort) || prometheusPort < 1 || prometheusPort > 65535 || adminPort === 0)
  )
    throw new MeshctlError(
      "XDS_BOOTSTRAP_INVALID",
      `The Prometheus stats port must be a whole number from 1 to 65535 with a fixed admin port, got ${String(prometheusPort)} (admin port ${adminPort}).`,
      {
        kind: "usage",
        suggestions: [`Use ${ISTIO_PROMETHEUS_PORT} (Istio's) and an admin port other than 0.`],
      },
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
      ...(prometheusPort !== undefined ? { listeners: [prometheusStatsListener(prometheusPort)] } : {}),
      clusters: [
        ...(prometheusPort !== undefined ? [prometheusStatsCluster(adminPort)] : []),
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

/** Istio's bootstrap `prometheus_stats` listener: `/stats/prometheus` proxied to the admin API. */
function prometheusStatsListener(port: number): Record<string, unknown> {
  return {
    name: "prometheus_stats",
    address: { socket_address: { protocol: "TCP", address: "0.0.0.0", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              codec_type: "AUTO",
              stat_prefix: "stats",
              route_config: {
                virtual_hosts: [
                  {
                    name: "backend",
                    domains: ["*"],
                    routes: [
                      { match: { prefix: "/stats/prometheus" }, route: { cluster: "prometheus_stats" } },
                    ],
                  },
                ],
              },
              http_filters: [
                {
                  name: "envoy.filters.http.router",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

function prometheusStatsCluster(adminPort: number): Record<string, unknown> {
  return {
    name: "prometheus_stats",
    type: "STATIC",
    connect_timeout: "0.250s",
    lb_policy: "ROUND_ROBIN",
    load_assignment: {
      cluster_name: "prometheus_stats",
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: {
                address: { socket_address: { protocol: "TCP", address: "127.0.0.1", port_value: adminPort } },
              },
            },
          ],
        },
      ],
    },
  };
}
