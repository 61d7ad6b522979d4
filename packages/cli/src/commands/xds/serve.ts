import { MeshctlError } from "@meshctl/core";
import type { XdsServerEvent } from "@meshctl/xds";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";
import { kubeConnectionFlags } from "../kube-flags.js";

export interface XdsServeResult {
  readonly address: string;
  readonly debugPort: number | null;
  /** The mesh directory, or null when the mesh came from the Kubernetes API. */
  readonly configDir: string | null;
  /** Where the mesh came from: `directory DIR` or `kubernetes https://...`. */
  readonly source: string;
  readonly pushes: number;
  readonly nacks: number;
  readonly uptimeSeconds: number;
}

export default class XdsServe extends MeshctlCommand<XdsServeResult> {
  static override summary = "Run the xDS control plane (ADS, SotW and Delta) until stopped";
  static override description =
    `Serves Listeners, Routes, Clusters and Endpoints built from a directory of Kubernetes/Istio
YAML (Service, EndpointSlice, ServiceEntry, WorkloadEntry, VirtualService, DestinationRule,
Sidecar) to proxyless gRPC clients (xds:///name.namespace.svc.cluster.local:port) and Envoy
sidecars. The directory is watched: edits apply live; a file that does not parse or validate is
reported with file:line and the last good version keeps serving. Without --config the example
mesh shipped with meshctl is served. Logs one line per config change, debounced push (how many
proxies it concerned), NACK and connect/disconnect; --verbose adds every response and ACK. Debug
HTTP (127.0.0.1): /debug/clients, /debug/config_dump?node=ID, /debug/mesh, /metrics.
Beyond loopback, ADS needs TLS (--tls-cert, --tls-key) and the debug port stays on 127.0.0.1;
--insecure allows plaintext ADS and a non-loopback --debug-host, with a warning. Admission:
new streams per second, streams per client address and per connection, a connection cap, a
handshake and an idle timeout, and per-stream resource-name limits (RESOURCE_EXHAUSTED beyond).
Changes are debounced (--debounce-after quiet time, --debounce-max cap), then pushed only to
the proxies they concern; an endpoint-only change sends only the changed ClusterLoadAssignments.
With --kubernetes (implied by --kubeconfig, --context or --namespace-selector, and the default
in a pod with a service account and no --config) the mesh comes from the Kubernetes API instead:
Services, EndpointSlices, Pods (subset labels, locality), Nodes, Namespaces and Istio's
VirtualService, DestinationRule, Sidecar, ServiceEntry, WorkloadEntry, through list + watch.
Run several replicas behind one Service with --max-connection-age so proxies spread over them.
Extension filters (meshctl enable tstats) go only to the Envoys whose xDS Node lists them; the
others are named in /debug/clients and in the connect log line. --access-log-file puts an Envoy
access log on every sidecar HTTP connection manager and tcp_proxy (Istio's accessLogFile).
Stops on Ctrl-C (SIGINT) or SIGTERM.`;
  static override examples = [
    "<%= config.bin %> xds serve",
    "<%= config.bin %> xds serve --config ./mesh --port 15010 --debug-port 15014",
    "<%= config.bin %> xds serve --config ./mesh --host 0.0.0.0 --tls-cert server.pem --tls-key server.key --tls-client-ca ca.pem",
    "<%= config.bin %> xds serve --kubeconfig ~/.kube/config --context prod --namespace-selector istio-discovery=enabled",
    "<%= config.bin %> xds serve --kubernetes --host 0.0.0.0 --insecure --max-connection-age 30m",
    "<%= config.bin %> xds serve --access-log-file /dev/stdout",
    `<%= config.bin %> xds serve --access-log-file /tmp/envoy-access.log --access-log-encoding JSON --access-log-format '{"request_id":"%REQ(X-REQUEST-ID)%","duration_us":"%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%"}'`,
  ];
  static override flags = {
    config: Flags.string({
      description: "Directory of mesh YAML (watched). Default: the embedded example mesh.",
      helpValue: "DIR",
      env: "MESHCTL_XDS_CONFIG",
      exclusive: ["kubernetes", "kubeconfig", "context", "namespace-selector"],
    }),
    kubernetes: Flags.boolean({
      description:
        "Read the mesh from the Kubernetes API (list + watch). Default in a pod with a service account when --config is not given.",
      env: "MESHCTL_XDS_KUBERNETES",
    }),
    ...kubeConnectionFlags,
    "namespace-selector": Flags.string({
      description:
        "Only namespaces whose labels match this selector (kubectl -l syntax; repeat to OR, as Istio's discoverySelectors). Objects elsewhere are never kept.",
      helpValue: "SELECTOR",
      multiple: true,
    }),
    "max-connection-age": Flags.string({
      description:
        "Send clients a GOAWAY after a connection is this old (±10 %), so proxies spread over the replicas behind one Service (Istio's Helm default: 30m). Default: never.",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_MAX_CONNECTION_AGE",
    }),
    "max-connection-age-grace": Flags.string({
      description: "How long streams may go on after that GOAWAY before the connection is closed.",
      default: "10s",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_MAX_CONNECTION_AGE_GRACE",
    }),
    port: Flags.integer({
      description: "ADS gRPC port (0 picks a free one).",
      default: 15010,
      min: 0,
      max: 65535,
      env: "MESHCTL_XDS_PORT",
    }),
    "debug-port": Flags.integer({
      description: "Debug HTTP port (0 picks a free one).",
      default: 15014,
      min: 0,
      max: 65535,
      env: "MESHCTL_XDS_DEBUG_PORT",
    }),
    "debug-host": Flags.string({
      description:
        "Address of the debug HTTP port (/debug/clients, /metrics). In a pod, 0.0.0.0 lets `meshctl diagnose --kubeconfig` reach it through the API server's service proxy.",
      default: "127.0.0.1",
      env: "MESHCTL_XDS_DEBUG_HOST",
    }),
    host: Flags.string({
      description:
        "Address to listen on for ADS. Beyond loopback it needs --tls-cert/--tls-key, or --insecure.",
      default: "127.0.0.1",
      env: "MESHCTL_XDS_HOST",
    }),
    insecure: Flags.boolean({
      description:
        "Allow plaintext ADS (--host) and the debug port (--debug-host) beyond loopback, with a warning: only where the network is the boundary (a pod network).",
      env: "MESHCTL_XDS_INSECURE",
    }),
    "max-connections": Flags.integer({
      description: "Open ADS connections at most; beyond, new connections are closed at once.",
      default: 10_000,
      min: 1,
      env: "MESHCTL_XDS_MAX_CONNECTIONS",
    }),
    "max-streams-per-client": Flags.integer({
      description: "Open ADS streams per client address; beyond: RESOURCE_EXHAUSTED.",
      default: 10_000,
      min: 1,
      env: "MESHCTL_XDS_MAX_STREAMS_PER_CLIENT",
    }),
    "max-streams-per-connection": Flags.integer({
      description:
        "HTTP/2 concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS); clients queue beyond.",
      default: 1000,
      min: 1,
      env: "MESHCTL_XDS_MAX_STREAMS_PER_CONNECTION",
    }),
    "max-file-size": Flags.string({
      description:
        "Largest mesh YAML file read (checked before reading; a larger file is refused with an error naming it, and its last good version keeps serving).",
      default: "4MiB",
      helpValue: "SIZE",
      env: "MESHCTL_XDS_MAX_FILE_SIZE",
    }),
    "parse-timeout": Flags.string({
      description:
        "Deadline for parsing the files of one change, off the serving thread; a file that exceeds it is refused and its last good version keeps serving.",
      default: "20s",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_PARSE_TIMEOUT",
    }),
    "state-dir": Flags.string({
      description:
        "Where the last good content of every mesh file is kept, so it survives a restart. Default: .meshctl-state inside --config.",
      helpValue: "DIR",
      env: "MESHCTL_XDS_STATE_DIR",
      exclusive: ["no-state"],
    }),
    "no-state": Flags.boolean({
      description: "Keep no last-good state on disk (after a restart, a broken file serves nothing).",
      env: "MESHCTL_XDS_NO_STATE",
    }),
    "handshake-timeout": Flags.string({
      description:
        "A connection that opens no stream within this long is closed (raw TCP, stalled TLS, silent HTTP/2).",
      default: "10s",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_HANDSHAKE_TIMEOUT",
    }),
    "connection-idle-timeout": Flags.string({
      description: "A connection with no open stream for this long is closed (gRPC's max_connection_idle).",
      default: "5m",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_CONNECTION_IDLE_TIMEOUT",
    }),
    "write-timeout": Flags.string({
      description:
        "A client that reads nothing for this long while a response waits loses its connection (a slow consumer must not hold a push slot).",
      default: "10s",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_WRITE_TIMEOUT",
    }),
    "max-resource-names": Flags.integer({
      description:
        "Resource names one stream may subscribe to per type (and list in one request); beyond, the stream is closed with RESOURCE_EXHAUSTED.",
      default: 10_000,
      min: 1,
      env: "MESHCTL_XDS_MAX_RESOURCE_NAMES",
    }),
    "debounce-after": Flags.string({
      description:
        "Quiet period before a push: changes closer together than this are merged (Istio's PILOT_DEBOUNCE_AFTER).",
      default: "100ms",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_DEBOUNCE_AFTER",
    }),
    "debounce-max": Flags.string({
      description: "Longest a stream of config changes can hold a push back (PILOT_DEBOUNCE_MAX).",
      default: "10s",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_DEBOUNCE_MAX",
    }),
    "debounce-eds-max": Flags.string({
      description:
        "Longest steady endpoint churn can hold an endpoints-only push back. Default: --debounce-after.",
      helpValue: "DURATION",
      env: "MESHCTL_XDS_DEBOUNCE_EDS_MAX",
    }),
    "push-concurrency": Flags.integer({
      description: "Proxies pushed at once (PILOT_PUSH_THROTTLE). Default: min(15 + 5 x cores, 100).",
      min: 1,
      max: 10_000,
      env: "MESHCTL_XDS_PUSH_CONCURRENCY",
    }),
    "max-streams-per-second": Flags.integer({
      description:
        "New ADS streams admitted per second; a stream that would wait over 1 s gets RESOURCE_EXHAUSTED.",
      default: 500,
      min: 1,
      env: "MESHCTL_XDS_MAX_STREAMS_PER_SECOND",
    }),
    "access-log-file": Flags.string({
      description:
        "Envoy sidecars write an access log here (every HTTP connection manager and tcp_proxy), e.g. /dev/stdout. Default: no access log (Istio's meshConfig.accessLogFile).",
      helpValue: "PATH",
      env: "MESHCTL_XDS_ACCESS_LOG_FILE",
    }),
    "access-log-format": Flags.string({
      description:
        "TEXT: an Envoy format string; JSON: a JSON object of field names to Envoy commands. Default: Istio's format (meshConfig.accessLogFormat).",
      helpValue: "FMT",
      env: "MESHCTL_XDS_ACCESS_LOG_FORMAT",
      dependsOn: ["access-log-file"],
    }),
    "access-log-encoding": Flags.string({
      description: "TEXT or JSON (meshConfig.accessLogEncoding).",
      options: ["TEXT", "JSON"],
      default: "TEXT",
      helpValue: "TEXT|JSON",
      env: "MESHCTL_XDS_ACCESS_LOG_ENCODING",
    }),
    "tls-cert": Flags.string({
      description: "PEM certificate chain: serve ADS over TLS.",
      helpValue: "FILE",
      dependsOn: ["tls-key"],
    }),
    "tls-key": Flags.string({
      description: "PEM private key for --tls-cert.",
      helpValue: "FILE",
      dependsOn: ["tls-cert"],
    }),
    "tls-client-ca": Flags.string({
      description: "PEM CA bundle: require client certificates (mTLS).",
      helpValue: "FILE",
      dependsOn: ["tls-cert"],
    }),
  };

  protected async execute(): Promise<XdsServeResult> {
    const { flags } = await this.parse(XdsServe);
    // Loaded on use: the xDS stack (gRPC, protobufjs) is heavy and `meshctl --help` stays fast.
    const { defaultMeshDirectory, formatDiagnostic, formatXdsEvent, parseDurationMs, startXdsServer } =
      await import("@meshctl/xds");
    const duration = (flag: string, text: string | undefined): number | undefined => {
      if (text === undefined) return undefined;
      const ms = parseDurationMs(text);
      if (ms === undefined || ms < 0)
        throw new MeshctlError("XDS_INVALID_DURATION", `--${flag} ${text} is not a duration.`, {
          kind: "usage",
          suggestions: [`Write it like 100ms, 1.5s or 2m (--${flag} 100ms).`],
        });
      return ms;
    };
    const debounceAfterMs = duration("debounce-after", flags["debounce-after"]);
    const debounceMaxMs = duration("debounce-max", flags["debounce-max"]);
    const debounceEdsMaxMs = duration("debounce-eds-max", flags["debounce-eds-max"]);
    const maxConnectionAgeMs = duration("max-connection-age", flags["max-connection-age"]);
    const maxConnectionAgeGraceMs = duration("max-connection-age-grace", flags["max-connection-age-grace"]);
    const handshakeTimeoutMs = duration("handshake-timeout", flags["handshake-timeout"]);
    const connectionIdleMs = duration("connection-idle-timeout", flags["connection-idle-timeout"]);
    const writeTimeoutMs = duration("write-timeout", flags["write-timeout"]);
    const parseTimeoutMs = duration("parse-timeout", flags["parse-timeout"]);
    const { parseBytes } = await import("@meshctl/bench");
    const maxFileBytes = parseBytes(flags["max-file-size"], "max-file-size");
    if (maxFileBytes < 1)
      throw new MeshctlError("XDS_OPTION_INVALID", "--max-file-size must be at least 1 byte.", {
        kind: "usage",
      });
    const directory = {
      maxFileBytes,
      ...(parseTimeoutMs !== undefined ? { parseTimeoutMs } : {}),
      ...(flags["no-state"] ? { stateDir: false as const } : {}),
      ...(flags["state-dir"] !== undefined ? { stateDir: flags["state-dir"] } : {}),
    };
    const selectors = flags["namespace-selector"] ?? [];
    const kubernetes =
      flags.kubernetes ||
      flags.kubeconfig !== undefined ||
      flags.context !== undefined ||
      selectors.length > 0 ||
      // In a pod (a service account mounted) without --config: the cluster is the mesh. The env
      // check first: @meshctl/kube (client-node) is heavy and a laptop never needs it here.
      (flags.config === undefined &&
        process.env.KUBERNETES_SERVICE_HOST !== undefined &&
        (await import("@meshctl/kube")).runningInCluster());
    const json = this.jsonEnabled();
    let pushes = 0;
    let nacks = 0;
    const log = (line: string) => {
      // Event lines go to stderr under --json so stdout stays one JSON document.
      const text = `${new Date().toISOString()} ${line}`;
      if (json) process.stderr.write(`${text}\n`);
      else this.log(text);
    };
    const onEvent = (event: XdsServerEvent) => {
      if (event.type === "push") pushes++;
      if (event.type === "nack") nacks++;
      // Per-proxy lines (one per response and ACK) only with --verbose: at a few thousand
      // proxies they would be thousands of lines a second. Every debounced push logs a summary.
      if ((event.type === "ack" || event.type === "push") && !this.verbose) return;
      log(formatXdsEvent(event));
      if (event.type === "config-applied" || event.type === "diagnostics-changed") {
        for (const d of event.newDiagnostics) log(`  ${formatDiagnostic(d)}`);
        for (const d of event.resolvedDiagnostics) log(`  resolved: ${formatDiagnostic(d)}`);
      }
    };
    const configDir = kubernetes ? undefined : (flags.config ?? defaultMeshDirectory());
    const accessLogFile = flags["access-log-file"];
    const accessLog =
      accessLogFile !== undefined
        ? {
            path: accessLogFile,
            encoding: flags["access-log-encoding"] as "TEXT" | "JSON",
            ...(flags["access-log-format"] !== undefined ? { format: flags["access-log-format"] } : {}),
          }
        : undefined;
    // `meshctl enable tstats` (tstats.json in meshctl's config dir) adds telemetry filters to the
    // Envoy sidecar listeners (Istio's own, or the tstats module per proxy); read once at start.
    const { readTstatsSettings, tstatsEnvoyFilters, tstatsModuleFiles } = await import("@meshctl/tstats");
    const tstats = await readTstatsSettings();
    const envoyFilters = tstatsEnvoyFilters(tstats);
    const tstatsNote = !envoyFilters
      ? ""
      : tstats.module === "istio"
        ? ", tstats: Istio's filters (for Envoys that have them)"
        : tstats.module === "native"
          ? ", tstats: Istio's filters for Istio proxies, else the dynamic module"
          : ", tstats: the Wasm module";
    const started = Date.now();
    const server = await startXdsServer({
      ...(configDir !== undefined ? { configDir, directory } : {}),
      ...(kubernetes
        ? {
            kubernetes: {
              ...(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {}),
              ...(flags.context !== undefined ? { context: flags.context } : {}),
              ...(selectors.length > 0 ? { namespaceSelectors: selectors } : {}),
            },
          }
        : {}),
      ...(maxConnectionAgeMs !== undefined ? { maxConnectionAgeMs } : {}),
      ...(maxConnectionAgeGraceMs !== undefined ? { maxConnectionAgeGraceMs } : {}),
      ...(envoyFilters ? { envoyFilters } : {}),
      ...(accessLog ? { accessLog } : {}),
      port: flags.port,
      debugPort: flags["debug-port"],
      debugHost: flags["debug-host"],
      ...(debounceAfterMs !== undefined ? { debounceAfterMs } : {}),
      ...(debounceMaxMs !== undefined ? { debounceMaxMs } : {}),
      ...(debounceEdsMaxMs !== undefined ? { debounceEdsMaxMs } : {}),
      ...(flags["push-concurrency"] !== undefined ? { pushConcurrency: flags["push-concurrency"] } : {}),
      maxStreamsPerSecond: flags["max-streams-per-second"],
      maxConnections: flags["max-connections"],
      maxStreamsPerClient: flags["max-streams-per-client"],
      maxStreamsPerConnection: flags["max-streams-per-connection"],
      maxResourceNames: flags["max-resource-names"],
      ...(handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: Math.max(1, handshakeTimeoutMs) } : {}),
      ...(connectionIdleMs !== undefined ? { connectionIdleMs: Math.max(1, connectionIdleMs) } : {}),
      ...(writeTimeoutMs !== undefined ? { writeTimeoutMs: Math.max(1, writeTimeoutMs) } : {}),
      insecure: flags.insecure,
      host: flags.host,
      onEvent,
      ...(flags["tls-cert"] && flags["tls-key"]
        ? {
            tls: {
              certFile: flags["tls-cert"],
              keyFile: flags["tls-key"],
              ...(flags["tls-client-ca"] ? { clientCaFile: flags["tls-client-ca"] } : {}),
            },
          }
        : {}),
    });
    log(
      `xDS control plane on ${server.address}${flags["tls-cert"] ? (flags["tls-client-ca"] ? " (mTLS)" : " (TLS)") : ""}, debug http://${flags["debug-host"]}:${server.debugPort}/ , mesh ${server.source}${kubernetes || flags.config ? "" : " (embedded example)"}${tstatsNote}${accessLog ? `, access log ${accessLog.path} (${accessLog.encoding})` : ""}`,
    );
    for (const warning of server.warnings) log(`warning: ${warning} (--insecure)`);
    if (envoyFilters && tstats.module !== "istio" && tstats.modulePath === undefined) {
      const file = tstatsModuleFiles()[tstats.module];
      // The path is what Envoy is told to load; a proxy on this host fails its listeners without it.
      if (!file.exists) log(`warning: ${file.path} does not exist yet; run \`meshctl tstats build\``);
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        resolve();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    log("stopping");
    await server.close();
    return {
      address: server.address,
      debugPort: server.debugPort ?? null,
      configDir: configDir ?? null,
      source: server.source,
      pushes,
      nacks,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
    };
  }

  protected renderText(result: XdsServeResult): string {
    return `Stopped after ${result.uptimeSeconds}s: ${result.pushes} pushes, ${result.nacks} NACKs.`;
  }
}
