/**
 * A process entry (a `*-main.ts` file: the only kind of library file that may exit) that runs
 * the control plane alone, so a load harness can measure its CPU and memory without its own:
 * `node serve-main.js '{"configDir":DIR,"port":0,"debugPort":0,"options":{}}'`, or with the mesh
 * from an API server: `{"kubeconfig":FILE,"context":NAME,"namespaceSelectors":["a=b"],...}`
 * (`"inCluster":true` for the pod's service account).
 * Prints one JSON line `{"address","debugPort","pid"}` once serving; stops on SIGTERM/SIGINT.
 */
import { directoryMeshSource } from "./model/directory-source.js";
import { type KubernetesSourceOptions, kubernetesMeshSource } from "./model/kubernetes-source.js";
import { startXdsServer, type XdsServerOptions } from "./server/start.js";

interface ServeProcessSpec
  extends Pick<KubernetesSourceOptions, "kubeconfig" | "context" | "inCluster" | "namespaceSelectors"> {
  /** A directory of mesh YAML; without it, the Kubernetes API (kubeconfig ... namespaceSelectors). */
  readonly configDir?: string;
  readonly port?: number;
  readonly debugPort?: number;
  /** ADS listen address (default 127.0.0.1); beyond loopback, `insecure` must be set. */
  readonly host?: string;
  readonly insecure?: boolean;
  /** Tuning knobs, by the names of XdsServerOptions (unknown names are an error). */
  readonly options?: Readonly<Record<string, string | number | boolean>>;
}

const KNOBS: Record<string, (v: string | number | boolean) => Partial<XdsServerOptions>> = {
  debounceAfterMs: (v) => ({ debounceAfterMs: Number(v) }),
  debounceMaxMs: (v) => ({ debounceMaxMs: Number(v) }),
  debounceEdsMaxMs: (v) => ({ debounceEdsMaxMs: Number(v) }),
  pushConcurrency: (v) => ({ pushConcurrency: Number(v) }),
  maxStreamsPerSecond: (v) => ({ maxStreamsPerSecond: Number(v) }),
  cache: (v) => ({ cache: v === true || v === "true" }),
  scoping: (v) => ({ scoping: v === true || v === "true" }),
  maxConnectionAgeMs: (v) => ({ maxConnectionAgeMs: Number(v) }),
  maxConnectionAgeGraceMs: (v) => ({ maxConnectionAgeGraceMs: Number(v) }),
  maxConnections: (v) => ({ maxConnections: Number(v) }),
  maxStreamsPerClient: (v) => ({ maxStreamsPerClient: Number(v) }),
  maxStreamsPerConnection: (v) => ({ maxStreamsPerConnection: Number(v) }),
  handshakeTimeoutMs: (v) => ({ handshakeTimeoutMs: Number(v) }),
  connectionIdleMs: (v) => ({ connectionIdleMs: Number(v) }),
  maxResourceNames: (v) => ({ maxResourceNames: Number(v) }),
  maxResourceNameLength: (v) => ({ maxResourceNameLength: Number(v) }),
  writeTimeoutMs: (v) => ({ writeTimeoutMs: Number(v) }),
  nackBackoffMs: (v) => ({ nackBackoffMs: Number(v) }),
};

async function main(): Promise<number> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as ServeProcessSpec;
  let options: Partial<XdsServerOptions> = {};
  for (const [key, value] of Object.entries(spec.options ?? {})) {
    const knob = KNOBS[key];
    if (!knob) {
      process.stderr.write(`serve-main: unknown option ${key} (known: ${Object.keys(KNOBS).join(", ")})\n`);
      return 2;
    }
    options = { ...options, ...knob(value) };
  }
  const server = await startXdsServer({
    ...options,
    source:
      spec.configDir !== undefined
        ? directoryMeshSource(spec.configDir)
        : kubernetesMeshSource({
            ...(spec.kubeconfig !== undefined ? { kubeconfig: spec.kubeconfig } : {}),
            ...(spec.context !== undefined ? { context: spec.context } : {}),
            ...(spec.inCluster !== undefined ? { inCluster: spec.inCluster } : {}),
            ...(spec.namespaceSelectors !== undefined ? { namespaceSelectors: spec.namespaceSelectors } : {}),
          }),
    port: spec.port ?? 0,
    debugPort: spec.debugPort ?? 0,
    ...(spec.host !== undefined ? { host: spec.host } : {}),
    ...(spec.insecure !== undefined ? { insecure: spec.insecure } : {}),
  });
  process.stdout.write(
    `${JSON.stringify({ address: server.address, debugPort: server.debugPort, pid: process.pid })}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  // close() cuts connections after a 1 s grace; this bounds the rest (the source's close).
  setTimeout(() => process.exit(0), 3000).unref();
  await server.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `serve-main: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
