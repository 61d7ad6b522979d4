/**
 * Reads a directory of YAML into a MeshModel, and watches it. A file that fails to parse or
 * validate keeps its last good version in the model (if it ever had one), so a typo never
 * drops traffic; the failure is reported with file, line and reason.
 */
import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { MeshctlError } from "@meshctl/core";
import { assembleMeshModel } from "./assemble.js";
import { type MeshItem, type ParsedFile, parseMeshFile } from "./parse-documents.js";
import type { ConfigDiagnostic, MeshModel } from "./types.js";

export interface MeshSnapshot {
  readonly model: MeshModel;
  /** Current problems: every invalid file and every cross-object warning. */
  readonly diagnostics: readonly ConfigDiagnostic[];
  /** Files whose current content is rejected (their last good version, if any, is in use). */
  readonly rejectedFiles: readonly string[];
  /** Content hash of the accepted inputs; equal hashes mean equal models. */
  readonly hash: string;
  readonly files: number;
}

interface FileState {
  contentHash: string;
  /** Content seen once but not yet accepted (see `scan({ requireStable })`). */
  pendingHash?: string;
  parsed: ParsedFile;
  lastGood: readonly MeshItem[] | undefined;
  lastGoodHash: string | undefined;
}

const YAML_FILE = /\.ya?ml$/i;

async function listYamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (YAML_FILE.test(e.name)) out.push(full);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Incremental loader: remembers each file's last good items between scans. */
export class MeshDirectoryLoader {
  private readonly files = new Map<string, FileState>();
  private readonly pending = new Map<string, string>();
  private readonly pendingDeletes = new Set<string>();
  /** True when the last scan saw content that must be read again before it is accepted. */
  unstable = false;

  constructor(readonly dir: string) {}

  /**
   * Reads the directory. With `requireStable`, a file's new content (or its deletion) is
   * accepted only once two consecutive scans agree: a writer that truncates and then writes
   * (most non-atomic saves) is never seen half-written, which would briefly drop services.
   */
  async scan(opts: { requireStable?: boolean } = {}): Promise<MeshSnapshot> {
    this.unstable = false;
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(this.dir);
    } catch (cause) {
      throw new MeshctlError(
        "XDS_CONFIG_DIR_MISSING",
        `The mesh config directory ${this.dir} does not exist.`,
        {
          kind: "usage",
          cause,
          suggestions: [
            "Pass --config with a directory of Kubernetes/Istio YAML files, or omit it to use the built-in example mesh.",
          ],
        },
      );
    }
    if (!st.isDirectory())
      throw new MeshctlError("XDS_CONFIG_DIR_MISSING", `${this.dir} is not a directory.`, { kind: "usage" });
    const paths = await listYamlFiles(this.dir);
    const seen = new Set<string>();
    for (const path of paths) {
      const rel = relative(this.dir, path);
      seen.add(rel);
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch {
        continue; // removed between readdir and read: the next scan sees it gone
      }
      const contentHash = createHash("sha256").update(text).digest("hex");
      const prev = this.files.get(rel);
      if (prev && prev.contentHash === contentHash) {
        this.pending.delete(rel);
        continue;
      }
      if (opts.requireStable && this.pending.get(rel) !== contentHash) {
        this.pending.set(rel, contentHash);
        this.unstable = true;
        continue;
      }
      this.pending.delete(rel);
      const parsed = parseMeshFile(rel, text);
      this.files.set(rel, {
        contentHash,
        parsed,
        lastGood: parsed.valid ? parsed.items : prev?.lastGood,
        lastGoodHash: parsed.valid ? contentHash : prev?.lastGoodHash,
      });
    }
    for (const rel of [...this.files.keys()]) {
      if (seen.has(rel)) {
        this.pendingDeletes.delete(rel);
        continue;
      }
      if (opts.requireStable && !this.pendingDeletes.has(rel)) {
        this.pendingDeletes.add(rel);
        this.unstable = true;
        continue;
      }
      this.pendingDeletes.delete(rel);
      this.files.delete(rel);
    }
    for (const rel of [...this.pending.keys()]) if (!seen.has(rel)) this.pending.delete(rel);
    return this.snapshot();
  }

  private snapshot(): MeshSnapshot {
    const items: MeshItem[] = [];
    const diagnostics: ConfigDiagnostic[] = [];
    const rejected: string[] = [];
    const hash = createHash("sha256");
    for (const [rel, state] of [...this.files.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      diagnostics.push(...state.parsed.diagnostics);
      if (!state.parsed.valid) rejected.push(rel);
      if (state.lastGood) {
        items.push(...state.lastGood);
        hash.update(`${rel}\0${state.lastGoodHash}\0`);
      }
    }
    const assembled = assembleMeshModel(items);
    diagnostics.push(...assembled.diagnostics);
    return {
      model: assembled.model,
      diagnostics,
      rejectedFiles: rejected,
      hash: hash.digest("hex"),
      files: this.files.size,
    };
  }
}

/**
 * Loads a directory of Kubernetes/Istio YAML once.
 *
 * @example
 * const { model, diagnostics } = await loadMeshDirectory("./mesh");
 * for (const d of diagnostics) console.log(`${d.file}:${d.line} ${d.reason}`);
 */
export async function loadMeshDirectory(dir: string): Promise<MeshSnapshot> {
  return new MeshDirectoryLoader(dir).scan();
}

export interface MeshWatcher {
  readonly current: MeshSnapshot;
  close(): void;
}

/**
 * Watches a directory and calls `onChange` with each new snapshot whose accepted inputs or
 * diagnostics changed. fs.watch events are coalesced for `settleMs`; a slow poll catches
 * events some file systems drop.
 */
export async function watchMeshDirectory(
  dir: string,
  onChange: (snapshot: MeshSnapshot) => void,
  opts: { settleMs?: number; pollMs?: number; onError?: (error: unknown) => void } = {},
): Promise<MeshWatcher> {
  const loader = new MeshDirectoryLoader(dir);
  let current = await loader.scan();
  let diagKey = JSON.stringify(current.diagnostics);
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let closed = false;
  const rescan = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const next = await loader.scan({ requireStable: true });
        const nextDiag = JSON.stringify(next.diagnostics);
        if (next.hash !== current.hash || nextDiag !== diagKey) {
          current = next;
          diagKey = nextDiag;
          if (!closed) onChange(next);
        }
        // Content seen for the first time is confirmed by a second read one settle period later.
        if (loader.unstable && !closed) schedule();
      } while (again && !closed);
    } catch (error) {
      opts.onError?.(error);
    } finally {
      running = false;
    }
  };
  const schedule = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void rescan(), opts.settleMs ?? 25);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { recursive: true, persistent: false }, schedule);
    watcher.on("error", (e) => opts.onError?.(e));
  } catch (error) {
    opts.onError?.(error);
  }
  const poll = setInterval(() => void rescan(), opts.pollMs ?? 2000);
  poll.unref();
  return {
    get current() {
      return current;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      clearInterval(poll);
      watcher?.close();
    },
  };
}
