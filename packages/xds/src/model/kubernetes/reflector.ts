/**
 * List + watch of one resource, kept consistent (client-go's Reflector, in small):
 * - list (paged), then watch from the list's resourceVersion with bookmarks, so a reconnect
 *   resumes where it stopped instead of listing again;
 * - 410 Gone (the version was compacted, or a restarted API server's watch cache starts later):
 *   list again at once, and report only what differs from what is known (a relist never
 *   repeats an unchanged object, and reports objects deleted in between as deletions);
 * - every other failure: retry after an exponential backoff with jitter, keeping what is known;
 * - objects the filter rejects (namespaces outside the selection) are dropped on arrival: only
 *   their names and versions are never kept, let alone their content.
 *
 * Why not client-node's `ListWatch` (1.4.0, dist/cache.js): it keeps every object it receives
 * (no filter before caching), does not ask for bookmarks, stops for good on the first error (no
 * retry, no backoff), and its Watch drops its own 30 s timeout signal (dist/watch.js), so a dead
 * connection is never noticed. See docs/decision-records/0015-xds-kubernetes-source.md.
 */
import { type KubeHttp, type KubeObject, type KubeWatchEvent, ResourceExpiredError } from "./kube-http.js";
import { apiVersionOf, collectionPath, type KubeResource, rbacResource } from "./resources.js";

export type ReflectorChange =
  | { readonly type: "upsert"; readonly object: KubeObject }
  | { readonly type: "delete"; readonly namespace: string; readonly name: string };

export interface BackoffOptions {
  /** First retry delay (ms). Default 800 (client-go's). */
  readonly initialMs?: number;
  /** Largest retry delay (ms). Default 30,000. */
  readonly maxMs?: number;
}

/** What a reflector did so far (for status pages and tests). */
export interface ReflectorStats {
  /** Complete lists (the first one and every relist). */
  lists: number;
  /** 410 Gone answers (each followed by a relist). */
  expired: number;
  /** Watches opened. */
  watches: number;
  /** Watch events applied (ADDED, MODIFIED, DELETED that changed something). */
  events: number;
  bookmarks: number;
  /** Failed lists and watches (each followed by a backoff). */
  errors: number;
  /** Objects known now. */
  objects: number;
}

export interface ReflectorOptions {
  readonly http: KubeHttp;
  readonly resource: KubeResource;
  /** Objects this rejects are dropped on arrival; a known object it starts to reject is deleted. */
  readonly accepts: (object: KubeObject) => boolean;
  /** Changes in order; a list delivers all of its changes at once. */
  readonly onChanges: (changes: readonly ReflectorChange[], from: "list" | "watch") => void;
  /** A list or watch failed (a backoff follows). */
  readonly onError: (error: Error) => void;
  /** A list completed or a watch opened (after errors: recovered). */
  readonly onHealthy: () => void;
  readonly backoff?: BackoffOptions;
  /** Server-side watch timeout (s); default random in [300, 600), as client-go. */
  readonly watchTimeoutSeconds?: number;
  /** List page size. Default 500. */
  readonly pageSize?: number;
}

interface KubeList {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubeObject[];
}

/**
 * The backoff before retry number `attempt` (0-based): exponential, capped, with "equal jitter"
 * (half fixed, half random), so reflectors that failed together do not retry together.
 */
export function backoffDelayMs(attempt: number, opts: BackoffOptions = {}, random = Math.random): number {
  const initial = opts.initialMs ?? 800;
  const max = opts.maxMs ?? 30_000;
  const d = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return d / 2 + (random() * d) / 2;
}

/** Longest silence on a watch before it is taken for dead (s). */
const IDLE_WATCH_SECONDS = 150;

const keyOf = (o: KubeObject) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

export class KubeReflector {
  readonly stats: ReflectorStats = {
    lists: 0,
    expired: 0,
    watches: 0,
    events: 0,
    bookmarks: 0,
    errors: 0,
    objects: 0,
  };
  /** The error since which the reflector has not been healthy, if any. */
  lastError: Error | undefined;
  /** Resolves after the first complete list. */
  readonly synced: Promise<void>;
  hasSynced = false;
  /** Resolves after the first complete list or the first failure, whichever comes first. */
  readonly settled: Promise<void>;

  private resourceVersion = "";
  /** `namespace/name` -> resourceVersion of every accepted object. */
  private known = new Map<string, string>();
  private abort: AbortController | undefined;
  private stopped = false;
  private relistRequested = false;
  private attempt = 0;
  private wake: (() => void) | undefined;
  private resolveSynced: () => void = () => {};
  private resolveSettled: () => void = () => {};
  private readonly ctx: { verb: "list" | "watch"; resource: string };

  constructor(private readonly options: ReflectorOptions) {
    this.synced = new Promise((resolve) => {
      this.resolveSynced = resolve;
    });
    this.settled = new Promise((resolve) => {
      this.resolveSettled = resolve;
    });
    this.ctx = { verb: "list", resource: rbacResource(options.resource) };
  }

  get resource(): KubeResource {
    return this.options.resource;
  }

  start(): void {
    void this.run();
  }

  /** Lists again (e.g. a namespace joined the selection: its objects were never received). */
  relist(): void {
    this.relistRequested = true;
    this.abort?.abort();
    this.wake?.();
  }

  /** Forgets every object of `namespace` (it left the selection); returns their deletions. */
  forgetNamespace(namespace: string): ReflectorChange[] {
    const out: ReflectorChange[] = [];
    for (const key of [...this.known.keys()]) {
      const slash = key.indexOf("/");
      if (key.slice(0, slash) !== namespace) continue;
      this.known.delete(key);
      out.push({ type: "delete", namespace, name: key.slice(slash + 1) });
    }
    this.stats.objects = this.known.size;
    return out;
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const abort = new AbortController();
      this.abort = abort;
      let openedAt = 0;
      let eventsBefore = 0;
      try {
        if (this.relistRequested) {
          this.relistRequested = false;
          this.resourceVersion = "";
        }
        if (this.resourceVersion === "") await this.list(abort.signal);
        if (this.stopped || this.relistRequested) continue;
        openedAt = Date.now();
        eventsBefore = this.stats.events + this.stats.bookmarks;
        await this.watch(abort.signal);
        // The server ended the watch (its timeout): resume at once, unless it ended at once
        // without a single event (a server that cannot hold a watch): then back off, never spin.
        if (
          !abort.signal.aborted &&
          Date.now() - openedAt < 1000 &&
          this.stats.events + this.stats.bookmarks === eventsBefore
        )
          await this.sleep(backoffDelayMs(this.attempt++, this.options.backoff));
      } catch (error) {
        if (this.stopped || (abort.signal.aborted && this.relistRequested)) continue;
        if (error instanceof ResourceExpiredError) {
          // Like client-go: relist at once (the data is there, only our position is too old).
          this.stats.expired++;
          this.resourceVersion = "";
          continue;
        }
        this.stats.errors++;
        this.lastError = error instanceof Error ? error : new Error(String(error));
        this.options.onError(this.lastError);
        this.resolveSettled();
        await this.sleep(backoffDelayMs(this.attempt++, this.options.backoff));
      }
    }
  }

  private healthy(): void {
    this.attempt = 0;
    this.lastError = undefined;
    this.options.onHealthy();
  }

  /** Waits `ms`, or less when stop() or relist() wakes it. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(), ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async list(signal: AbortSignal): Promise<void> {
    const { http, resource } = this.options;
    const items: KubeObject[] = [];
    let resourceVersion = "";
    let cont: string | undefined;
    // Bounded: every page moves the continue token on; the API server ends it.
    for (let page = 0; page < 1_000_000; page++) {
      const list: KubeList = await http.getJson<KubeList>(
        collectionPath(resource),
        { limit: String(this.options.pageSize ?? 500), continue: cont },
        { ...this.ctx, verb: "list" },
        { signal },
      );
      for (const item of list.items ?? []) items.push(item);
      resourceVersion = list.metadata?.resourceVersion ?? "";
      cont = list.metadata?.continue || undefined;
      if (!cont) break;
    }
    const next = new Map<string, string>();
    const changes: ReflectorChange[] = [];
    for (const item of items) {
      // List items carry no apiVersion/kind (the list does): restore them for the parser.
      item.apiVersion ??= apiVersionOf(resource);
      item.kind ??= resource.kind;
      if (!this.options.accepts(item)) continue;
      const key = keyOf(item);
      const version = item.metadata?.resourceVersion ?? "";
      next.set(key, version);
      if (this.known.get(key) !== version) changes.push({ type: "upsert", object: item });
    }
    for (const key of this.known.keys()) {
      if (next.has(key)) continue;
      const slash = key.indexOf("/");
      changes.push({ type: "delete", namespace: key.slice(0, slash), name: key.slice(slash + 1) });
    }
    this.known = next;
    this.resourceVersion = resourceVersion;
    this.stats.lists++;
    this.stats.objects = next.size;
    this.options.onChanges(changes, "list");
    this.healthy();
    if (!this.hasSynced) {
      this.hasSynced = true;
      this.resolveSynced();
      this.resolveSettled();
    }
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const { http, resource } = this.options;
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
    await http.watch(
      collectionPath(resource),
      {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: "true",
        timeoutSeconds: String(timeoutSeconds),
      },
      { ...this.ctx, verb: "watch" },
      (event) => this.apply(event),
      {
        signal,
        // A watch that stays silent is dead (no FIN after a partition, and HTTP/1.1 has no
        // pings): the watch cache sends a bookmark about once a minute, so 150 s of silence is
        // two missed bookmarks. Without the watch cache, a quiet kind reconnects that often.
        idleTimeoutMs: Math.min(timeoutSeconds + 30, IDLE_WATCH_SECONDS) * 1000,
        onOpen: () => {
          this.stats.watches++;
          this.healthy();
        },
      },
    );
  }

  private apply(event: KubeWatchEvent): void {
    const object = event.object;
    if (event.type === "ERROR") {
      if (object.code === 410) throw new ResourceExpiredError(object.message ?? "resource version expired");
      throw this.options.http.error(object.code ?? 500, object.message, { ...this.ctx, verb: "watch" });
    }
    const version = object.metadata?.resourceVersion;
    if (event.type === "BOOKMARK") {
      this.stats.bookmarks++;
      if (version) this.resourceVersion = version;
      return;
    }
    const key = keyOf(object);
    let change: ReflectorChange | undefined;
    if (event.type === "DELETED") {
      if (this.known.delete(key))
        change = {
          type: "delete",
          namespace: object.metadata?.namespace ?? "",
          name: object.metadata?.name ?? "",
        };
    } else if (!this.options.accepts(object)) {
      // A known object the filter now rejects (a namespace left the selection) is gone for us.
      if (this.known.delete(key))
        change = {
          type: "delete",
          namespace: object.metadata?.namespace ?? "",
          name: object.metadata?.name ?? "",
        };
    } else if (this.known.get(key) !== version) {
      this.known.set(key, version ?? "");
      change = { type: "upsert", object };
    }
    if (version) this.resourceVersion = version;
    if (!change) return;
    this.stats.events++;
    this.stats.objects = this.known.size;
    this.options.onChanges([change], "watch");
  }
}
