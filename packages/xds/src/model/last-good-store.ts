/**
 * Each config file's last good content, kept on disk so it survives a restart: when a file is
 * broken while the control plane is down, the restarted one still serves what the file last
 * held that was good (ADR 0066).
 *
 * What is stored is the file's TEXT (and its hash), not parsed objects: re-parsing it at start
 * needs no serialization format of our own and can never disagree with the parser.
 * One file per config file, `<sha256(path)[:16]>-<sha256(text)[:16]>.last-good`: a change writes
 * one small file (tmp + rename, then the old version is removed), and one readdir at start says
 * what is stored, without reading it. The extension is not `.yaml`, so a state directory inside
 * the config directory is never read as config.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

const SUFFIX = ".last-good";

function pathKey(rel: string): string {
  return createHash("sha256").update(rel).digest("hex").slice(0, 16);
}

/**
 * @example
 * const store = new LastGoodStore("/etc/mesh/.meshctl-state");
 * await store.open();
 * store.save("echo.yaml", text, sha256(text));
 * const text = await store.read("echo.yaml");
 */
export class LastGoodStore {
  /** Stored entries: path key -> file name (and the content hash prefix in it). */
  private readonly entries = new Map<string, { name: string; hash: string }>();
  private queue: Promise<void> = Promise.resolve();
  private opened = false;
  /** Why last good content cannot be kept (a read-only directory): the source reports it. */
  problem: string | undefined;
  /** The error code behind `problem`. */
  private problemCode: string | undefined;

  constructor(readonly dir: string) {}

  /** Creates the directory if needed and learns what is stored. Never throws: see `problem`. */
  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    try {
      await mkdir(this.dir, { recursive: true });
      await access(this.dir, constants.W_OK);
      for (const name of await readdir(this.dir)) {
        if (!name.endsWith(SUFFIX)) continue;
        const [key, hash] = name.slice(0, -SUFFIX.length).split("-");
        if (key && hash) this.entries.set(key, { name, hash });
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** The stored last good text of `rel`, if any (and intact). */
  async read(rel: string): Promise<{ text: string; hash: string } | undefined> {
    const entry = this.entries.get(pathKey(rel));
    if (!entry) return undefined;
    try {
      const text = await readFile(join(this.dir, entry.name), "utf8");
      const hash = createHash("sha256").update(text).digest("hex");
      return hash.startsWith(entry.hash) ? { text, hash } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether writing is worth trying: no problem, or one that heals (the directory had vanished). */
  get writable(): boolean {
    return this.problem === undefined || this.problemCode === "ENOENT";
  }

  /** Whether `rel`'s stored content has this hash already. */
  has(rel: string, hash: string): boolean {
    return this.entries.get(pathKey(rel))?.hash === hash.slice(0, 16);
  }

  /** Stores `text` as `rel`'s last good content (in the background; see `flush`). */
  save(rel: string, text: string, hash: string): void {
    if (this.has(rel, hash)) return;
    const key = pathKey(rel);
    const old = this.entries.get(key);
    const entry = { name: `${key}-${hash.slice(0, 16)}${SUFFIX}`, hash: hash.slice(0, 16) };
    this.entries.set(key, entry);
    this.enqueue(async () => {
      try {
        const tmp = join(this.dir, `.${entry.name}.tmp`);
        // The directory may have gone with the config directory it sits in, and come back. Never
        // recursive here: re-creating a config directory that was just removed would make every
        // file in it look deleted.
        await mkdir(this.dir).catch((error: unknown) => {
          if ((error as { code?: string }).code !== "EEXIST") throw error;
        });
        await writeFile(tmp, text);
        await rename(tmp, join(this.dir, entry.name));
      } catch (error) {
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw error;
      }
      if (old && old.name !== entry.name) await unlink(join(this.dir, old.name)).catch(() => undefined);
    }, true);
  }

  /** Forgets `rel` (its file was deleted). */
  remove(rel: string): void {
    const key = pathKey(rel);
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    this.enqueue(() => unlink(join(this.dir, old.name)).catch(() => undefined));
  }

  /** Forgets every stored file but `keep` (files deleted while nobody watched). */
  prune(keep: Iterable<string>): void {
    const keys = new Set([...keep].map(pathKey));
    for (const [key, old] of [...this.entries]) {
      if (keys.has(key)) continue;
      this.entries.delete(key);
      this.enqueue(() => unlink(join(this.dir, old.name)).catch(() => undefined));
    }
  }

  /** Resolves when every write so far is on disk (or failed). */
  flush(): Promise<void> {
    return this.queue;
  }

  /**
   * Runs `op` after the ones before it. A failure is reported through `problem` until a later
   * write succeeds: a read-only directory stays a problem, a vanished one heals.
   */
  private enqueue(op: () => Promise<unknown>, write = false): void {
    this.queue = this.queue.then(op).then(
      () => {
        if (write) this.problem = this.problemCode = undefined;
      },
      (error: unknown) => this.fail(error),
    );
  }

  private fail(error: unknown): void {
    const code = (error as { code?: string }).code;
    this.problemCode = code;
    this.problem = `${this.dir} is not writable (${code ?? (error instanceof Error ? error.message : String(error))})`;
  }
}
