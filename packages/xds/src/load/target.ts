/**
 * The target drivers' common contract and helpers. A driver starts (or points at) one xDS
 * server, applies churn the way that server takes input (files or its HTTP API), and stops it.
 * The harness measures every server the same way: through the wire protocol only.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChurnChange } from "./churn.js";
import type { ProxyIdentity } from "./proxy-plan.js";
import type { SyntheticMeshDescription } from "./synthetic-mesh.js";

export type ServerOptionValue = string | number | boolean;

export interface TargetEndpoint {
  /** `host:port` of the ADS server. */
  readonly address: string;
  /** The server process, measured for CPU and memory. */
  readonly pid?: number;
  /** Helper processes measured separately (istiod's API server and etcd). */
  readonly componentPids?: Readonly<Record<string, number>>;
  readonly metricsUrl?: string;
  /** Prefix of the server's own metrics to copy into the report (`meshctl_xds_`, `pilot_`). */
  readonly metricsPrefix?: string;
  /**
   * From the control plane's spawn to its ready signal, ms: its own initial load (a directory
   * read, or the informers' list + sync from an API server). Setup before it is not counted.
   */
  readonly startMs?: number;
  /** Process names (keys of componentPids, or `server`) whose CPU from their start is booked to phase `start`. */
  readonly countStartCpu?: readonly string[];
}

export interface TargetContext {
  readonly description: SyntheticMeshDescription;
  readonly proxies: readonly ProxyIdentity[];
  /** The mesh as files (relative path -> YAML), for drivers that load it elsewhere (an API server). */
  readonly files: Readonly<Record<string, string>>;
}

export interface LoadTargetDriver {
  /** Report name: `meshctl`, `go-control-plane`, `istiod`, `external`. */
  readonly name: string;
  /** False when the harness cannot change the server's config (then only initial convergence runs). */
  readonly canChurn: boolean;
  start(meshDir: string, context: TargetContext): Promise<TargetEndpoint>;
  /**
   * Applies a change. A driver with `settle` may resolve once the write is under way and calls
   * `written` when the server acknowledged it; for the others, resolving is the write.
   */
  apply(change: ChurnChange, written?: () => void): Promise<void>;
  /** After the last change: waits for changes still being written, and throws their failure. */
  settle?(): Promise<void>;
  /** Driver figures for the report (setup times, write latencies), flat name -> number. */
  details?(): Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

let tmpCounter = 0;

/**
 * Writes a file atomically (temp name + rename), so a watcher never reads it half-written.
 * The temp name starts with a dot and does not end in .yaml, so no watcher takes it as config.
 *
 * @example
 * await writeFileAtomic("/tmp/mesh/ns-00/svc-0.yaml", yaml);
 */
export async function writeFileAtomic(path: string, text: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${process.pid}-${++tmpCounter}.tmp`);
  try {
    await writeFile(tmp, text);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    await mkdir(dir, { recursive: true });
    await writeFile(tmp, text);
  }
  await rename(tmp, path);
}

/** Writes every file of a mesh (relative path -> text) under `dir`. */
export async function writeMeshFiles(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  const entries = Object.entries(files);
  // A few at a time: thousands of parallel writes only queue in libuv's thread pool.
  for (let i = 0; i < entries.length; i += 64)
    await Promise.all(entries.slice(i, i + 64).map(([rel, text]) => writeFileAtomic(join(dir, rel), text)));
}

/** The monorepo root: the nearest parent with a package.json that declares workspaces. */
export function findRepoRoot(from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = from;
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { workspaces?: unknown }).workspaces) return dir;
      } catch {
        // not JSON: keep looking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Reads the first line of a child's stdout as JSON, or rejects when it exits or times out first. */
export function readReadyLine<T>(
  stdout: NodeJS.ReadableStream | null,
  exited: Promise<unknown>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (!stdout) {
      reject(new Error(`${what}: no stdout`));
      return;
    }
    let buffer = "";
    const timer = setTimeout(
      () => reject(new Error(`${what} was not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer | string) => {
      buffer += chunk.toString();
      const nl = buffer.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      stdout.off("data", onData);
      // Keep draining, so a chatty child never blocks on a full pipe.
      stdout.on("data", () => {});
      try {
        resolve(JSON.parse(buffer.slice(0, nl)) as T);
      } catch {
        reject(
          new Error(`${what} printed ${JSON.stringify(buffer.slice(0, nl))} instead of its JSON ready line`),
        );
      }
    };
    stdout.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${what} exited before it was ready`));
    });
  });
}

/** Keeps the last `max` lines of a stream (a child's stderr, for error messages). */
export function tailLines(stream: NodeJS.ReadableStream | null, max = 20): () => string {
  const lines: string[] = [];
  let partial = "";
  stream?.on("data", (chunk: Buffer | string) => {
    const parts = (partial + chunk.toString()).split("\n");
    partial = parts.pop() ?? "";
    for (const l of parts) {
      lines.push(l);
      if (lines.length > max) lines.shift();
    }
  });
  return () => [...lines, ...(partial ? [partial] : [])].join("\n");
}
