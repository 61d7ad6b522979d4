/**
 * `meshctl uninstall`: deletes what `meshctl install` created, found by label and confirmed by
 * field manager, in reverse dependency order (workloads, services, configuration, RBAC, CRDs when
 * asked, the namespace last), and nothing else:
 *  - an object with meshctl's labels that no `meshctl` apply ever touched is left alone;
 *  - CRDs are kept unless asked: deleting a CRD deletes every object of its kind in the cluster;
 *  - the namespace is deleted only if it holds nothing but meshctl's objects and what Kubernetes
 *    derives from them (owned objects, `kube-root-ca.crt`, the `default` service account, events,
 *    a Service's Endpoints): deleting a namespace deletes everything in it.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { isMeshctlOwned } from "./install.js";
import { meshctlSelector } from "./labels.js";
import { DEFAULT_INSTALL_NAMESPACE } from "./manifests.js";
import {
  formatObjectRef,
  isNamespacedKind,
  type KubeObject,
  KubeRestClient,
  objectRef,
} from "./rest-client.js";

/** `deleted` (or would be, with dryRun), `terminating` (already being deleted), `kept` (on purpose), `skipped` (not meshctl's). */
export type UninstallAction = "deleted" | "terminating" | "kept" | "skipped";

export interface UninstalledObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly action: UninstallAction;
  readonly reason?: string;
}

export type UninstallProgressEvent = { readonly type: "object"; readonly object: UninstalledObject };

export interface UninstallOptions {
  readonly kubeConfig: KubeConfig;
  /** The install's namespace. Default `meshctl-system`. */
  readonly namespace?: string;
  /** Server-side dry run: report what would be deleted, delete nothing. */
  readonly dryRun?: boolean;
  /** Also delete the Istio CRDs install created (and with them every object of those kinds). */
  readonly includeCrds?: boolean;
  readonly onProgress?: (event: UninstallProgressEvent) => void;
}

export interface UninstallResult {
  readonly server: string;
  readonly namespace: string;
  readonly dryRun: boolean;
  /** False when there was nothing to delete. */
  readonly changed: boolean;
  readonly objects: readonly UninstalledObject[];
}

/** Reverse of the apply order. */
const DELETE_ORDER: readonly { readonly apiVersion: string; readonly kind: string }[] = [
  { apiVersion: "apps/v1", kind: "DaemonSet" },
  { apiVersion: "apps/v1", kind: "Deployment" },
  { apiVersion: "v1", kind: "Service" },
  { apiVersion: "v1", kind: "ConfigMap" },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding" },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole" },
  { apiVersion: "v1", kind: "ServiceAccount" },
  { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition" },
  { apiVersion: "v1", kind: "Namespace" },
];

function describe(object: KubeObject, action: UninstallAction, reason?: string): UninstalledObject {
  const ref = objectRef(object);
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    action,
    ...(reason ? { reason } : {}),
  };
}

/**
 * Removes meshctl's install from a cluster (or with `dryRun` shows what would go).
 *
 * @example
 * const result = await uninstallMeshctl({ kubeConfig: loadKubeConfig(), namespace: "meshctl-system" });
 * result.objects.filter((o) => o.action === "deleted").length;
 */
export async function uninstallMeshctl(options: UninstallOptions): Promise<UninstallResult> {
  const namespace = options.namespace ?? DEFAULT_INSTALL_NAMESPACE;
  const dryRun = options.dryRun ?? false;
  const client = new KubeRestClient(options.kubeConfig);
  const selector = meshctlSelector(namespace);
  const objects: UninstalledObject[] = [];
  const report = (object: UninstalledObject) => {
    objects.push(object);
    options.onProgress?.({ type: "object", object });
  };
  const removedUids = new Set<string>();
  const removedServices = new Set<string>();

  for (const { apiVersion, kind } of DELETE_ORDER) {
    const found = await client.list(apiVersion, kind, {
      ...(isNamespacedKind(apiVersion, kind) ? { namespace } : {}),
      labelSelector: selector,
    });
    for (const object of found.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
      if (!isMeshctlOwned(object)) {
        report(
          describe(
            object,
            "skipped",
            "labelled as meshctl's but never applied by field manager meshctl: left as it is",
          ),
        );
        continue;
      }
      if (object.metadata.deletionTimestamp) {
        report(describe(object, "terminating", "already being deleted"));
        continue;
      }
      if (kind === "CustomResourceDefinition" && !options.includeCrds) {
        report(
          describe(
            object,
            "kept",
            "deleting a CRD deletes every object of its kind in the cluster: pass --include-crds to remove it",
          ),
        );
        continue;
      }
      if (kind === "Namespace") {
        const others = await foreignObjectsIn(client, namespace, removedUids, removedServices);
        if (others.length) {
          report(
            describe(
              object,
              "kept",
              `holds ${others.length} object${others.length === 1 ? "" : "s"} meshctl did not create (${others.slice(0, 5).join(", ")}${others.length > 5 ? ", ..." : ""}): deleting the namespace would delete them`,
            ),
          );
          continue;
        }
      }
      const gone = await client.delete(objectRef(object), { dryRun });
      if (object.metadata.uid) removedUids.add(object.metadata.uid);
      if (kind === "Service") removedServices.add(object.metadata.name);
      if (!gone) continue;
      let reason: string | undefined;
      if (kind === "Namespace" && !dryRun && (await client.get(objectRef(object))))
        reason = "terminating: Kubernetes removes it once its contents are finalized";
      report(describe(object, "deleted", reason));
    }
  }
  return {
    server: client.server,
    namespace,
    dryRun,
    changed: objects.some((o) => o.action === "deleted"),
    objects,
  };
}

interface ApiResource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly verbs?: readonly string[];
}

/** What Kubernetes itself puts in every namespace or derives from meshctl's objects. */
function derived(kind: string, object: KubeObject, removedServices: ReadonlySet<string>): boolean {
  if ((object.metadata.ownerReferences as unknown[] | undefined)?.length) return true;
  if (kind === "ConfigMap" && object.metadata.name === "kube-root-ca.crt") return true;
  if (kind === "ServiceAccount" && object.metadata.name === "default") return true;
  if (kind === "Endpoints" && removedServices.has(object.metadata.name)) return true;
  return false;
}

/**
 * Objects in the namespace that are neither meshctl's nor derived from them, as
 * `Kind namespace/name`, found through API discovery (every namespaced kind that can be listed,
 * custom resources included).
 */
async function foreignObjectsIn(
  client: KubeRestClient,
  namespace: string,
  removedUids: ReadonlySet<string>,
  removedServices: ReadonlySet<string>,
): Promise<string[]> {
  const groupVersions = ["v1"];
  const groups = (await client.getPath("/apis")) as
    | { groups?: { preferredVersion?: { groupVersion?: string } }[] }
    | undefined;
  for (const g of groups?.groups ?? [])
    if (g.preferredVersion?.groupVersion) groupVersions.push(g.preferredVersion.groupVersion);
  const found: string[] = [];
  await Promise.all(
    groupVersions.map(async (gv) => {
      const root = gv === "v1" ? "/api/v1" : `/apis/${gv}`;
      const list = (await client.getPath(root)) as { resources?: ApiResource[] } | undefined;
      const resources = (list?.resources ?? []).filter(
        (r) =>
          r.namespaced &&
          !r.name.includes("/") &&
          r.verbs?.includes("list") &&
          // Events record what happened and PodMetrics mirror pods: neither is someone's object.
          r.kind !== "Event" &&
          r.kind !== "PodMetrics",
      );
      await Promise.all(
        resources.map(async (r) => {
          const items =
            (
              (await client.getPath(`${root}/namespaces/${encodeURIComponent(namespace)}/${r.name}`, {
                limit: "100",
              })) as { items?: KubeObject[] } | undefined
            )?.items ?? [];
          for (const item of items) {
            if (item.metadata.uid && removedUids.has(item.metadata.uid)) continue;
            if (item.metadata.deletionTimestamp || derived(r.kind, item, removedServices)) continue;
            found.push(
              formatObjectRef({ apiVersion: gv, kind: r.kind, name: item.metadata.name, namespace }),
            );
          }
        }),
      );
    }),
  );
  return found.sort();
}
