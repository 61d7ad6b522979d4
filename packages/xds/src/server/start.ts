/** `startXdsServer`: mesh directory watcher + ADS gRPC server + debug HTTP, wired together. */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import * as grpc from "@grpc/grpc-js";
import { MeshctlError } from "@meshctl/core";
import { defaultMeshDirectory } from "../default-mesh.js";
import { type AccessLogOptions, buildFileAccessLog } from "../generate/access-log.js";
import type { EnvoyFilterExtensions } from "../generate/filter-extensions.js";
import type { ResourceTransform } from "../generate/proxy-config.js";
import { type DirectorySourceOptions, directoryMeshSource } from "../model/directory-source.js";
import { type KubernetesSourceOptions, kubernetesMeshSource } from "../model/kubernetes-source.js";
import type { MeshSnapshot, MeshSource } from "../model/source.js";
import type { ConfigDiagnostic, ConfigKey } from "../model/types.js";
import { loadXdsProtos } from "../protocol/protos.js";
import { AdsServer, type AdsStream, defaultPushConcurrency, type XdsEvent } from "./ads-server.js";
import type { ClientStatus } from "./connection.js";
import type { DebounceClock } from "./debounce.js";
import { startDebugServer } from "./debug-http.js";
import { AdsListener, peerKey } from "./listener.js";
import { XdsMetrics } from "./metrics.js";
import { pushRequest } from "./push-request.js";

export const DEFAULT_XDS_PORT = 15010;
export const DEFAULT_DEBUG_PORT = 15014;
/** Open ADS connections at most (`--max-connections`). */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** Open ADS streams per client address (`--max-streams-per-client`); `meshctl xds load` runs 2,000+ from loopback. */
export const DEFAULT_MAX_STREAMS_PER_CLIENT = 10_000;
/** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection (`--max-streams-per-connection`). */
export const DEFAULT_MAX_STREAMS_PER_CONNECTION = 1_000;
/** A connection that opens no stream within this is closed (`--handshake-timeout`). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** A connection with no open stream for this long is closed (`--connection-idle-timeout`). */
export const DEFAULT_CONNECTION_IDLE_MS = 300_000;
/** How long `close()` lets streams finish before it cuts every connection. */
const CLOSE_GRACE_MS = 1000;

export interface XdsTlsOptions {
  /** PEM server certificate chain file. */
  readonly certFile: string;
  /** PEM private key file. */
  readonly keyFile: string;
  /** PEM CA bundle: when set, clients must present a certificate signed by it (mTLS). */
  readonly clientCaFile?: string;
}

export type XdsServerEvent =
  | XdsEvent
  | {
      /** The mesh model changed and a push was scheduled. */
      readonly type: "config-applied";
      /** The source's model generation. */
      readonly generation: number;
      readonly services: number;
      /** The objects that changed. */
      readonly changed: readonly ConfigKey[];
      /** False when only endpoints changed (incremental EDS). */
      readonly full: boolean;
      readonly rejectedFiles: readonly string[];
      readonly newDiagnostics: readonly ConfigDiagnostic[];
      readonly resolvedDiagnostics: readonly ConfigDiagnostic[];
    }
  | {
      /** The model did not change, but its problems did: a new error (last good kept) or a fix. */
      readonly type: "diagnostics-changed";
      readonly rejectedFiles: readonly string[];
      readonly newDiagnostics: readonly ConfigDiagnostic[];
      readonly resolvedDiagnostics: readonly ConfigDiagnostic[];
    };

export interface XdsServerOptions {
  /** Where the mesh comes from. Default: `directoryMeshSource(configDir)`. */
  readonly source?: MeshSource;
  /** Directory of Kubernetes/Istio YAML (watched), when no `source` is given. Defaults to the embedded example mesh. */
  readonly configDir?: string;
  /** Limits and state of the directory source (file size, parse deadline, last-good state dir). */
  readonly directory?: DirectorySourceOptions;
  /** Read the mesh from a Kubernetes API server instead (see kubernetesMeshSource), when no `source` is given. */
  readonly kubernetes?: KubernetesSourceOptions;
  /** ADS port; 0 picks a free one. Default 15010. */
  readonly port?: number;
  /** Debug HTTP port; 0 picks a free one, `false` disables it. Default 15014. */
  readonly debugPort?: number | false;
  /**
   * Listen address for ADS. Default 127.0.0.1. A non-loopback address needs `tls`, or
   * `insecure: true` (else `XDS_INSECURE_BIND`).
   */
  readonly host?: string;
  /**
   * Listen address for debug HTTP (config dumps, no authentication). Default 127.0.0.1. A
   * non-loopback address needs `insecure: true` (else `XDS_INSECURE_BIND`).
   */
  readonly debugHost?: string;
  readonly tls?: XdsTlsOptions;
  /**
   * Allow plaintext ADS and/or the debug port beyond loopback (e.g. in a pod, where the pod
   * network is the boundary). The handle's `warnings` then say what is exposed.
   */
  readonly insecure?: boolean;
  /** Open ADS connections at most; beyond, new ones are closed at once. Default 10,000. */
  readonly maxConnections?: number;
  /** Open ADS streams per client address; beyond: RESOURCE_EXHAUSTED. Default 10,000. */
  readonly maxStreamsPerClient?: number;
  /** HTTP/2 concurrent streams per connection (clients queue beyond). Default 1,000. */
  readonly maxStreamsPerConnection?: number;
  /** A connection that opens no stream within this long is closed (ms). Default 10,000. */
  readonly handshakeTimeoutMs?: number;
  /** A connection without open streams for this long is closed (ms; gRPC's max_connection_idle). Default 300,000. */
  readonly connectionIdleMs?: number;
  /** Resource names per type per stream (and per request); beyond, the stream is closed. Default 10,000. */
  readonly maxResourceNames?: number;
  /** Longest resource name (characters); beyond, the stream is closed (INVALID_ARGUMENT). Default 1,024. */
  readonly maxResourceNameLength?: number;
  /** A stream whose writes have not drained for this long (a consumer that stopped reading) loses its connection (ms). Default 10,000. */
  readonly writeTimeoutMs?: number;
  /** Called for every connect, push, ACK, NACK and config change (for logs). */
  readonly onEvent?: (event: XdsServerEvent) => void;
  /** Minimum delay between a NACK and the next response of that type on that stream (ms). Default 1000. */
  readonly nackBackoffMs?: number;
  /** Rescan interval backing up fs.watch (ms). Default 2000. */
  readonly pollMs?: number;
  /**
   * Extra filters for Envoy sidecars (e.g. tstats' `loadTstatsEnvoyFilters()`), applied to every
   * generated model version. A sidecar gets a filter only when its Node lists an extension for it
   * (by type, in the filter's category); the others are reported per client on /debug/clients.
   * Proxyless gRPC resources never get them.
   */
  readonly envoyFilters?: EnvoyFilterExtensions;
  /**
   * An access log on every Envoy sidecar HTTP connection manager and tcp_proxy (Istio's meshConfig
   * accessLogFile / accessLogFormat / accessLogEncoding). Default: none. Validated before anything
   * starts (`XDS_ACCESS_LOG_INVALID`).
   */
  readonly accessLog?: AccessLogOptions;
  /** Debounce quiet period (ms): a push waits until no change came for this long. Default 100 (Istio's PILOT_DEBOUNCE_AFTER). */
  readonly debounceAfterMs?: number;
  /** Longest a debounce window stays open (ms). Default 10,000 (PILOT_DEBOUNCE_MAX). */
  readonly debounceMaxMs?: number;
  /** Longest an endpoints-only window stays open (ms). Default: `debounceAfterMs`. */
  readonly debounceEdsMaxMs?: number;
  /** Proxies pushed concurrently. Default: min(15 + 5 x cores, 100) (PILOT_PUSH_THROTTLE). */
  readonly pushConcurrency?: number;
  /** New ADS streams admitted per second, paced (no burst); beyond a second's wait: RESOURCE_EXHAUSTED. Default 500. */
  readonly maxStreamsPerSecond?: number;
  /** The serialized-resource cache. Default on; off only to measure what it saves. */
  readonly cache?: boolean;
  /** Sidecar scoping (what proxies see and who is pushed). Default on; off only to measure it. */
  readonly scoping?: boolean;
  /**
   * Close every client connection after this long (ms, ±10 % jitter by gRPC): the client gets a
   * GOAWAY and reconnects, which spreads proxies over the replicas behind one Service after a
   * rollout or scale-up (gRPC's `grpc.max_connection_age_ms`; Istio's Helm default is 30 min).
   * Default: never.
   */
  readonly maxConnectionAgeMs?: number;
  /** After the GOAWAY, how long open streams may go on before the connection is closed (ms). Default 10,000 (Istio's). */
  readonly maxConnectionAgeGraceMs?: number;
  /** For tests only. */
  readonly testHooks?: {
    readonly transformResource?: ResourceTransform;
    readonly clock?: DebounceClock;
  };
}

export interface XdsServerHandle {
  readonly host: string;
  readonly port: number;
  /** `host:port`, ready for a bootstrap's server_uri. */
  readonly address: string;
  /** Debug HTTP port, or undefined when disabled. */
  readonly debugPort: number | undefined;
  /** The source's description, e.g. `directory ./mesh`. */
  readonly source: string;
  /** What is exposed without protection (`insecure: true` beyond loopback), one sentence each. */
  readonly warnings: readonly string[];
  /** Connected clients with per-type ACK/NACK state. */
  clients(): ClientStatus[];
  /** The mesh currently served, with diagnostics. */
  mesh(): MeshSnapshot;
  /**
   * True once the source's current model has been pushed: nothing is waiting in the debounce
   * window or the push queue (tests and tools wait for this after a change).
   */
  settled(): boolean;
  /** Prometheus text of the server's metrics. */
  metrics(): string;
  close(): Promise<void>;
}

/** A limit must be a positive whole number: a typo must not turn a limit off. */
function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new MeshctlError(
      "XDS_OPTION_INVALID",
      `${name} must be a whole number of at least 1, got ${String(value)}.`,
      {
        kind: "usage",
      },
    );
  return value;
}

/** The remote address of a stream and the key of its TCP connection (as the listener knows it). */
function connectionInfoOf(stream: AdsStream): { address: string; key: string } {
  const info = (
    stream as { getConnectionInfo?: () => { remoteAddress?: string; remotePort?: number } }
  ).getConnectionInfo?.();
  if (info?.remoteAddress)
    return { address: info.remoteAddress, key: peerKey(info.remoteAddress, info.remotePort) };
  const peer = stream.getPeer();
  const colon = peer.lastIndexOf(":");
  return colon > 0 ? { address: peer.slice(0, colon), key: peer } : { address: peer, key: peer };
}

async function serverCredentials(tls: XdsTlsOptions | undefined): Promise<grpc.ServerCredentials> {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  try {
    const [cert, key, ca] = await Promise.all([
      readFile(tls.certFile),
      readFile(tls.keyFile),
      tls.clientCaFile ? readFile(tls.clientCaFile) : Promise.resolve(null),
    ]);
    return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
  } catch (cause) {
    throw new MeshctlError(
      "XDS_TLS_INVALID",
      `Could not load the TLS files: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        kind: "usage",
        cause,
        suggestions: ["Check --tls-cert, --tls-key and --tls-client-ca point at readable PEM files."],
      },
    );
  }
}

/** Whether `host` only accepts connections from this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/**
 * The exposure rule: ADS beyond loopback needs TLS or `insecure`; the debug port (no TLS, config
 * dumps) beyond loopback needs `insecure`. Returns the warnings to show when `insecure` allowed it.
 */
function checkExposure(options: XdsServerOptions, host: string, debugHost: string): string[] {
  const problems: string[] = [];
  if (!isLoopbackHost(host) && !options.tls)
    problems.push(
      `ADS on ${host} is plaintext and unauthenticated: any host that reaches it gets the mesh config`,
    );
  if (options.debugPort !== false && !isLoopbackHost(debugHost))
    problems.push(
      `the debug port on ${debugHost} serves config dumps and client lists without authentication`,
    );
  if (problems.length > 0 && !options.insecure)
    throw new MeshctlError(
      "XDS_INSECURE_BIND",
      `Refusing to listen beyond loopback: ${problems.join("; ")}.`,
      {
        kind: "usage",
        suggestions: [
          "Serve ADS over TLS with --tls-cert and --tls-key (and --tls-client-ca for mTLS).",
          "Keep the debug port on loopback (--debug-host 127.0.0.1), or pass --insecure where the network is the boundary (e.g. a pod network).",
        ],
      },
    );
  return problems;
}

/**
 * Starts the control plane: watches `configDir`, serves ADS (SotW and Delta) over gRPC and a
 * debug HTTP endpoint. Resolves once both listeners are bound.
 *
 * @example
 * const xds = await startXdsServer({ configDir: "./mesh", port: 0, debugPort: 0 });
 * const bootstrap = renderBootstrap({ kind: "grpc", name: "client", namespace: "demo", server: xds.address });
 * // ... GRPC_XDS_BOOTSTRAP_CONFIG=JSON.stringify(bootstrap), dial xds:///echo.demo.svc.cluster.local:7070
 * await xds.close();
 */
export async function startXdsServer(options: XdsServerOptions = {}): Promise<XdsServerHandle> {
  // A bad access log option is the caller's mistake: say so before watching or binding anything.
  if (options.accessLog) buildFileAccessLog(options.accessLog);
  const source =
    options.source ??
    (options.kubernetes
      ? kubernetesMeshSource(options.kubernetes)
      : directoryMeshSource(options.configDir ?? defaultMeshDirectory(), {
          ...options.directory,
          ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
        }));
  const host = options.host ?? "127.0.0.1";
  const debugHost = options.debugHost ?? "127.0.0.1";
  const warnings = checkExposure(options, host, debugHost);
  const metrics = new XdsMetrics();
  const emit = (event: XdsServerEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // never let a logger break the server
    }
  };
  const protos = loadXdsProtos();

  let ads: AdsServer | undefined;
  const initialSnapshot = await source.start((event) => {
    if (event.type === "source-error") {
      emit({ type: "error", message: event.message });
      return;
    }
    const snapshot = event.snapshot;
    metrics.configErrors.set(snapshot.rejectedFiles.length);
    metrics.services.set(snapshot.model.services.length);
    if (event.type === "diagnostics-changed") {
      emit({
        type: "diagnostics-changed",
        rejectedFiles: snapshot.rejectedFiles,
        newDiagnostics: event.newDiagnostics,
        resolvedDiagnostics: event.resolvedDiagnostics,
      });
      return;
    }
    metrics.modelUpdates.inc();
    emit({
      type: "config-applied",
      generation: snapshot.generation,
      services: snapshot.model.services.length,
      changed: event.change.keys,
      full: event.change.full,
      rejectedFiles: snapshot.rejectedFiles,
      newDiagnostics: event.newDiagnostics,
      resolvedDiagnostics: event.resolvedDiagnostics,
    });
    ads?.configUpdate(
      pushRequest({
        reason: event.change.full ? "config" : "endpoints",
        keys: event.change.keys,
        full: event.change.full,
        dependencies: event.change.dependencies,
        at: Date.now(),
      }),
    );
  });
  metrics.configErrors.set(initialSnapshot.rejectedFiles.length);
  metrics.services.set(initialSnapshot.model.services.length);
  emit({
    type: "config-applied",
    generation: initialSnapshot.generation,
    services: initialSnapshot.model.services.length,
    changed: [],
    full: true,
    rejectedFiles: initialSnapshot.rejectedFiles,
    newDiagnostics: initialSnapshot.diagnostics,
    resolvedDiagnostics: [],
  });
  ads = new AdsServer(
    initialSnapshot.model,
    {
      metrics,
      onEvent: emit,
      ...(options.nackBackoffMs !== undefined ? { nackBackoffMs: options.nackBackoffMs } : {}),
      ...(options.testHooks?.transformResource
        ? { transformResource: options.testHooks.transformResource }
        : {}),
      ...(options.testHooks?.clock ? { clock: options.testHooks.clock } : {}),
      debounce: {
        ...(options.debounceAfterMs !== undefined ? { afterMs: options.debounceAfterMs } : {}),
        ...(options.debounceMaxMs !== undefined ? { maxMs: options.debounceMaxMs } : {}),
        ...(options.debounceEdsMaxMs !== undefined ? { edsMaxMs: options.debounceEdsMaxMs } : {}),
      },
      pushConcurrency: options.pushConcurrency ?? defaultPushConcurrency(availableParallelism()),
      ...(options.maxStreamsPerSecond !== undefined
        ? { maxStreamsPerSecond: options.maxStreamsPerSecond }
        : {}),
      ...(options.cache !== undefined ? { cache: options.cache } : {}),
      ...(options.scoping !== undefined ? { scoping: options.scoping } : {}),
      ...(options.envoyFilters ? { envoyFilters: options.envoyFilters } : {}),
      ...(options.accessLog ? { accessLog: options.accessLog } : {}),
      ...(options.maxResourceNames !== undefined ? { maxResourceNames: options.maxResourceNames } : {}),
      ...(options.maxResourceNameLength !== undefined
        ? { maxResourceNameLength: options.maxResourceNameLength }
        : {}),
      ...(options.writeTimeoutMs !== undefined ? { writeTimeoutMs: options.writeTimeoutMs } : {}),
      admitStream: (stream) => {
        const info = connectionInfoOf(stream);
        return listener.admitStream(info.address, info.key);
      },
      closeConnection: (stream) => listener.destroyConnection(connectionInfoOf(stream).key),
    },
    () => source.current().model,
  );

  let injector: grpc.ConnectionInjector | undefined;
  const listener = new AdsListener(
    {
      maxConnections: positive("maxConnections", options.maxConnections ?? DEFAULT_MAX_CONNECTIONS),
      maxStreamsPerClient: positive(
        "maxStreamsPerClient",
        options.maxStreamsPerClient ?? DEFAULT_MAX_STREAMS_PER_CLIENT,
      ),
      handshakeTimeoutMs: positive(
        "handshakeTimeoutMs",
        options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      ),
    },
    (socket) => {
      if (injector) injector.injectConnection(socket);
      else socket.destroy();
    },
    {
      onConnectionRejected: () => metrics.rejectedConnections.inc(),
      onHandshakeTimeout: () => metrics.handshakeTimeouts.inc(),
      onConnectionCount: (n) => metrics.connections.set(n),
    },
  );
  const server = new grpc.Server({
    "grpc.max_concurrent_streams": positive(
      "maxStreamsPerConnection",
      options.maxStreamsPerConnection ?? DEFAULT_MAX_STREAMS_PER_CONNECTION,
    ),
    "grpc.max_connection_idle_ms": positive(
      "connectionIdleMs",
      options.connectionIdleMs ?? DEFAULT_CONNECTION_IDLE_MS,
    ),
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
    // Nothing here reads channelz, and it costs every stream trackers and closures (a storm's
    // thousands of refused streams too).
    "grpc.enable_channelz": 0,
    ...(options.maxConnectionAgeMs !== undefined
      ? {
          "grpc.max_connection_age_ms": options.maxConnectionAgeMs,
          "grpc.max_connection_age_grace_ms": options.maxConnectionAgeGraceMs ?? 10_000,
        }
      : {}),
  });
  server.addService(AdsServer.serviceDefinition(protos.adsService), ads.handlers());
  let port: number;
  try {
    const creds = await serverCredentials(options.tls);
    // Our own listener in front of grpc-js: connection cap and handshake timeout (see listener.ts).
    injector = server.createConnectionInjector(creds);
    port = await listener.listen(host, options.port ?? DEFAULT_XDS_PORT);
  } catch (cause) {
    source.close();
    ads.closeAll();
    server.forceShutdown();
    await listener.close(true).catch(() => {});
    if (cause instanceof MeshctlError) throw cause;
    throw new MeshctlError(
      "XDS_PORT_IN_USE",
      `Could not listen on ${host}:${options.port ?? DEFAULT_XDS_PORT}: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        kind: "environment",
        cause,
        suggestions: ["Pick another port with --port (0 picks a free one)."],
      },
    );
  }

  const adsRef = ads;
  let debug: Awaited<ReturnType<typeof startDebugServer>> | undefined;
  if (options.debugPort !== false) {
    try {
      debug = await startDebugServer(
        {
          clients: () => adsRef.clients(),
          configForNode: (id) => adsRef.configForNode(id),
          mesh: () => source.current(),
          metrics: () => metrics.render(),
        },
        debugHost,
        options.debugPort ?? DEFAULT_DEBUG_PORT,
      );
    } catch (cause) {
      source.close();
      adsRef.closeAll();
      server.forceShutdown();
      await listener.close(true).catch(() => {});
      throw new MeshctlError(
        "XDS_PORT_IN_USE",
        `Could not listen on debug port ${options.debugPort ?? DEFAULT_DEBUG_PORT}: ${cause instanceof Error ? cause.message : String(cause)}`,
        {
          kind: "environment",
          cause,
          suggestions: ["Pick another port with --debug-port (0 picks a free one)."],
        },
      );
    }
  }

  let closed = false;
  return {
    host,
    port,
    address: `${host.includes(":") ? `[${host}]` : host}:${port}`,
    debugPort: debug?.port,
    source: source.description,
    warnings,
    clients: () => adsRef.clients(),
    mesh: () => source.current(),
    settled: () => adsRef.settled(source.current().model),
    metrics: () => metrics.render(),
    async close() {
      if (closed) return;
      closed = true;
      source.close();
      // Stop accepting, end every stream (GOAWAY), then after a short grace cut whatever is
      // left: a consumer that stopped reading never lets a graceful close finish.
      const stopped = listener.close(false);
      adsRef.closeAll();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, CLOSE_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await listener.close(true);
      await stopped;
      if (debug) {
        debug.server.closeAllConnections();
        await new Promise<void>((resolve) => debug?.server.close(() => resolve()));
      }
    },
  };
}
