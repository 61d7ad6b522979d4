/**
 * A directory of Kubernetes/Istio YAML as a MeshSource. Every object keeps its last good version
 * (per `Kind/namespace/name`, not per file): an object that fails to validate keeps serving as
 * it was, while the valid objects beside it apply. A file that is not readable YAML at all keeps
 * every object it had. Problems are reported with file:line:column and field path.
 */
import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { MeshctlError } from "@meshctl/core";
import type { MeshItem, ParsedFile } from "./parse-documents.js";
import { parseMeshFile } from "./parse-documents.js";
import { MeshSnapshotBuilder } from "./snapshot-builder.js";
import { type MeshSnapshot, type MeshSource, type MeshSourceEvent, sourceEventBetween } from "./source.js";
import { type ConfigDiagnostic, configKeyString } from "./types.js";

interface FileState {
  /** mtime/size/inode: unchanged stats mean unchanged content, without reading it. */
  statKey: string;
  contentHash: string;
  /** Content seen once but not yet accepted (see `scan({ requireStable })`). */
  pendingHash?: string;
  parsed: ParsedFile;
  /** Diagnostics of this file beyond the parser's (duplicates). */
  extra: ConfigDiagnostic[];
  /** Keys this file defines (owns). */
  keys: Set<string>;
}

const YAML_FILE = /\.ya?ml$/i;

async function listYamlFiles(dir: string, dirs?: Set<string>): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    dirs?.add(d);
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

/** Incremental loader: remembers each object's last good version between scans. */
export class MeshDirectoryLoader {
  private readonly files = new Map<string, FileState>();
  private readonly pending = new Map<string, string>();
  private readonly pendingDeletes = new Set<string>();
  /** Last good item per object key, and the file that owns it. */
  private readonly lastGood = new Map<string, { item: MeshItem; file: string }>();
  private readonly builder = new MeshSnapshotBuilder();
  private last: MeshSnapshot | undefined;
  /** True when the last scan saw content that must be read again before it is accepted. */
  unstable = false;
  /** Directories seen by the last full scan (the source watches each). */
  readonly directories = new Set<string>();

  constructor(readonly dir: string) {}

  /**
   * Reads the directory. With `requireStable`, a file's new content (or its deletion) is
   * accepted only once two consecutive scans agree: a writer that truncates and then writes
   * (most non-atomic saves) is never seen half-written, which would briefly drop services.
   * A file replaced by a rename (a new inode) is complete when seen, and is accepted at once.
   * Returns whether any accepted input changed.
   */
  async scan(
    opts: {
      requireStable?: boolean;
      /** Only these files (relative paths) changed, as a watcher reported: nothing else is read. */
      only?: ReadonlySet<string>;
    } = {},
  ): Promise<{ snapshot: MeshSnapshot; changed: boolean }> {
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
    const only = opts.only
      ? new Set([...opts.only, ...this.pending.keys(), ...this.pendingDeletes])
      : undefined;
    if (!only) this.directories.clear();
    const paths = only
      ? [...only].sort().map((rel) => join(this.dir, rel))
      : await listYamlFiles(this.dir, this.directories);
    const seen = new Set<string>();
    let changed = this.last === undefined;
    for (const path of paths) {
      const rel = relative(this.dir, path);
      seen.add(rel);
      let statKey: string;
      let replaced = false;
      let text: string;
      try {
        const s = await stat(path);
        statKey = `${s.mtimeMs}|${s.size}|${s.ino}`;
        const prev = this.files.get(rel);
        // A new inode at a known path: the file was replaced by a rename (atomic writers,
        // Kubernetes ConfigMap volumes, most editors), so its content is complete already.
        replaced = prev !== undefined && !prev.statKey.endsWith(`|${s.ino}`);
        if (prev && prev.statKey === statKey && !this.pending.has(rel)) continue;
        text = await readFile(path, "utf8");
      } catch {
        // Removed (between readdir and read, or as the watcher said): handled below as a deletion.
        if (only) seen.delete(rel);
        continue;
      }
      const contentHash = createHash("sha256").update(text).digest("hex");
      const prev = this.files.get(rel);
      if (prev && prev.contentHash === contentHash) {
        prev.statKey = statKey;
        this.pending.delete(rel);
        continue;
      }
      if (opts.requireStable && !replaced && this.pending.get(rel) !== contentHash) {
        this.pending.set(rel, contentHash);
        this.unstable = true;
        continue;
      }
      this.pending.delete(rel);
      this.accept(rel, statKey, contentHash, parseMeshFile(rel, text));
      changed = true;
    }
    for (const rel of only ? [...only].filter((r) => this.files.has(r)) : [...this.files.keys()]) {
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
      this.remove(rel);
      changed = true;
    }
    if (!only) for (const rel of [...this.pending.keys()]) if (!seen.has(rel)) this.pending.delete(rel);
    if (!changed && this.last) return { snapshot: this.last, changed: false };
    this.last = this.snapshot();
    return { snapshot: this.last, changed: true };
  }

  private accept(rel: string, statKey: string, contentHash: string, parsed: ParsedFile): void {
    const prev = this.files.get(rel);
    const keys = new Set<string>();
    const extra: ConfigDiagnostic[] = [];
    for (const obj of parsed.objects) {
      if (!obj.key) continue;
      const id = configKeyString(obj.key);
      const owner = this.lastGood.get(id);
      if (owner && owner.file !== rel && this.files.has(owner.file)) {
        // The object already serving wins (Istio's rule: the oldest wins); the newcomer is rejected.
        extra.push({
          severity: "error",
          file: rel,
          line: (obj.item && "source" in obj.item ? obj.item.source.line : undefined) ?? 1,
          column: 1,
          path: "",
          reason: `${id} is already defined in ${owner.file}; this definition is ignored`,
        });
        continue;
      }
      keys.add(id);
      if (obj.item) this.lastGood.set(id, { item: obj.item, file: rel });
    }
    // Objects that left a readable file are gone; after a syntax error nobody knows: keep them.
    for (const id of prev?.keys ?? []) {
      if (keys.has(id)) continue;
      if (parsed.syntaxError) keys.add(id);
      else if (this.lastGood.get(id)?.file === rel) this.lastGood.delete(id);
    }
    this.files.set(rel, { statKey, contentHash, parsed, extra, keys });
  }

  private remove(rel: string): void {
    const state = this.files.get(rel);
    this.files.delete(rel);
    for (const id of state?.keys ?? []) if (this.lastGood.get(id)?.file === rel) this.lastGood.delete(id);
  }

  private snapshot(): MeshSnapshot {
    const diagnostics: ConfigDiagnostic[] = [];
    const rejected: string[] = [];
    for (const [rel, state] of [...this.files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      diagnostics.push(...state.parsed.diagnostics, ...state.extra);
      if (!state.parsed.valid || state.extra.length > 0) rejected.push(rel);
    }
    const accepted = [...this.lastGood.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, v.item] as const);
    return this.builder.build(accepted, diagnostics, rejected);
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
  return (await new MeshDirectoryLoader(dir).scan()).snapshot;
}

export interface DirectorySourceOptions {
  /** fs.watch events are coalesced for this long after the first (ms). Default 40. */
  readonly settleMs?: number;
  /** Rescan interval backing up fs.watch, which some file systems do not deliver (ms). Default 2000. */
  readonly pollMs?: number;
}

/**
 * Watches a directory: each change to an object's accepted version is reported once, with
 * what changed (see MeshChange); new problems and fixes are reported as such.
 *
 * @example
 * const source = directoryMeshSource("./mesh");
 * const xds = await startXdsServer({ source });
 */
export function directoryMeshSource(dir: string, opts: DirectorySourceOptions = {}): MeshSource {
  const loader = new MeshDirectoryLoader(dir);
  let current: MeshSnapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  /** One inotify watch per directory (Node 20's recursive watch on Linux walks the tree per event). */
  const watchers = new Map<string, FSWatcher>();
  let running = false;
  let again = false;
  let closed = false;
  /** Files the watcher named since the last scan; "all" when it could not say (or on poll). */
  let dirty: Set<string> | "all" = new Set();
  let emit: (event: MeshSourceEvent) => void = () => {};

  const rescan = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const only = dirty === "all" ? undefined : dirty;
        dirty = new Set();
        const { snapshot: next, changed } = await loader.scan({
          requireStable: true,
          ...(only ? { only } : {}),
        });
        if (!only) syncWatchers();
        const before = current;
        if (changed && before && !closed) {
          current = next;
          const event = sourceEventBetween(before, next);
          if (event) emit(event);
        }
        // Content seen for the first time is confirmed by a second read one settle period later.
        if (loader.unstable && !closed) schedule();
      } while (again && !closed);
    } catch (error) {
      emit({
        type: "source-error",
        message: `watching ${dir}: ${error instanceof Error ? error.message : String(error)}`,
      });
    } finally {
      running = false;
    }
  };
  // A fixed delay from the first event, never pushed back by later ones: under steady churn
  // (an event every few ms) a sliding delay would never fire and only the poll would rescan.
  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void rescan();
    }, opts.settleMs ?? 40);
  };

  const onEvent = (base: string, filename: string | Buffer | null) => {
    const name = typeof filename === "string" ? filename : undefined;
    const rel = name === undefined ? undefined : relative(dir, join(base, name));
    if (rel === undefined || !YAML_FILE.test(rel)) {
      // A directory (or an unnamed event): rescan everything, watch what is new.
      if (rel === undefined || !rel.split(sep).some((p) => p.startsWith("."))) dirty = "all";
    } else if (dirty !== "all" && !rel.split(sep).some((p) => p.startsWith("."))) dirty.add(rel);
    schedule();
  };
  const syncWatchers = () => {
    if (closed) return;
    for (const [d, w] of watchers)
      if (!loader.directories.has(d)) {
        w.close();
        watchers.delete(d);
      }
    for (const d of loader.directories) {
      if (watchers.has(d)) continue;
      try {
        const w = watch(d, { persistent: false }, (_event, filename) => onEvent(d, filename));
        w.on("error", () => {
          w.close();
          watchers.delete(d);
          dirty = "all";
          schedule();
        });
        watchers.set(d, w);
      } catch (error) {
        emit({
          type: "source-error",
          message: `watching ${d}: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    }
  };

  return {
    description: `directory ${dir}`,
    async start(onEvent) {
      emit = onEvent;
      current = (await loader.scan()).snapshot;
      syncWatchers();
      poll = setInterval(() => {
        dirty = "all";
        void rescan();
      }, opts.pollMs ?? 2000);
      poll.unref();
      return current;
    },
    current() {
      if (!current) throw new Error("directoryMeshSource: current() before start()");
      return current;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
