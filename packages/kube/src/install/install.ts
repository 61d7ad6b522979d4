/**
 * `meshctl install`: server-side apply (field manager `meshctl`) of the rendered manifests.
 *
 * Order of work, so that a refusal changes nothing:
 *  1. read every object's current state (its resourceVersion is the "before");
 *  2. preflight: apply every object with `dryRun=All`: the API server validates it (schema,
 *     admission) and reports every field another manager owns (409). Any conflict or invalid
 *     object stops here with all of them listed, before anything is written. Namespaced objects
 *     can be dry-run only in an existing namespace; a fresh install creates the (empty) namespace
 *     first and preflights them then;
 *  3. apply for real. "Changed nothing" is decided by the server, not by a local diff: an apply
 *     that changes no field and no ownership is not written and keeps its resourceVersion, so
 *     before == after means unchanged. For `--dry-run`, where nothing is written, the dry-run
 *     result is compared with the current object instead (managedFields timestamps aside);
 *  4. wait for the Deployment/DaemonSets to roll out, reporting progress, until a timeout that
 *     names what is not ready.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeError } from "../errors.js";
import { ISTIO_NETWORKING_GROUP, ISTIO_NETWORKING_KINDS } from "./crds.js";
import { FIELD_MANAGER, LABEL_MANAGED_BY } from "./labels.js";
import {
  DEFAULT_INSTALL_COMPONENTS,
  DEFAULT_INSTALL_NAMESPACE,
  type InstallComponent,
  type InstallManifest,
  type InstallManifestOptions,
  type InstallPart,
  renderInstallManifests,
} from "./manifests.js";
import {
  type FieldConflict,
  isNamespacedKind,
  type KubeObject,
  KubeRestClient,
  objectRef,
} from "./rest-client.js";
import { formatRolloutPending, type RolloutReport, waitForRollout } from "./rollout.js";

/** What apply did (or, with dryRun, would do) to one object. */
export type ApplyAction = "created" | "configured" | "unchanged" | "skipped";

export interface InstalledObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly part: InstallPart;
  readonly action: ApplyAction;
  /** The API server accepted it (server-side dry run or apply). False: not sent (see reason). */
  readonly validated: boolean;
  readonly reason?: string;
}

export type InstallProgressEvent =
  | { readonly type: "phase"; readonly phase: "preflight" | "apply" | "rollout"; readonly message: string }
  | { readonly type: "object"; readonly object: InstalledObject }
  | { readonly type: "rollout"; readonly report: RolloutReport; readonly timeoutMs: number };

export interface InstallOptions extends InstallManifestOptions {
  readonly kubeConfig: KubeConfig;
  /** Server-side dry run: validate and report what would change, write nothing. */
  readonly dryRun?: boolean;
  /** Take over fields other managers own (server-side apply `force=true`). */
  readonly forceConflicts?: boolean;
  /** Wait for the workloads to roll out. Default true. */
  readonly wait?: boolean;
  /** Bound on the rollout wait. Default 5 min. */
  readonly timeoutMs?: number;
  /** Rollout poll interval. Default 1 s. */
  readonly pollIntervalMs?: number;
  readonly onProgress?: (event: InstallProgressEvent) => void;
}

export interface InstallResult {
  readonly server: string;
  readonly namespace: string;
  readonly components: readonly InstallComponent[];
  readonly dryRun: boolean;
  /** False when every object was already as rendered (a repeated install). */
  readonly changed: boolean;
  readonly objects: readonly InstalledObject[];
  /** Null with dryRun or wait: false. */
  readonly rollout: RolloutReport | null;
  readonly warnings: readonly string[];
  /** What was applied (or would be), in order: `-o yaml`. */
  readonly manifests: readonly KubeObject[];
}

export const DEFAULT_ROLLOUT_TIMEOUT_MS = 300_000;

/**
 * True when meshctl created the object: its labels say so AND a server-side apply by field
 * manager `meshctl` is recorded in managedFields.
 */
export function isMeshctlOwned(object: KubeObject): boolean {
  return (
    object.metadata.labels?.[LABEL_MANAGED_BY] === "meshctl" &&
    (object.metadata.managedFields ?? []).some((m) => m.manager === FIELD_MANAGER && m.operation === "Apply")
  );
}

/** The object with volatile bookkeeping removed, keys sorted: equal means "apply changes nothing". */
function comparable(object: KubeObject): string {
  const copy = structuredClone(object);
  copy.metadata.managedFields = (copy.metadata.managedFields ?? []).map(({ time: _t, ...rest }) => rest);
  return JSON.stringify(copy, (_key, value: unknown) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(
          Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : value,
  );
}

function describe(
  m: InstallManifest,
  action: ApplyAction,
  validated: boolean,
  reason?: string,
): InstalledObject {
  const ref = objectRef(m.object);
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    part: m.part,
    action,
    validated,
    ...(reason ? { reason } : {}),
  };
}

/**
 * Installs (or with `dryRun` validates) meshctl's components on a cluster. Idempotent: a second
 * run reports every object `unchanged` and `changed: false`. Conflicts with other field managers
 * fail with `KUBE_APPLY_CONFLICT` (listing object, field, manager) unless `forceConflicts`; a
 * rollout that does not finish in time fails with `KUBE_TIMEOUT` naming what is not ready.
 *
 * @example
 * const result = await installMeshctl({
 *   kubeConfig: loadKubeConfig({ context: "lab" }),
 *   image: meshctlImage({ version: "0.1.0" }),
 *   components: ["xds", "ebpf"],
 *   onProgress: (e) => e.type === "object" && console.log(e.object.kind, e.object.action),
 * });
 * result.changed; // false on a second run
 */
export async function installMeshctl(options: InstallOptions): Promise<InstallResult> {
  const namespace = options.namespace ?? DEFAULT_INSTALL_NAMESPACE;
  const components = options.components ?? DEFAULT_INSTALL_COMPONENTS;
  const dryRun = options.dryRun ?? false;
  const emit = options.onProgress ?? (() => {});
  const manifests = renderInstallManifests({ ...options, namespace, components });
  const client = new KubeRestClient(options.kubeConfig);
  const force = options.forceConflicts ?? false;

  emit({
    type: "phase",
    phase: "preflight",
    message: `reading ${manifests.length} objects from ${client.server}`,
  });
  const before = new Map<InstallManifest, KubeObject | undefined>();
  await Promise.all(manifests.map(async (m) => before.set(m, await client.get(objectRef(m.object)))));

  const nsObject = manifests.find((m) => m.part === "namespace");
  const nsBefore = nsObject ? before.get(nsObject) : undefined;
  if (nsBefore?.metadata.deletionTimestamp)
    throw new KubeError(
      "KUBE_API_ERROR",
      `Namespace ${namespace} is being deleted: nothing can be installed in it.`,
      {
        kind: "environment",
        details: { namespace },
        suggestions: ["Wait until it is gone (kubectl get namespace), or install into another --namespace."],
      },
    );
  const nsExists = nsBefore !== undefined;

  // Decide what is applied; the rest is reported as it is.
  const decided = new Map<InstallManifest, InstalledObject>();
  const toApply: InstallManifest[] = [];
  for (const m of manifests) {
    const current = before.get(m);
    if (m.part === "namespace" && current && !isMeshctlOwned(current))
      decided.set(
        m,
        describe(m, "skipped", false, "exists and was not created by meshctl: left as it is, never deleted"),
      );
    else if (m.onlyIfAbsent && current)
      decided.set(
        m,
        isMeshctlOwned(current)
          ? describe(m, "unchanged", false, "present (installed by meshctl earlier)")
          : describe(m, "skipped", false, "present and not meshctl's: left as it is"),
      );
    else toApply.push(m);
  }
  for (const object of decided.values()) emit({ type: "object", object });

  const warnings: string[] = [];
  if (components.includes("xds") && !options.installCrds) {
    const missing: string[] = [];
    for (const { plural } of ISTIO_NETWORKING_KINDS) {
      const name = `${plural}.${ISTIO_NETWORKING_GROUP}`;
      const crd = await client
        .get({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", name })
        .catch(() => ({}) as KubeObject); // unreadable: assume present, say nothing
      if (!crd) missing.push(plural);
    }
    if (missing.length)
      warnings.push(
        `The ${ISTIO_NETWORKING_GROUP} CRDs for ${missing.join(", ")} are absent: the control plane cannot watch them. Pass --install-crds to install minimal ones.`,
      );
  }

  const namespaced = (m: InstallManifest) => isNamespacedKind(m.object.apiVersion, m.object.kind);
  const predicted = new Map<InstallManifest, ApplyAction>();
  const preflight = async (list: readonly InstallManifest[], written = "nothing was applied") => {
    const conflicts: FieldConflict[] = [];
    const invalid: KubeError[] = [];
    for (const m of list) {
      try {
        const result = await client.apply(m.object, { dryRun: true, force });
        const current = before.get(m);
        predicted.set(
          m,
          !current ? "created" : comparable(current) === comparable(result) ? "unchanged" : "configured",
        );
      } catch (error) {
        if (error instanceof KubeError && error.code === "KUBE_APPLY_CONFLICT")
          conflicts.push(...((error.details.conflicts as FieldConflict[] | undefined) ?? []));
        else if (error instanceof KubeError && error.code === "KUBE_INVALID_OBJECT") invalid.push(error);
        else throw error;
      }
    }
    if (conflicts.length)
      throw new KubeError(
        "KUBE_APPLY_CONFLICT",
        `${conflicts.length === 1 ? "A field" : `${conflicts.length} fields`} of meshctl's objects ${conflicts.length === 1 ? "is" : "are"} owned by another field manager, so ${written}: ${conflicts
          .map((c) => `${c.object} ${c.field} (manager "${c.manager}")`)
          .join("; ")}.`,
        {
          kind: "environment",
          details: { conflicts },
          suggestions: [
            "Run again with --force-conflicts to take these fields over for meshctl (the other manager may set them back).",
            "Or remove them from the other manager's configuration first.",
          ],
        },
      );
    if (invalid.length)
      throw new KubeError(
        "KUBE_INVALID_OBJECT",
        `The API server rejected ${invalid.length === 1 ? "an object" : `${invalid.length} objects`}, so ${written}: ${invalid.map((e) => `${String(e.details.object)}: ${String(e.details.problems)}`).join("; ")}.`,
        { kind: "usage", details: { errors: invalid.map((e) => e.details) } },
      );
  };

  emit({ type: "phase", phase: "preflight", message: "validating with a server-side dry run" });
  await preflight(toApply.filter((m) => nsExists || !namespaced(m)));

  const applied = toApply.map((m) => m.object);
  if (dryRun) {
    const objects = manifests.map((m) => {
      const done = decided.get(m);
      if (done) return done;
      const action = predicted.get(m);
      const object = action
        ? describe(m, action, true)
        : describe(
            m,
            "created",
            false,
            `not validated: namespace ${namespace} does not exist yet and the API server checks namespaced objects only in an existing namespace`,
          );
      emit({ type: "object", object });
      return object;
    });
    return {
      server: client.server,
      namespace,
      components,
      dryRun,
      changed: objects.some((o) => o.action === "created" || o.action === "configured"),
      objects,
      rollout: null,
      warnings,
      manifests: applied,
    };
  }

  emit({
    type: "phase",
    phase: "apply",
    message: `applying ${toApply.length} objects (field manager ${FIELD_MANAGER})`,
  });
  const applyOne = async (m: InstallManifest): Promise<void> => {
    const result = await client.apply(m.object, { force });
    const previous = before.get(m)?.metadata.resourceVersion;
    const action: ApplyAction = !previous
      ? "created"
      : previous === result.metadata.resourceVersion
        ? "unchanged"
        : "configured";
    const object = describe(m, action, true);
    decided.set(m, object);
    emit({ type: "object", object });
  };
  if (!nsExists && nsObject) {
    // A fresh namespace: create it, then preflight what goes into it before writing any of it.
    await applyOne(nsObject);
    await preflight(toApply.filter(namespaced), `nothing but the (empty) namespace ${namespace} was applied`);
  }
  for (const m of toApply) if (!decided.has(m)) await applyOne(m);
  const objects = manifests.map((m) => decided.get(m) as InstalledObject);
  const changed = objects.some((o) => o.action === "created" || o.action === "configured");

  let rollout: RolloutReport | null = null;
  const workloads = toApply.filter((m) => m.object.kind === "Deployment" || m.object.kind === "DaemonSet");
  if ((options.wait ?? true) && workloads.length) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS;
    emit({
      type: "phase",
      phase: "rollout",
      message: `waiting up to ${Math.round(timeoutMs / 1000)} s for the rollout`,
    });
    rollout = await waitForRollout(
      client,
      workloads.map((m) => objectRef(m.object)),
      {
        timeoutMs,
        ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
        onPoll: (report) => emit({ type: "rollout", report, timeoutMs }),
      },
    );
    if (!rollout.ready)
      throw new KubeError(
        "KUBE_TIMEOUT",
        `Applied, but the rollout did not finish within ${formatSeconds(timeoutMs)}: ${formatRolloutPending(rollout)}.`,
        {
          kind: "environment",
          details: { objects, rollout, changed },
          suggestions: [
            `See why with: kubectl -n ${namespace} get pods,events (image pulls, scheduling, node selectors).`,
            "Pass --timeout to wait longer, or --no-wait to return once applied.",
          ],
        },
      );
  }
  return {
    server: client.server,
    namespace,
    components,
    dryRun,
    changed,
    objects,
    rollout,
    warnings,
    manifests: applied,
  };
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
