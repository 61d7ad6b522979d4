/**
 * The Kubernetes API as a MeshSource (the first level of Pilot's cache): one reflector (list +
 * watch, model/kubernetes/reflector.ts) per kind feeds the same parser, last-good store and
 * assembly as the YAML directory. Each object is parsed once when it arrives and only its mesh
 * item is kept; a change is applied as the model diff says (so an EndpointSlice or Pod change
 * that only moves endpoints is an endpoints-only, incremental EDS change), after a short batch
 * window that turns a relist into one change.
 *
 * Kinds: Service, EndpointSlice, Pod (subset labels and locality of endpoints, as istiod), Node
 * (locality; optional: without RBAC for Nodes, Pod labels and slice zones are used), Namespace
 * (only with namespace selectors), and networking.istio.io VirtualService, DestinationRule,
 * Sidecar, ServiceEntry, WorkloadEntry at the best served version (v1, else v1beta1).
 *
 * Errors: at start, RBAC forbidding a required kind (or bad credentials) fails start() with
 * KUBE_FORBIDDEN naming the verb and resource; an API server that does not answer is retried
 * until `syncTimeoutMs`. Once serving, every failure keeps the last known objects serving,
 * reports a `source-error` event and an error diagnostic (resolved when the kind recovers), and
 * retries with backoff.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { isMeshctlError } from "@meshctl/core";
import { fingerprintOf } from "./assemble.js";
import { type KubeErrorClass, KubeHttp, type KubeObject } from "./kubernetes/kube-http.js";
import { type LabelSelector, parseLabelSelector } from "./kubernetes/label-selector.js";
import {
  type BackoffOptions,
  KubeReflector,
  type ReflectorChange,
  type ReflectorStats,
} from "./kubernetes/reflector.js";
import {
  apiVersionOf,
  CORE_RESOURCES,
  discoverIstioResources,
  ISTIO_GROUP,
  type KubeResource,
  NAMESPACES,
  NODES,
  rbacResource,
} from "./kubernetes/resources.js";
import { type MeshItem, parseMeshObject } from "./parse-documents.js";
import { MeshSnapshotBuilder } from "./snapshot-builder.js";
import { type MeshSnapshot, type MeshSource, type MeshSourceEvent, sourceEventBetween } from "./source.js";
import { type ConfigDiagnostic, configKeyString } from "./types.js";

export interface KubernetesSourceOptions {
  /** A loaded KubeConfig. Default: `loadKubeConfig({ kubeconfig, context, inCluster })`. */
  readonly kubeConfig?: KubeConfig;
  /** Path of a kubeconfig (default $KUBECONFIG, ~/.kube/config, then the pod's service account). */
  readonly kubeconfig?: string;
  readonly context?: string;
  /** Use the pod's service account. */
  readonly inCluster?: boolean;
  /**
   * Label selectors of the namespaces to read (Istio's `discoverySelectors`: OR-ed; each is a
   * `kubectl -l` string). Objects of other namespaces are dropped on arrival, never kept.
   * Default: every namespace.
   */
  readonly namespaceSelectors?: readonly string[];
  /** Changes arriving within this window are applied as one (ms). Default 10. */
  readonly batchMs?: number;
  /** start() fails when the kinds have not been listed within this time (ms). Default 60,000. */
  readonly syncTimeoutMs?: number;
  /** Retry backoff after a failed list or watch. Default 800 ms doubling to 30 s, with jitter. */
  readonly backoff?: BackoffOptions;
  /** Server-side timeout of each watch (s). Default random in [300, 600). */
  readonly watchTimeoutSeconds?: number;
  /** How often Istio kinds that are not served (CRDs not installed) are looked for again (ms). Default 30,000. */
  readonly rediscoverMs?: number;
  readonly domainSuffix?: string;
}

/** One watched kind, for status pages and tests. */
export interface KubernetesKindStatus extends ReflectorStats {
  readonly kind: string;
  readonly apiVersion: string;
  /** RBAC resource name, e.g. `virtualservices.networking.istio.io`. */
  readonly resource: string;
  readonly synced: boolean;
  /** The failure the kind has not recovered from. */
  readonly lastError?: { readonly code: string; readonly message: string };
}

export interface KubernetesSourceStatus {
  readonly server: string;
  /** True once every required kind was listed and the first snapshot built. */
  readonly synced: boolean;
  /** Selected namespaces, or "all" without selectors. */
  readonly namespaces: readonly string[] | "all";
  readonly kinds: readonly KubernetesKindStatus[];
  /** Istio kinds the API server does not serve (looked for again every `rediscoverMs`). */
  readonly missingKinds: readonly string[];
  /** Objects kept (their mesh items), by kind. */
  readonly objects: Readonly<Record<string, number>>;
}

export interface KubernetesMeshSource extends MeshSource {
  status(): KubernetesSourceStatus;
}

interface StoredObject {
  /** Last good item (kept while the current version is rejected). */
  readonly item: MeshItem | undefined;
  /** The current version's problems. */
  readonly diagnostics: readonly ConfigDiagnostic[];
  /** `Kind/ns/name` when the current version is rejected. */
  readonly rejected: string | undefined;
}

function errorCode(error: Error): string {
  return isMeshctlError(error) ? error.code : "KUBE_API_ERROR";
}

/** Errors that waiting does not fix: fail start() at once. */
function isFatal(error: Error): boolean {
  if (!isMeshctlError(error)) return false;
  if (error.code === "KUBE_FORBIDDEN" || error.code === "KUBE_CONFIG_INVALID") return true;
  const status = error.details.status;
  return error.code === "KUBE_API_ERROR" && (status === 401 || status === 404);
}

function sameDiagnostics(a: readonly ConfigDiagnostic[], b: readonly ConfigDiagnostic[]): boolean {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}

/**
 * A MeshSource reading Services, EndpointSlices, Pods, Nodes and Istio networking objects from
 * a Kubernetes API server.
 *
 * @example
 * const source = kubernetesMeshSource({ kubeconfig: "/tmp/kubeconfig", namespaceSelectors: ["istio-discovery=enabled"] });
 * const xds = await startXdsServer({ source });
 * source.status().kinds; // lists, relists after 410, watches, bookmarks, errors per kind
 */
export function kubernetesMeshSource(options: KubernetesSourceOptions = {}): KubernetesMeshSource {
  const selectors: LabelSelector[] | undefined =
    options.namespaceSelectors && options.namespaceSelectors.length > 0
      ? options.namespaceSelectors.map(parseLabelSelector)
      : undefined;
  /** Set by start(): @meshctl/kube (and client-node) are loaded only then. */
  let http: KubeHttp | undefined;
  const builder = new MeshSnapshotBuilder({
    endpointLabels: "pods",
    ...(options.domainSuffix ? { domainSuffix: options.domainSuffix } : {}),
  });
  const store = new Map<string, StoredObject>();
  /** Problems of the source itself (a kind forbidden, Istio CRDs missing), by id. */
  const sourceDiagnostics = new Map<string, ConfigDiagnostic>();
  const reflectors: KubeReflector[] = [];
  const optional = new Set<KubeReflector>();
  const selected = selectors ? new Set<string>() : undefined;
  let missingIstio: string[] = [];
  let current: MeshSnapshot | undefined;
  let started = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let rediscover: NodeJS.Timeout | undefined;
  let emit: (event: MeshSourceEvent) => void = () => {};
  /** While start() waits: fails it at the first fatal error. */
  let failStart: ((error: Error) => void) | undefined;
  /** A fatal error between two waits of start() (e.g. the Namespace watch while discovering). */
  let fatalBeforeWait: Error | undefined;

  const sourceDiagnostic = (id: string, severity: "error" | "warning", about: string, reason: string) => {
    const d: ConfigDiagnostic = { severity, file: about, line: 0, column: 0, path: "", reason };
    const prev = sourceDiagnostics.get(id);
    if (prev?.reason === d.reason && prev.severity === d.severity) return false;
    sourceDiagnostics.set(id, d);
    return true;
  };

  const rebuild = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const accepted: [string, MeshItem][] = [];
    const diagnostics: ConfigDiagnostic[] = [...sourceDiagnostics.values()];
    const rejected: string[] = [];
    for (const id of [...store.keys()].sort()) {
      const entry = store.get(id) as StoredObject;
      if (entry.item) accepted.push([id, entry.item]);
      diagnostics.push(...entry.diagnostics);
      if (entry.rejected) rejected.push(entry.rejected);
    }
    const next = builder.build(accepted, diagnostics, rejected);
    const before = current;
    current = next;
    if (before && started && !closed) {
      const event = sourceEventBetween(before, next);
      if (event) emit(event);
    }
  };
  const schedule = () => {
    if (!started || closed || timer) return;
    timer = setTimeout(rebuild, options.batchMs ?? 10);
  };

  /** Parses what arrived; returns whether anything the model is built from changed. */
  const applyChanges = (resource: KubeResource, changes: readonly ReflectorChange[]): boolean => {
    let changed = false;
    for (const change of changes) {
      if (change.type === "delete") {
        if (store.delete(`${resource.kind}/${change.namespace}/${change.name}`)) changed = true;
        continue;
      }
      const parsed = parseMeshObject(change.object, undefined, options.domainSuffix);
      if (!parsed.key) continue;
      const id = configKeyString(parsed.key);
      const prev = store.get(id);
      // The same content again (a status update of a Pod, a relist): keep the instance, so the
      // assembly reuses what it built from it.
      const item =
        parsed.item && prev?.item && fingerprintOf(prev.item) === fingerprintOf(parsed.item)
          ? prev.item
          : parsed.item;
      const next: StoredObject = item
        ? { item, diagnostics: parsed.diagnostics, rejected: undefined }
        : { item: prev?.item, diagnostics: parsed.diagnostics, rejected: parsed.diagnostics[0]?.file ?? id };
      if (
        prev &&
        prev.item === next.item &&
        prev.rejected === next.rejected &&
        sameDiagnostics(prev.diagnostics, next.diagnostics)
      )
        continue;
      store.set(id, next);
      changed = true;
    }
    return changed;
  };

  const namespacedReflectors = () => reflectors.filter((r) => r.resource.namespaced);

  const onNamespaceChanges = (changes: readonly ReflectorChange[]) => {
    if (!selected) return;
    let joined = false;
    let left = false;
    for (const change of changes) {
      if (change.type === "upsert") {
        const name = change.object.metadata?.name ?? "";
        if (!selected.has(name)) {
          selected.add(name);
          joined = true;
        }
      } else if (selected.delete(change.name)) {
        // Left the selection: forget its objects (they are never kept for unselected namespaces).
        for (const r of namespacedReflectors())
          if (applyChanges(r.resource, r.forgetNamespace(change.name))) left = true;
      }
    }
    // A namespace that joins: its objects were dropped on arrival so far; list them.
    if (joined) for (const r of namespacedReflectors()) r.relist();
    if (left) schedule();
  };

  const addReflector = (
    http: KubeHttp,
    resource: KubeResource,
    opts: { optional?: boolean } = {},
  ): KubeReflector => {
    const id = `kind:${resource.kind}`;
    const reflector: KubeReflector = new KubeReflector({
      http,
      resource,
      accepts:
        resource === NAMESPACES
          ? (o: KubeObject) => (selectors ?? []).some((s) => s.matches(o.metadata?.labels ?? {}))
          : resource.namespaced && selected
            ? (o: KubeObject) => selected.has(o.metadata?.namespace ?? "")
            : () => true,
      onChanges: (changes) => {
        if (closed) return;
        if (resource === NAMESPACES) onNamespaceChanges(changes);
        else if (applyChanges(resource, changes)) schedule();
      },
      onError: (error) => {
        if (closed) return;
        const code = errorCode(error);
        const optionalKind = optional.has(reflector);
        if (!started && isFatal(error) && !optionalKind) {
          if (failStart) failStart(error);
          else fatalBeforeWait ??= error;
        }
        const consequence = optionalKind
          ? "locality comes from Pod labels and EndpointSlice zones"
          : started
            ? `the last known ${resource.kind} objects keep serving`
            : "not synced yet";
        if (
          sourceDiagnostic(
            id,
            optionalKind ? "warning" : "error",
            resource.kind,
            `${code}: ${error.message} (${consequence}; retrying)`,
          ) &&
          started
        ) {
          emit({ type: "source-error", message: `kubernetes ${resource.kind}: ${code}: ${error.message}` });
          schedule();
        }
      },
      onHealthy: () => {
        if (sourceDiagnostics.delete(id)) schedule();
      },
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.watchTimeoutSeconds !== undefined
        ? { watchTimeoutSeconds: options.watchTimeoutSeconds }
        : {}),
    });
    if (opts.optional) optional.add(reflector);
    reflectors.push(reflector);
    reflector.start();
    return reflector;
  };

  const noteMissingIstio = (missing: readonly string[]) => {
    for (const id of [...sourceDiagnostics.keys()])
      if (id.startsWith("missing:") && !missing.includes(id.slice(8))) sourceDiagnostics.delete(id);
    for (const kind of missing)
      sourceDiagnostic(
        `missing:${kind}`,
        "warning",
        kind,
        `${ISTIO_GROUP} ${kind} is not served by the API server (Istio's CRDs are not installed?): not watched, looked for again every ${Math.round((options.rediscoverMs ?? 30_000) / 1000)} s`,
      );
    missingIstio = [...missing];
  };

  const lookForIstioKinds = async (http: KubeHttp) => {
    if (closed || missingIstio.length === 0) return;
    try {
      const { found } = await discoverIstioResources(http);
      const known = new Set(reflectors.map((r) => r.resource.kind));
      const fresh = found.filter((r) => !known.has(r.kind) && missingIstio.includes(r.kind));
      if (closed || fresh.length === 0) return;
      for (const r of fresh) addReflector(http, r);
      noteMissingIstio(missingIstio.filter((k) => !fresh.some((r) => r.kind === k)));
      schedule();
    } catch {
      // Looked for again at the next tick; the reflectors report the API server's health.
    }
  };

  /** Resolves when every reflector is synced (optional ones: synced or failed once). */
  const waitSynced = async (
    http: KubeHttp,
    KubeError: KubeErrorClass,
    list: readonly KubeReflector[],
    deadline: number,
  ): Promise<void> => {
    const ready = Promise.all(list.map((r) => (optional.has(r) ? r.settled : r.synced)));
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise<never>((_, reject) => {
          if (fatalBeforeWait) reject(fatalBeforeWait);
          failStart = reject;
          timeout = setTimeout(
            () => {
              const waiting = list.filter((r) => !r.hasSynced && !optional.has(r));
              const last = waiting.find((r) => r.lastError)?.lastError;
              reject(
                new KubeError(
                  last && errorCode(last) === "KUBE_UNREACHABLE" ? "KUBE_UNREACHABLE" : "KUBE_TIMEOUT",
                  `The Kubernetes API server ${http.server} did not list ${waiting.map((r) => rbacResource(r.resource)).join(", ")} within ${Math.round((options.syncTimeoutMs ?? 60_000) / 1000)} s${last ? `: ${last.message}` : ""}`,
                  {
                    kind: "environment",
                    ...(last ? { cause: last } : {}),
                    details: { server: http.server, waiting: waiting.map((r) => rbacResource(r.resource)) },
                    suggestions: [
                      "Check that the API server is reachable from here (kubectl get --raw /readyz).",
                    ],
                  },
                ),
              );
            },
            Math.max(0, deadline - Date.now()),
          );
        }),
      ]);
    } finally {
      if (timeout) clearTimeout(timeout);
      failStart = undefined;
    }
  };

  const discoverWithRetry = async (http: KubeHttp, deadline: number) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await discoverIstioResources(http);
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        if (isFatal(e) || Date.now() + 500 > deadline) throw e;
        await new Promise((r) => setTimeout(r, Math.min(2000, 200 * 2 ** attempt)));
        if (closed) throw e;
      }
    }
  };

  const close = () => {
    closed = true;
    failStart?.(new Error("kubernetesMeshSource: closed while starting"));
    if (timer) clearTimeout(timer);
    if (rediscover) clearInterval(rediscover);
    for (const r of reflectors) r.stop();
  };

  const namespacesText = selectors ? ` (namespaces: ${selectors.map((s) => s.text).join(" | ")})` : "";
  return {
    get description() {
      return `kubernetes ${http?.server ?? options.kubeconfig ?? "(kubeconfig)"}${namespacesText}`;
    },
    async start(onEvent) {
      emit = onEvent;
      const deadline = Date.now() + (options.syncTimeoutMs ?? 60_000);
      try {
        const kube = await import("@meshctl/kube");
        const kc =
          options.kubeConfig ??
          kube.loadKubeConfig({
            ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
            ...(options.context !== undefined ? { context: options.context } : {}),
            ...(options.inCluster !== undefined ? { inCluster: options.inCluster } : {}),
          });
        const client = new KubeHttp(kc, kube.KubeError);
        http = client;
        if (selectors) await waitSynced(client, kube.KubeError, [addReflector(client, NAMESPACES)], deadline);
        const istio = await discoverWithRetry(client, deadline);
        noteMissingIstio(istio.missing);
        for (const r of [...CORE_RESOURCES, ...istio.found]) addReflector(client, r);
        addReflector(client, NODES, { optional: true });
        await waitSynced(client, kube.KubeError, reflectors, deadline);
        rebuild();
        started = true;
        if (missingIstio.length > 0) {
          rediscover = setInterval(() => void lookForIstioKinds(client), options.rediscoverMs ?? 30_000);
          rediscover.unref();
        }
      } catch (error) {
        close();
        throw error;
      }
      return current as MeshSnapshot;
    },
    current() {
      if (!current) throw new Error("kubernetesMeshSource: current() before start()");
      return current;
    },
    status() {
      const objects: Record<string, number> = {};
      for (const id of store.keys()) {
        const kind = id.slice(0, id.indexOf("/"));
        objects[kind] = (objects[kind] ?? 0) + 1;
      }
      return {
        server: http?.server ?? "",
        synced: started,
        namespaces: selected ? [...selected].sort() : "all",
        kinds: reflectors.map((r) => ({
          kind: r.resource.kind,
          apiVersion: apiVersionOf(r.resource),
          resource: rbacResource(r.resource),
          synced: r.hasSynced,
          ...r.stats,
          ...(r.lastError
            ? { lastError: { code: errorCode(r.lastError), message: r.lastError.message } }
            : {}),
        })),
        missingKinds: [...missingIstio],
        objects,
      };
    },
    close,
  };
}
