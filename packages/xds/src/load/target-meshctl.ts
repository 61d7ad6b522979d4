/**
 * meshctl's own control plane as a child process (`serve-main`), so its CPU and memory are
 * measured alone. Churn is file writes into the directory it watches.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { allocatorEnv, MeshctlError, type SpawnedProgram, spawnProgram } from "@meshctl/core";
import type { ChurnChange } from "./churn.js";
import {
  type LoadTargetDriver,
  readReadyLine,
  type ServerOptionValue,
  type TargetContext,
  type TargetEndpoint,
  tailLines,
  writeMeshFiles,
} from "./target.js";

/**
 * The serve-main entry next to this module: built (`dist/serve-main.js`, whether this code
 * runs bundled in `dist/` or not) or source (`src/serve-main.ts`).
 *
 * @example
 * resolveServeProcessEntry(); // ".../packages/xds/dist/serve-main.js"
 */
export function resolveServeProcessEntry(): string | undefined {
  for (const rel of ["../serve-main.js", "./serve-main.js", "../serve-main.ts"]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** Node arguments to run an entry file: TypeScript sources go through tsx with the source condition. */
function nodeArgs(entry: string): string[] {
  if (!entry.endsWith(".ts")) return [entry];
  const tsx = createRequire(import.meta.url).resolve("tsx");
  return ["--conditions=@meshctl/source", "--import", pathToFileURL(tsx).href, entry];
}

export interface MeshctlTargetOptions {
  /** Server knobs passed through to serve-main (`debounceAfterMs`, `cache`, `scoping`, ...). */
  readonly serverOptions?: Readonly<Record<string, ServerOptionValue>>;
  /** The serve-main entry; default: resolveServeProcessEntry(). */
  readonly entry?: string;
  readonly readyTimeoutMs?: number;
  /** ADS and debug ports; default 0 (any free port). `restart()` reuses the ports of the first start. */
  readonly port?: number;
  readonly debugPort?: number;
}

/**
 * @example
 * const target = new MeshctlTarget({ serverOptions: { cache: false } });
 * const { address, pid, metricsUrl } = await target.start(meshDir, context);
 */
export class MeshctlTarget implements LoadTargetDriver {
  readonly name: string = "meshctl";
  readonly canChurn = true;
  private child: SpawnedProgram | undefined;
  private meshDir = "";
  private ports: { port: number; debugPort: number } | undefined;
  private childExited = false;
  private stderrTail: () => string = () => "";

  constructor(protected readonly options: MeshctlTargetOptions = {}) {}

  async start(meshDir: string, _context?: TargetContext): Promise<TargetEndpoint> {
    this.meshDir = meshDir;
    return this.spawn({ configDir: meshDir });
  }

  /**
   * Spawns serve-main with `source` (its mesh source fields: `configDir`, or the kube ones) and
   * waits for its ready line.
   */
  protected async spawn(source: Readonly<Record<string, unknown>>): Promise<TargetEndpoint> {
    const entry = this.options.entry ?? resolveServeProcessEntry();
    if (!entry)
      throw new MeshctlError(
        "XDS_LOAD_SERVER_MISSING",
        "meshctl's serve-main entry was not found next to @meshctl/xds.",
        {
          kind: "environment",
          suggestions: ["Build the package (npm run build), or run from the source tree."],
        },
      );
    const spec = {
      ...source,
      port: this.ports?.port ?? this.options.port ?? 0,
      debugPort: this.ports?.debugPort ?? this.options.debugPort ?? 0,
      options: this.options.serverOptions ?? {},
    };
    // MESHCTL_XDS_LOAD_NODE_ARGS: extra Node flags for the control plane (e.g. `--cpu-prof`).
    const extra = (process.env.MESHCTL_XDS_LOAD_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const spawnedAt = performance.now();
    // glibc's malloc settings for a long-running server, as `meshctl xds serve` runs it (ADR 0068).
    const child = spawnProgram(process.execPath, [...extra, ...nodeArgs(entry), JSON.stringify(spec)], {
      env: allocatorEnv(process.env),
    });
    this.child = child;
    this.childExited = false;
    void child.exited.then(() => {
      if (this.child === child) this.childExited = true;
    });
    const stderr = tailLines(child.stderr);
    this.stderrTail = stderr;
    try {
      const ready = await readReadyLine<{ address: string; debugPort: number; pid: number }>(
        child.stdout,
        child.exited,
        this.options.readyTimeoutMs ?? 120_000,
        "meshctl serve-main",
      );
      this.ports = {
        port: Number(ready.address.slice(ready.address.lastIndexOf(":") + 1)),
        debugPort: ready.debugPort,
      };
      return {
        address: ready.address,
        pid: ready.pid,
        metricsUrl: `http://127.0.0.1:${ready.debugPort}/metrics`,
        metricsPrefix: "meshctl_xds_",
        startMs: performance.now() - spawnedAt,
        countStartCpu: ["server"],
      };
    } catch (cause) {
      await this.stop();
      throw new MeshctlError(
        "XDS_LOAD_SERVER_FAILED",
        `meshctl's control plane did not start: ${cause instanceof Error ? cause.message : String(cause)}\n${stderr()}`,
        { kind: "external", cause, suggestions: ["Check the --server-option values."] },
      );
    }
  }

  async apply(change: ChurnChange): Promise<void> {
    await writeMeshFiles(this.meshDir, change.files);
  }

  /** Whether the control plane started last is still running (false once it died on its own). */
  get running(): boolean {
    return this.child !== undefined && !this.childExited;
  }

  /** The last lines the control plane wrote to stderr (why it died, when it did). */
  lastStderr(): string {
    return this.stderrTail();
  }

  /**
   * Kills the control plane with `signal` (SIGKILL: a crash, nothing flushed) and waits until it
   * is gone. `restart()` then starts it again.
   */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    child.kill(signal);
    await child.exited;
  }

  /**
   * Starts the control plane again on the same directory and ports (after `kill()`), so clients
   * reconnect to the address they had. Retries a few times while the old ports are still held.
   *
   * @example
   * await target.kill("SIGKILL");
   * const endpoint = await target.restart();
   */
  async restart(attempts = 5): Promise<TargetEndpoint> {
    if (this.child) await this.kill();
    for (let i = 1; ; i++) {
      try {
        return await this.spawn({ configDir: this.meshDir });
      } catch (error) {
        if (i >= attempts || !/EADDRINUSE/.test(error instanceof Error ? error.message : "")) throw error;
        await new Promise((r) => setTimeout(r, 200 * i));
      }
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    child.kill("SIGTERM");
    const killed = setTimeout(() => child.kill("SIGKILL"), 5000);
    await child.exited;
    clearTimeout(killed);
  }
}
