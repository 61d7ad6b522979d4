/**
 * Parsing mesh YAML off the serving thread (ADR 0066): one worker thread, reused, one job at a
 * time. The worker runs with `resourceLimits`, so a file that needs more memory than allowed
 * kills the worker (and only it), and whatever it held is returned when it ends. Each file has
 * a deadline: a parse that overruns it terminates the worker, that file is rejected, and the
 * files after it go to a fresh worker.
 *
 * All files of one scan travel in one job: a warm round trip costs ~1 ms for a small file,
 * about what parsing it costs in-thread (measured: 100 one-Service files, 109 ms through the
 * worker vs 91 ms in-thread). So small files are NOT parsed in-thread: the saving would be
 * tiny, and small inputs can be the dangerous ones (an alias bomb or 10,000 `[` fit in a few
 * KiB). The one cost is the worker's start (~50 ms from dist, ~0.5 s through tsx from
 * sources), paid at the first scan and again after `idleMs` without work.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { parseMeshFileFiltered } from "./file-prefilter.js";
import type { ParsedFile } from "./parse-documents.js";

/** Set in `workerData`: only a worker started here answers jobs (see parse-worker.ts). */
export const PARSE_WORKER_MARK = "meshctl-xds-parse-worker";

export interface ParseJob {
  readonly id: number;
  readonly files: readonly { readonly file: string; readonly text: string }[];
}

export type ParseReply =
  | { readonly ready: true }
  | { readonly id: number; readonly index: number; readonly parsed: ParsedFile; readonly heapBytes?: number }
  | { readonly id: number; readonly index: number; readonly error: string; readonly heapBytes?: number };

/** Each running worker's V8 heap committed (bytes): first reported (after its first file) and last. */
const workerHeaps = new Map<Worker, { readonly first: number; last: number }>();

/**
 * V8 heap committed by all parse workers of this process, as they last reported it (with each
 * parsed file): part of the process's RSS that `process.memoryUsage()` does not show, since a
 * worker has its own isolate. 0 when no worker runs.
 *
 * @example
 * parseWorkerHeapBytes(); // 18874368
 */
export function parseWorkerHeapBytes(): number {
  let sum = 0;
  for (const { last } of workerHeaps.values()) sum += last;
  return sum;
}

export type ParseOutcome =
  | { readonly ok: true; readonly parsed: ParsedFile }
  | {
      readonly ok: false;
      /** `timeout`: over the deadline; `memory`: over the worker's heap limit; `crashed`: the worker failed otherwise; `closed`: the source closed first. */
      readonly reason: "timeout" | "memory" | "crashed" | "closed";
      readonly message: string;
    };

export interface MeshParseWorkerOptions {
  /** Deadline per file (ms). */
  readonly timeoutMs: number;
  /** The worker's old-generation heap limit (MB): `resourceLimits.maxOldGenerationSizeMb`. */
  readonly memoryMb: number;
  /** An idle worker ends after this long (ms), returning its memory. Default 10,000. */
  readonly idleMs?: number;
  /** The worker entry file; default: resolveParseWorkerEntry(). */
  readonly entry?: string;
  /**
   * A worker whose heap grew by more than this (MiB) over its first report is replaced after
   * its job: V8 grows a busy isolate's heap lazily toward its limit, and a worker that never
   * idles (steady churn) would otherwise keep what it grew. Default 16.
   */
  readonly recycleHeapGrowthMb?: number;
}

/** After a job this big (bytes of YAML) the worker ends at once: its heap grew, give it back. */
const BIG_JOB_BYTES = 1024 * 1024;
/** How long a new worker may take to load its code (tsx compiles sources on the fly). */
const START_TIMEOUT_MS = 60_000;

/**
 * The parse worker entry next to this module: built (`parse-worker.js` beside the bundle that
 * holds this code: dist/index.js, dist/serve-main.js) or source (`parse-worker.ts`); else the
 * one of the installed @meshctl/xds (a bundle elsewhere, e.g. the load benchmark's serve-main).
 *
 * @example
 * resolveParseWorkerEntry(); // ".../packages/xds/dist/parse-worker.js"
 */
export function resolveParseWorkerEntry(): string | undefined {
  const candidates = ["./parse-worker.js", "./parse-worker.ts"].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve("@meshctl/xds/package.json"));
    candidates.push(join(pkg, "dist", "parse-worker.js"), join(pkg, "src", "model", "parse-worker.ts"));
  } catch {
    // not resolvable from here: the relative candidates remain
  }
  return candidates.find((c) => existsSync(c));
}

/** A worker for `entry`: plain JS directly; TypeScript sources through tsx's scoped import. */
function startWorker(entry: string, memoryMb: number): Worker {
  const options = {
    workerData: { mark: PARSE_WORKER_MARK },
    resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: Math.min(64, memoryMb) },
    stdout: false,
    stderr: false,
  };
  if (!entry.endsWith(".ts")) return new Worker(entry, { ...options, execArgv: [] });
  // Node 20 does not apply `--import tsx` to a worker's entry; tsx's tsImport() does.
  const tsxDir = dirname(createRequire(import.meta.url).resolve("tsx/package.json"));
  const api = pathToFileURL(join(tsxDir, "dist", "esm", "api", "index.mjs")).href;
  const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(pathToFileURL(entry).href)}, ${JSON.stringify(import.meta.url)}));`;
  return new Worker(code, { ...options, eval: true, execArgv: ["--conditions=@meshctl/source"] });
}

/**
 * @example
 * const parser = new MeshParseWorker({ timeoutMs: 20_000, memoryMb: 768 });
 * const [outcome] = await parser.parse([{ file: "a.yaml", text }]);
 * parser.close();
 */
export class MeshParseWorker {
  private worker: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private jobs = 0;
  private starts = 0;
  private idle: NodeJS.Timeout | undefined;
  private closed = false;
  /** Ends the job in flight (on close). */
  private abort: (() => void) | undefined;
  /** Why no worker could start (parsing then runs in-thread, and the source says so). */
  unavailable: string | undefined;

  constructor(private readonly options: MeshParseWorkerOptions) {}

  /** Parses `files` in order; one outcome per file. Jobs run one at a time. */
  parse(files: readonly { readonly file: string; readonly text: string }[]): Promise<ParseOutcome[]> {
    const run = this.queue.then(() => this.run(files));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Terminates the worker now (a parse in flight ends with `closed` outcomes). */
  close(): void {
    this.closed = true;
    this.abort?.();
    this.stop();
  }

  private stop(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    const worker = this.worker;
    this.worker = undefined;
    this.starting = undefined;
    if (worker) void worker.terminate();
  }

  /** Has the current worker's heap grown past `recycleHeapGrowthMb` over its first report? */
  private heapGrew(): boolean {
    const worker = this.worker;
    if (!worker) return false;
    const heap = workerHeaps.get(worker);
    if (!heap) return false;
    return heap.last - heap.first > (this.options.recycleHeapGrowthMb ?? 16) * 1024 * 1024;
  }

  /** Workers started so far (the first, and each replacement). */
  get started(): number {
    return this.starts;
  }

  private async ensure(): Promise<Worker> {
    if (this.worker) return this.worker;
    this.starting ??= new Promise<Worker>((resolve, reject) => {
      const entry = this.options.entry ?? resolveParseWorkerEntry();
      if (!entry) {
        reject(new Error("the parse-worker entry was not found next to @meshctl/xds"));
        return;
      }
      let worker: Worker;
      try {
        worker = startWorker(entry, this.options.memoryMb);
        this.starts++;
      } catch (error) {
        reject(error);
        return;
      }
      worker.unref();
      const timer = setTimeout(() => fail(new Error("the parse worker did not start")), START_TIMEOUT_MS);
      const fail = (error: unknown) => {
        clearTimeout(timer);
        worker.off("message", onReady);
        void worker.terminate();
        reject(error);
      };
      const onReady = (m: ParseReply) => {
        if (!("ready" in m)) return;
        clearTimeout(timer);
        worker.off("message", onReady);
        worker.off("error", fail);
        worker.off("exit", onExit);
        // Between jobs nobody else listens: an unhandled worker "error" would end the process.
        const forget = () => {
          if (this.worker === worker) this.worker = undefined;
        };
        worker.on("error", forget);
        worker.on("exit", forget);
        worker.once("exit", () => workerHeaps.delete(worker));
        this.worker = worker;
        resolve(worker);
      };
      const onExit = (code: number) => fail(new Error(`the parse worker exited (${code}) while starting`));
      worker.on("message", onReady);
      worker.once("error", fail);
      worker.once("exit", onExit);
    });
    return this.starting;
  }

  private async run(
    files: readonly { readonly file: string; readonly text: string }[],
  ): Promise<ParseOutcome[]> {
    if (this.idle) clearTimeout(this.idle);
    const out: ParseOutcome[] = [];
    while (out.length < files.length && !this.closed) {
      let worker: Worker;
      try {
        worker = await this.ensure();
      } catch (error) {
        if (this.closed) break;
        this.starting = undefined;
        this.unavailable = error instanceof Error ? error.message : String(error);
        // Without a worker the source would serve nothing at all; parsing here is the lesser
        // evil (the size limit still bounds it), and the source reports it as a warning.
        for (const f of files.slice(out.length))
          out.push({ ok: true, parsed: parseMeshFileFiltered(f.file, f.text) });
        break;
      }
      this.unavailable = undefined;
      out.push(...(await this.runOn(worker, files.slice(out.length))));
    }
    while (out.length < files.length) out.push({ ok: false, reason: "closed", message: "the source closed" });
    const bytes = files.reduce((n, f) => n + f.text.length, 0);
    if (bytes >= BIG_JOB_BYTES || this.heapGrew()) this.stop();
    else if (this.worker && !this.closed) {
      this.idle = setTimeout(() => this.stop(), this.options.idleMs ?? 10_000);
      this.idle.unref();
    }
    return out;
  }

  /**
   * Sends one job; resolves with the outcomes of the files done, plus the failed one when the
   * worker failed (the caller sends the rest to a new worker).
   */
  private runOn(worker: Worker, files: readonly { file: string; text: string }[]): Promise<ParseOutcome[]> {
    const id = ++this.jobs;
    const out: ParseOutcome[] = [];
    const { timeoutMs, memoryMb } = this.options;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          finish({
            ok: false,
            reason: "timeout",
            message: `parsing took longer than ${timeoutMs} ms (the parse deadline); the parse was stopped`,
          });
        }, timeoutMs);
      };
      const finish = (failure?: ParseOutcome) => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        this.abort = undefined;
        if (failure) {
          out.push(failure);
          if (this.worker === worker) this.stop();
          else void worker.terminate();
        }
        resolve(out);
      };
      const onMessage = (m: ParseReply) => {
        if (!("id" in m) || m.id !== id) return;
        if (m.heapBytes !== undefined) {
          const heap = workerHeaps.get(worker);
          if (heap) heap.last = m.heapBytes;
          else workerHeaps.set(worker, { first: m.heapBytes, last: m.heapBytes });
        }
        out.push(
          "parsed" in m
            ? { ok: true, parsed: m.parsed }
            : { ok: false, reason: "crashed", message: `the parser failed: ${m.error}` },
        );
        if (out.length === files.length) finish();
        else arm();
      };
      const onError = (error: Error & { code?: string }) =>
        finish(
          error.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? {
                ok: false,
                reason: "memory",
                message: `parsing needed more than ${memoryMb} MB (the parse memory limit); the parse was stopped`,
              }
            : { ok: false, reason: "crashed", message: `the parse worker failed: ${error.message}` },
        );
      const onExit = (code: number) =>
        finish({ ok: false, reason: "crashed", message: `the parse worker exited (${code})` });
      this.abort = () => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        resolve(out);
      };
      worker.on("message", onMessage);
      worker.once("error", onError);
      worker.once("exit", onExit);
      arm();
      worker.postMessage({ id, files } satisfies ParseJob);
    });
  }
}
