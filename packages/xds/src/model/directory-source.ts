/**
 * A directory of Kubernetes/Istio YAML as a MeshSource. Every object keeps its last good version
 * (per `Kind/namespace/name`, not per file): an object that fails to validate keeps serving as
 * it was, while the valid objects beside it apply. A file that is not readable YAML at all keeps
 * every object it had. Problems are reported with file:line:column and field path.
 *
 * Nothing a file holds can stall the serving thread (ADR 0066): a file over `maxFileBytes` is
 * refused from its size before it is read; the rest is parsed in a worker thread with a memory
 * limit and a deadline per file; documents of kinds meshctl does not read are dropped by a
 * textual pre-scan before the YAML parser sees them. Each file's last good text is kept in
 * `stateDir`, so a file broken while the control plane was down still serves its last good
 * objects after a restart.
 */
import { createHash } from "node:crypto";
import { constants, type FSWatcher, watch } from "node:fs";
import { type FileHandle, open, readdir, stat } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { MeshctlError } from "@meshctl/core";
import { defaultMeshDirectory } from "../default-mesh.js";
import { LastGoodStore } from "./last-good-store.js";
import { MeshParseWorker, type ParseOutcome } from "./mesh-parse-worker.js";
import type { MeshItem, ParsedFile } from "./parse-documents.js";
import { MeshSnapshotBuilder } from "./snapshot-builder.js";
import { type MeshSnapshot, type MeshSource, type MeshSourceEvent, sourceEventBetween } from "./source.js";
import { type ConfigDiagnostic, configKeyString } from "./types.js";

/**
 * Default `maxFileBytes`: 4 MiB. One Kubernetes object cannot exceed etcd's 1.5 MiB request
 * limit, so 4 MiB holds any single object and multi-document files of a few thousand small
 * objects (a Helm render of a whole mesh). A file at the limit is the worst the parser is ever
 * asked to take: a 4 MiB EndpointSlice in its densest form (144,000 one-line endpoints) needs
 * 400–500 MB of heap and 6–9 s in the worker on a loaded 2-core machine (measured). Anything
 * bigger is a mistake or an attack, and is refused from its size, unread.
 */
export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Default `parseTimeoutMs`: about twice the parse of the worst file at the size limit. */
export const DEFAULT_PARSE_TIMEOUT_MS = 20_000;
/**
 * Default `parseMemoryMb` (the worker's old-generation heap): 1.5 times what the worst file at
 * the size limit needs. Not more: ending a worker joins its thread on the serving thread, and
 * freeing a 1 GB heap held it for ~0.9 s (measured), a 500 MB one for ~0.2 s.
 */
export const DEFAULT_PARSE_MEMORY_MB = 768;
/** Default state directory name inside the config directory (dot entries are never read as config). */
export const DEFAULT_STATE_DIR_NAME = ".meshctl-state";

/** The limits and state of a directory loader (and source). */
export interface DirectoryLoaderOptions {
  /** A file bigger than this (bytes) is not read: an error names it, its size and the limit. Default 4 MiB. */
  readonly maxFileBytes?: number;
  /** A file whose parse takes longer (ms) is rejected and its parse stopped. Default 20,000. */
  readonly parseTimeoutMs?: number;
  /** Heap limit (MB) of the parse worker: a file that needs more is rejected. Default 768. */
  readonly parseMemoryMb?: number;
  /**
   * Where each file's last good content is kept across restarts; `false`: nowhere.
   * Default `<dir>/.meshctl-state` (none for the built-in example mesh). A directory that
   * cannot be written (a read-only ConfigMap mount) gives a warning, and last good content then
   * lives only as long as the process.
   */
  readonly stateDir?: string | false;
  /**
   * A file that went away is deleted only once it has stayed away this long (ms), when watched
   * (`requireStable`). A delete-and-restore within it (an editor's save, a `kubectl cp`, a
   * ConfigMap swap) is never applied as a deletion, however slow the restored file's parse.
   * Default 250: more than the 100 ms quiet time that a careful client may expect.
   */
  readonly deleteGraceMs?: number;
}

/** The default of DirectoryLoaderOptions.deleteGraceMs. */
export const DEFAULT_DELETE_GRACE_MS = 250;

interface FileState {
  /** mtime/size/inode: unchanged stats mean unchanged content, without reading it. */
  statKey: string;
  contentHash: string;
  parsed: ParsedFile;
  /** Diagnostics of this file beyond the parser's (duplicates). */
  extra: ConfigDiagnostic[];
  /** Keys this file defines (owns). */
  keys: Set<string>;
  /** Some rejected content of this file has a version that serves (its own last good, or the object already serving). */
  kept: boolean;
  /** Objects of this file rejected because another file already serves them. */
  blockedBy: Set<string>;
  mtimeMs: number;
}

/** One file as read by a scan, before parsing. */
interface FileRead {
  readonly rel: string;
  readonly statKey: string;
  readonly mtimeMs: number;
  readonly contentHash: string;
  /** The text, when the file could be read within the size limit. */
  readonly text?: string;
  /** Why it was not read (too big, no permission): the file is rejected with this. */
  readonly problem?: string;
}

const YAML_FILE = /\.ya?ml$/i;

function errorCode(error: unknown): string | undefined {
  return (error as { code?: unknown } | null)?.code as string | undefined;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/** A file the parser could not take (too big, unreadable, over the deadline): it keeps everything it had. */
function rejectedFile(rel: string, reason: string): ParsedFile {
  return {
    items: [],
    objects: [],
    diagnostics: [{ severity: "error", file: rel, line: 1, column: 1, path: "", reason }],
    valid: false,
    syntaxError: true,
  };
}

async function listYamlFiles(
  dir: string,
  dirs: Set<string> | undefined,
  unreadable: string[],
): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (error) {
      if (d === dir) throw error;
      // A subdirectory that cannot be listed: its files keep what they had (see scan()).
      unreadable.push(d);
      return;
    }
    dirs?.add(d);
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

/**
 * Reads a file through one descriptor, so its stats and content belong to the same inode even
 * when it is replaced mid-read, and never more than `max` bytes of it: the size is checked
 * before reading, and a file that grows while read stops at `max + 1` bytes.
 */
async function readFileBounded(
  path: string,
  max: number,
): Promise<{ statKey: string; mtimeMs: number; size: number; text?: string }> {
  // O_NONBLOCK: a FIFO named *.yaml must not block the open.
  const fh: FileHandle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const s = await fh.stat();
    const statKey = `${s.mtimeMs}|${s.size}|${s.ino}`;
    if (!s.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "ENOTREG" });
    if (s.size > max) return { statKey, mtimeMs: s.mtimeMs, size: s.size };
    const buffer = Buffer.allocUnsafe(Math.min(max + 1, s.size + 64 * 1024));
    let length = 0;
    for (;;) {
      if (length === buffer.length) break;
      const { bytesRead } = await fh.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) return { statKey, mtimeMs: s.mtimeMs, size: length };
    return { statKey, mtimeMs: s.mtimeMs, size: length, text: buffer.toString("utf8", 0, length) };
  } finally {
    await fh.close();
  }
}

/** Incremental loader: remembers each object's last good version between scans. */
export class MeshDirectoryLoader {
  private readonly files = new Map<string, FileState>();
  private readonly pending = new Map<string, string>();
  /** Files found missing and not yet deleted -> when first found missing (performance.now()). */
  private readonly pendingDeletes = new Map<string, number>();
  private readonly deleteGraceMs: number;

  /** Files a scan left waiting for a second look (new content to confirm, a deletion to confirm). */
  get unsettled(): string[] {
    return [...this.pending.keys(), ...this.pendingDeletes.keys()];
  }
  /** Last good item per object key, and the file that owns it. */
  private readonly lastGood = new Map<string, { item: MeshItem; file: string }>();
  private readonly builder = new MeshSnapshotBuilder();
  private readonly parser: MeshParseWorker;
  private readonly store: LastGoodStore | undefined;
  private readonly maxFileBytes: number;
  private last: MeshSnapshot | undefined;
  /** Why the directory itself cannot be read right now (it vanished, lost its permissions). */
  private dirProblem: ConfigDiagnostic | undefined;
  /** The state directory problem the last snapshot reported. */
  private reportedStoreProblem: string | undefined;
  /** Subdirectories that could not be listed by the last full scan. */
  private unreadableDirs: string[] = [];
  /** True when the last scan saw content that must be read again before it is accepted. */
  unstable = false;
  /** Directories seen by the last full scan (the source watches each). */
  readonly directories = new Set<string>();

  constructor(
    readonly dir: string,
    options: DirectoryLoaderOptions = {},
  ) {
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.deleteGraceMs = options.deleteGraceMs ?? DEFAULT_DELETE_GRACE_MS;
    this.parser = new MeshParseWorker({
      timeoutMs: options.parseTimeoutMs ?? DEFAULT_PARSE_TIMEOUT_MS,
      memoryMb: options.parseMemoryMb ?? DEFAULT_PARSE_MEMORY_MB,
    });
    const stateDir =
      options.stateDir ??
      // The example mesh shipped in the package is never edited: nothing to keep, nowhere to write.
      (resolve(dir) === resolve(defaultMeshDirectory()) ? false : join(dir, DEFAULT_STATE_DIR_NAME));
    this.store = stateDir === false ? undefined : new LastGoodStore(stateDir);
  }

  /** The directory's current problem (vanished, unreadable), if any. */
  get directoryProblem(): string | undefined {
    return this.dirProblem?.reason;
  }

  /** Stops the parse worker at once (a scan in flight keeps what it had) ; pending state writes still land. */
  close(): void {
    this.parser.close();
  }

  /** Resolves when every last-good write so far is on disk. */
  async flushState(): Promise<void> {
    await this.store?.flush();
  }

  /** The first scan's directory errors: user/environment errors, never stack traces. */
  private directoryError(cause: unknown): MeshctlError {
    const code = errorCode(cause);
    if (code === "ENOENT" || code === "ENOTDIR")
      return new MeshctlError(
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
    const who = typeof process.getuid === "function" ? ` (uid ${process.getuid()})` : "";
    return new MeshctlError(
      "XDS_CONFIG_DIR_UNREADABLE",
      `The mesh config directory ${this.dir} cannot be read: ${code ?? (cause instanceof Error ? cause.message : String(cause))}.`,
      {
        kind: "environment",
        cause,
        suggestions: [
          `Let the user running meshctl${who} read and enter it (e.g. chmod a+rx ${this.dir}, and a+r on its files).`,
          "Or pass --config with a directory that user can read.",
        ],
      },
    );
  }

  /**
   * Reads the directory. With `requireStable`, a file's new content (or its deletion) is
   * accepted only once two consecutive scans agree: a writer that truncates and then writes
   * (most non-atomic saves) is never seen half-written, which would briefly drop services.
   * A file replaced by a rename (a new inode) is complete when seen, and is accepted at once.
   * Returns whether any accepted input (or problem) changed.
   *
   * The first scan throws a MeshctlError when the directory is missing or unreadable; later
   * scans keep every last good object and report the problem as a diagnostic until it is gone.
   */
  async scan(
    opts: {
      requireStable?: boolean;
      /** Only these files (relative paths) changed, as a watcher reported: nothing else is read. */
      only?: ReadonlySet<string>;
    } = {},
  ): Promise<{ snapshot: MeshSnapshot; changed: boolean }> {
    this.unstable = false;
    const first = this.last === undefined;
    const only = opts.only
      ? new Set([...opts.only, ...this.pending.keys(), ...this.pendingDeletes.keys()])
      : undefined;
    let paths: string[];
    const unreadable: string[] = [];
    const directories = new Set<string>();
    try {
      const st = await stat(this.dir);
      if (!st.isDirectory())
        throw new MeshctlError("XDS_CONFIG_DIR_MISSING", `${this.dir} is not a directory.`, {
          kind: "usage",
          suggestions: ["Pass --config with a directory of Kubernetes/Istio YAML files."],
        });
      paths = only
        ? [...only].sort().map((rel) => join(this.dir, rel))
        : await listYamlFiles(this.dir, directories, unreadable);
    } catch (cause) {
      const error = cause instanceof MeshctlError ? cause : this.directoryError(cause);
      if (first) throw error;
      return this.directoryLost(error);
    }
    // Only once the config directory is known to exist: the default state directory is inside it.
    if (first) await this.store?.open();
    const recovered = this.dirProblem !== undefined;
    this.dirProblem = undefined;
    if (!only) {
      this.directories.clear();
      for (const d of directories) this.directories.add(d);
      this.unreadableDirs = unreadable;
    }
    const seen = new Set<string>();
    let changed = first || recovered;
    const reads: FileRead[] = [];
    for (const path of paths) {
      const rel = relative(this.dir, path);
      seen.add(rel);
      const read = await this.readChanged(rel, path, opts.requireStable === true);
      if (read === "gone") {
        if (only) seen.delete(rel);
      } else if (read) reads.push(read);
    }
    // Files below a subdirectory that cannot be listed are unknown, not deleted: they keep serving.
    for (const rel of this.files.keys())
      if (this.unreadableDirs.some((d) => rel.startsWith(`${relative(this.dir, d)}${sep}`))) seen.add(rel);

    if (reads.length > 0) {
      await this.acceptAll(reads);
      changed = true;
    }
    for (const rel of only ? [...only].filter((r) => this.files.has(r)) : [...this.files.keys()]) {
      if (seen.has(rel)) {
        this.pendingDeletes.delete(rel);
        continue;
      }
      if (opts.requireStable) {
        const missingSince = this.pendingDeletes.get(rel);
        if (missingSince === undefined) this.pendingDeletes.set(rel, performance.now());
        if (missingSince === undefined || performance.now() - missingSince < this.deleteGraceMs) {
          this.unstable = true;
          continue;
        }
      }
      this.pendingDeletes.delete(rel);
      this.remove(rel);
      changed = true;
    }
    if (!only) {
      for (const rel of [...this.pending.keys()]) if (!seen.has(rel)) this.pending.delete(rel);
      this.store?.prune(this.files.keys());
      await this.repairState();
    }
    // The state directory's health is part of the snapshot's diagnostics.
    if (this.store && this.store.problem !== this.reportedStoreProblem) changed = true;
    if (!changed && this.last) return { snapshot: this.last, changed: false };
    this.last = this.snapshot();
    return { snapshot: this.last, changed: true };
  }

  /**
   * Files whose good content failed to reach the state directory (it vanished with the config
   * directory and came back) are stored again from disk, when the content is still the same.
   */
  private async repairState(): Promise<void> {
    const store = this.store;
    if (!store?.writable) return;
    for (const [rel, state] of this.files) {
      if (!state.parsed.valid || state.extra.length > 0 || store.has(rel, state.contentHash)) continue;
      try {
        const read = await readFileBounded(join(this.dir, rel), this.maxFileBytes);
        if (read.text === undefined) continue;
        const hash = createHash("sha256").update(read.text).digest("hex");
        if (hash === state.contentHash) store.save(rel, read.text, hash);
      } catch {
        // gone or unreadable again: the next full scan decides
      }
    }
  }

  /** A later scan found the directory gone or unreadable: everything keeps serving, the problem is reported. */
  private directoryLost(error: MeshctlError): { snapshot: MeshSnapshot; changed: boolean } {
    const reason = `${error.message} Every object keeps its last good version until it is back.`;
    const last = this.last as MeshSnapshot;
    if (this.dirProblem?.reason === reason) return { snapshot: last, changed: false };
    this.dirProblem = { severity: "error", file: ".", line: 1, column: 1, path: "", reason };
    // Watches on a directory that went away are dead: the source re-creates them on recovery.
    this.directories.clear();
    this.last = this.snapshot();
    return { snapshot: this.last, changed: true };
  }

  /**
   * Stats `path` and reads it when it may have changed. `undefined`: nothing to do (unchanged,
   * or waiting for a second read); "gone": it does not exist.
   */
  private async readChanged(
    rel: string,
    path: string,
    requireStable: boolean,
  ): Promise<FileRead | "gone" | undefined> {
    const prev = this.files.get(rel);
    let read: { statKey: string; mtimeMs: number; size: number; text?: string };
    let problem: string | undefined;
    try {
      const s = await stat(path);
      const statKey = `${s.mtimeMs}|${s.size}|${s.ino}`;
      if (prev && prev.statKey === statKey && !this.pending.has(rel)) return undefined;
      read = await readFileBounded(path, this.maxFileBytes);
    } catch (error) {
      const code = errorCode(error);
      // Removed (between readdir and read, or as the watcher said): handled as a deletion.
      if (code === "ENOENT" || code === "ENOTDIR") return "gone";
      problem = `cannot read ${rel}: ${code ?? (error instanceof Error ? error.message : String(error))}; its last good version keeps serving`;
      read = { statKey: `unreadable|${code}`, mtimeMs: 0, size: 0 };
    }
    if (read.text === undefined && problem === undefined)
      problem = `${rel} is ${formatBytes(read.size)}, over the ${formatBytes(this.maxFileBytes)} limit for one config file, so it was not read; its last good version keeps serving. Split it into smaller files, or raise the limit (xds serve --max-file-size, option maxFileBytes).`;
    // A new inode at a known path: the file was replaced by a rename (atomic writers,
    // Kubernetes ConfigMap volumes, most editors), so its content is complete already.
    const replaced = prev !== undefined && !prev.statKey.endsWith(`|${read.statKey.split("|")[2]}`);
    const contentHash =
      read.text !== undefined
        ? createHash("sha256").update(read.text).digest("hex")
        : `problem|${read.size}|${problem}`;
    if (prev && prev.contentHash === contentHash) {
      prev.statKey = read.statKey;
      this.pending.delete(rel);
      return undefined;
    }
    if (requireStable && !replaced && this.pending.get(rel) !== contentHash) {
      this.pending.set(rel, contentHash);
      this.unstable = true;
      return undefined;
    }
    this.pending.delete(rel);
    return {
      rel,
      statKey: read.statKey,
      mtimeMs: read.mtimeMs,
      contentHash,
      ...(read.text !== undefined ? { text: read.text } : {}),
      ...(problem !== undefined ? { problem } : {}),
    };
  }

  /**
   * Parses the files read (in the worker, one job) and accepts them, oldest first: of two new
   * files defining one object, the older file (by mtime, then by name) wins, deterministically
   * and whatever the names. An object already serving always wins over a newcomer.
   */
  private async acceptAll(reads: readonly FileRead[]): Promise<void> {
    const toParse = reads.filter((r) => r.text !== undefined);
    const outcomes = await this.parser.parse(toParse.map((r) => ({ file: r.rel, text: r.text as string })));
    const parsed = new Map(toParse.map((r, i) => [r.rel, this.parsedFrom(r.rel, outcomes[i])] as const));
    // A file seen for the first time whose content is rejected (a restart after a bad edit):
    // its last good content from the state directory is accepted first, as if it had served.
    const restore: { rel: string; text: string; hash: string }[] = [];
    if (this.store)
      for (const r of reads) {
        const p = parsed.get(r.rel);
        if (this.files.has(r.rel) || (p?.valid ?? false)) continue;
        const stored = await this.store.read(r.rel);
        if (stored && stored.hash !== r.contentHash) restore.push({ rel: r.rel, ...stored });
      }
    const restored = new Map<string, ParsedFile>();
    if (restore.length > 0) {
      const outs = await this.parser.parse(restore.map((r) => ({ file: r.rel, text: r.text })));
      restore.forEach((r, i) => {
        const o = outs[i];
        if (o?.ok && o.parsed.valid) restored.set(r.rel, o.parsed);
      });
    }
    const ordered = [...reads].sort(
      (a, b) => a.mtimeMs - b.mtimeMs || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0),
    );
    for (const r of ordered) {
      const base = restored.get(r.rel);
      const stored = restore.find((x) => x.rel === r.rel);
      if (base && stored) this.accept(r.rel, "restored", stored.hash, base, r.mtimeMs);
      const p = r.problem !== undefined ? rejectedFile(r.rel, r.problem) : (parsed.get(r.rel) as ParsedFile);
      this.accept(r.rel, r.statKey, r.contentHash, p, r.mtimeMs);
      const state = this.files.get(r.rel);
      if (r.text !== undefined && state && p.valid && state.extra.length === 0)
        this.store?.save(r.rel, r.text, r.contentHash);
    }
  }

  private parsedFrom(rel: string, outcome: ParseOutcome | undefined): ParsedFile {
    if (outcome?.ok) return outcome.parsed;
    const why = outcome?.message ?? "not parsed";
    const hint =
      outcome?.reason === "timeout"
        ? " Raise the deadline (xds serve --parse-timeout, option parseTimeoutMs) if the file is legitimate."
        : outcome?.reason === "memory"
          ? " Split the file, or raise the limit (option parseMemoryMb)."
          : "";
    return rejectedFile(
      rel,
      `${rel}: ${why}; the file is rejected and its last good version keeps serving.${hint}`,
    );
  }

  private accept(rel: string, statKey: string, contentHash: string, parsed: ParsedFile, mtimeMs = 0): void {
    const prev = this.files.get(rel);
    const keys = new Set<string>();
    const extra: ConfigDiagnostic[] = [];
    const blockedBy = new Set<string>();
    let kept = false;
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
          reason: `${id} is already defined in ${owner.file}, which keeps serving it; this definition in ${rel} is ignored`,
        });
        blockedBy.add(id);
        kept = true;
        continue;
      }
      keys.add(id);
      if (obj.item) this.lastGood.set(id, { item: obj.item, file: rel });
      else if (!obj.valid && owner?.file === rel) kept = true;
    }
    // Objects that left a readable file are gone; after a syntax error nobody knows: keep them.
    const freed = new Set<string>();
    for (const id of prev?.keys ?? []) {
      if (keys.has(id)) continue;
      if (parsed.syntaxError) {
        keys.add(id);
        if (this.lastGood.get(id)?.file === rel) kept = true;
      } else if (this.lastGood.get(id)?.file === rel) {
        this.lastGood.delete(id);
        freed.add(id);
      }
    }
    this.files.set(rel, { statKey, contentHash, parsed, extra, keys, kept, blockedBy, mtimeMs });
    this.acceptBlocked(freed);
  }

  private remove(rel: string): void {
    const state = this.files.get(rel);
    this.files.delete(rel);
    this.store?.remove(rel);
    const freed = new Set<string>();
    for (const id of state?.keys ?? [])
      if (this.lastGood.get(id)?.file === rel) {
        this.lastGood.delete(id);
        freed.add(id);
      }
    this.acceptBlocked(freed);
  }

  /**
   * Objects that no file serves any more (their file was deleted, or they left it) go to the
   * files that defined them too and were refused as duplicates, oldest first: moving an object
   * to another file (`mv a.yaml b.yaml`, or a delete and an add in one scan) never loses it.
   */
  private acceptBlocked(freed: ReadonlySet<string>): void {
    if (freed.size === 0) return;
    const waiting = [...this.files]
      .filter(([, st]) => [...st.blockedBy].some((id) => freed.has(id)))
      .sort(([a, x], [b, y]) => x.mtimeMs - y.mtimeMs || (a < b ? -1 : a > b ? 1 : 0));
    // Their good content reaches the state directory at the next full scan (repairState).
    for (const [rel, st] of waiting) this.accept(rel, st.statKey, st.contentHash, st.parsed, st.mtimeMs);
  }

  private snapshot(): MeshSnapshot {
    const diagnostics: ConfigDiagnostic[] = [];
    const rejected: string[] = [];
    if (this.dirProblem) diagnostics.push(this.dirProblem);
    for (const d of this.unreadableDirs)
      diagnostics.push({
        severity: "error",
        file: relative(this.dir, d),
        line: 1,
        column: 1,
        path: "",
        reason: `cannot list the directory ${relative(this.dir, d)}; the files in it keep their last good version`,
      });
    this.reportedStoreProblem = this.store?.problem;
    if (this.store?.problem)
      diagnostics.push({
        severity: "warning",
        file: ".",
        line: 1,
        column: 1,
        path: "",
        reason: `last good config cannot be kept across restarts: ${this.store.problem}. It is kept in memory only; set a writable state directory (xds serve --state-dir) or turn it off (--no-state).`,
      });
    if (this.parser.unavailable)
      diagnostics.push({
        severity: "warning",
        file: ".",
        line: 1,
        column: 1,
        path: "",
        reason: `config files are parsed on the serving thread: ${this.parser.unavailable}`,
      });
    for (const [rel, state] of [...this.files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      diagnostics.push(...state.parsed.diagnostics, ...state.extra);
      // Only files whose rejected content really has a serving version: "last good kept" must be true.
      if ((!state.parsed.valid || state.extra.length > 0) && state.kept) rejected.push(rel);
    }
    const accepted = [...this.lastGood.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, v.item] as const);
    return this.builder.build(accepted, diagnostics, rejected);
  }
}

/**
 * Loads a directory of Kubernetes/Istio YAML once. Nothing is persisted unless `stateDir` says where.
 *
 * @example
 * const { model, diagnostics } = await loadMeshDirectory("./mesh");
 * for (const d of diagnostics) console.log(`${d.file}:${d.line} ${d.reason}`);
 */
export async function loadMeshDirectory(
  dir: string,
  options: DirectoryLoaderOptions = {},
): Promise<MeshSnapshot> {
  const loader = new MeshDirectoryLoader(dir, { stateDir: false, ...options });
  try {
    return (await loader.scan()).snapshot;
  } finally {
    loader.close();
  }
}

export interface DirectorySourceOptions extends DirectoryLoaderOptions {
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
  const loader = new MeshDirectoryLoader(dir, opts);
  /** The directory problem last reported as a source-error (reported once, not at every poll). */
  let reportedProblem: string | undefined;
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
        const problem = loader.directoryProblem;
        if (problem !== undefined) {
          // Watches on a directory that went away are dead; the full scan after it is back re-creates them.
          for (const w of watchers.values()) w.close();
          watchers.clear();
          if (problem !== reportedProblem && !closed)
            emit({ type: "source-error", message: `watching ${dir}: ${problem}` });
        } else if (!only) syncWatchers();
        reportedProblem = problem;
        const before = current;
        if (changed && before && !closed) {
          current = next;
          const event = sourceEventBetween(before, next);
          if (event) emit(event);
        }
        // Content seen for the first time is confirmed by a second read one settle period later:
        // of those files, even when no new event names them (else only the poll would confirm).
        if (loader.unstable && !closed) {
          if (dirty instanceof Set) for (const rel of loader.unsettled) dirty.add(rel);
          schedule();
        }
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
      try {
        current = (await loader.scan()).snapshot;
      } catch (error) {
        loader.close();
        throw error;
      }
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
      // A parse in flight (a big file) ends now: shutdown never waits for the source.
      loader.close();
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
