/**
 * The few REST calls install and uninstall make, on the kubeconfig's credentials
 * (`KubeConfig.applyToHTTPSOptions`: CA, client certificates, tokens, exec plugins). Plain JSON in
 * and out, and every failure mapped to a {@link KubeError} that names the verb and the object:
 * install has to tell a field conflict (409) from an invalid manifest (422) from RBAC (403) from an
 * unreachable server, and a generic client would hide the status behind its own wrapping.
 * Resource paths come from a fixed table of the kinds meshctl installs, so no discovery round trip.
 */
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeError } from "../errors.js";
import { FIELD_MANAGER } from "./labels.js";

/** One entry of an object's `metadata.managedFields`. */
export interface ManagedFieldsEntry {
  readonly manager?: string;
  readonly operation?: string;
  readonly apiVersion?: string;
  readonly time?: string;
  readonly fieldsV1?: unknown;
}

export interface KubeObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  generation?: number;
  uid?: string;
  deletionTimestamp?: string;
  managedFields?: ManagedFieldsEntry[];
  [key: string]: unknown;
}

/** A Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObjectMeta;
  [key: string]: unknown;
}

/** What names an object. */
export interface KubeObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** A field another manager owns, from a 409 of server-side apply. */
export interface FieldConflict {
  /** e.g. `Deployment meshctl-system/meshctl-xds` */
  readonly object: string;
  /** e.g. `.spec.replicas` */
  readonly field: string;
  /** e.g. `kubectl-edit` */
  readonly manager: string;
}

interface ResourceInfo {
  readonly plural: string;
  readonly namespaced: boolean;
}

/** The kinds meshctl installs (and nothing else: uninstall looks only for these). */
const RESOURCES: Readonly<Record<string, ResourceInfo>> = {
  "v1/Namespace": { plural: "namespaces", namespaced: false },
  "v1/ServiceAccount": { plural: "serviceaccounts", namespaced: true },
  "v1/ConfigMap": { plural: "configmaps", namespaced: true },
  "v1/Service": { plural: "services", namespaced: true },
  "apps/v1/Deployment": { plural: "deployments", namespaced: true },
  "apps/v1/DaemonSet": { plural: "daemonsets", namespaced: true },
  "rbac.authorization.k8s.io/v1/ClusterRole": { plural: "clusterroles", namespaced: false },
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": { plural: "clusterrolebindings", namespaced: false },
  "apiextensions.k8s.io/v1/CustomResourceDefinition": {
    plural: "customresourcedefinitions",
    namespaced: false,
  },
};

/** True for kinds that live in a namespace. */
export function isNamespacedKind(apiVersion: string, kind: string): boolean {
  return resourceInfo(apiVersion, kind).namespaced;
}

function resourceInfo(apiVersion: string, kind: string): ResourceInfo {
  const info = RESOURCES[`${apiVersion}/${kind}`];
  if (!info)
    throw new KubeError("KUBE_API_ERROR", `meshctl does not manage ${kind} (${apiVersion}) objects.`, {
      kind: "bug",
    });
  return info;
}

/**
 * `Deployment meshctl-system/meshctl-xds`, `ClusterRole meshctl-xds-meshctl-system`: how objects
 * are named in messages and results.
 *
 * @example
 * formatObjectRef({ apiVersion: "v1", kind: "Service", name: "a", namespace: "b" }); // "Service b/a"
 */
export function formatObjectRef(ref: KubeObjectRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

/** The reference of an object. */
export function objectRef(object: KubeObject): KubeObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
  };
}

function collectionPath(apiVersion: string, kind: string, namespace: string | undefined): string {
  const info = resourceInfo(apiVersion, kind);
  const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  if (!info.namespaced) return `${root}/${info.plural}`;
  if (!namespace) throw new KubeError("KUBE_API_ERROR", `${kind} needs a namespace.`, { kind: "bug" });
  return `${root}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
}

function objectPath(ref: KubeObjectRef): string {
  return `${collectionPath(ref.apiVersion, ref.kind, ref.namespace)}/${encodeURIComponent(ref.name)}`;
}

/** A Kubernetes `Status` body, as far as the mapping reads it. */
interface StatusBody {
  readonly kind?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly details?: {
    readonly causes?: readonly {
      readonly reason?: string;
      readonly message?: string;
      readonly field?: string;
    }[];
  };
}

type Verb = "get" | "list" | "apply" | "delete";

export interface KubeRestClientOptions {
  /** Bound on each request. Default 30 s. */
  readonly requestTimeoutMs?: number;
}

/**
 * The REST calls of install/uninstall, errors mapped to {@link KubeError}.
 *
 * @example
 * const client = new KubeRestClient(loadKubeConfig({ kubeconfig: "/tmp/kubeconfig" }));
 * const ns = await client.get({ apiVersion: "v1", kind: "Namespace", name: "meshctl-system" });
 */
export class KubeRestClient {
  readonly server: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly kubeConfig: KubeConfig,
    options: KubeRestClientOptions = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster)
      throw new KubeError("KUBE_CONFIG_INVALID", "The kubeconfig has no current cluster.", {
        kind: "usage",
        suggestions: ["Pass --context NAME."],
      });
    this.server = cluster.server.replace(/\/+$/, "");
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** The object, or undefined when it does not exist. */
  async get(ref: KubeObjectRef): Promise<KubeObject | undefined> {
    const r = await this.request("GET", objectPath(ref), {}, undefined, "get", formatObjectRef(ref), [404]);
    return r.status === 404 ? undefined : (r.body as KubeObject);
  }

  /** Objects of a kind with a label selector; `namespace` undefined lists cluster-wide. */
  async list(
    apiVersion: string,
    kind: string,
    options: { readonly namespace?: string; readonly labelSelector?: string } = {},
  ): Promise<KubeObject[]> {
    const path = collectionPath(apiVersion, kind, options.namespace);
    const what = options.namespace ? `${kind} objects in ${options.namespace}` : `${kind} objects`;
    const query: Record<string, string> = {};
    if (options.labelSelector) query.labelSelector = options.labelSelector;
    const items: KubeObject[] = [];
    let continueToken: string | undefined;
    do {
      const r = await this.request(
        "GET",
        path,
        { ...query, limit: "500", ...(continueToken ? { continue: continueToken } : {}) },
        undefined,
        "list",
        what,
      );
      const list = r.body as { items?: KubeObject[]; metadata?: { continue?: string } };
      // List items carry no apiVersion/kind.
      for (const item of list.items ?? []) items.push({ ...item, apiVersion, kind });
      continueToken = list.metadata?.continue || undefined;
    } while (continueToken);
    return items;
  }

  /**
   * Server-side apply with field manager `meshctl`. A field owned by another manager is a
   * `KUBE_APPLY_CONFLICT` whose `details.conflicts` lists {object, field, manager}, unless `force`.
   */
  async apply(
    object: KubeObject,
    options: { readonly dryRun?: boolean; readonly force?: boolean } = {},
  ): Promise<KubeObject> {
    const ref = objectRef(object);
    const query: Record<string, string> = { fieldManager: FIELD_MANAGER };
    if (options.force) query.force = "true";
    if (options.dryRun) query.dryRun = "All";
    const r = await this.request(
      "PATCH",
      objectPath(ref),
      query,
      { contentType: "application/apply-patch+yaml", text: JSON.stringify(object) },
      "apply",
      formatObjectRef(ref),
    );
    return r.body as KubeObject;
  }

  /**
   * GET of any API path (discovery documents, lists of kinds outside meshctl's table). Undefined
   * for 404 and 503 (an aggregated API that is not serving).
   */
  async getPath(path: string, query: Readonly<Record<string, string>> = {}): Promise<unknown> {
    const r = await this.request("GET", path, { ...query }, undefined, "get", path, [404, 503]);
    return r.status === 404 || r.status === 503 ? undefined : r.body;
  }

  /**
   * Deletes with background propagation (no finalizer that waits for a garbage collector).
   * Returns false when the object was already gone.
   */
  async delete(ref: KubeObjectRef, options: { readonly dryRun?: boolean } = {}): Promise<boolean> {
    const query: Record<string, string> = { propagationPolicy: "Background" };
    if (options.dryRun) query.dryRun = "All";
    const r = await this.request(
      "DELETE",
      objectPath(ref),
      query,
      undefined,
      "delete",
      formatObjectRef(ref),
      [404],
    );
    return r.status !== 404;
  }

  private async request(
    method: string,
    path: string,
    query: Record<string, string>,
    body: { readonly contentType: string; readonly text: string } | undefined,
    verb: Verb,
    what: string,
    accept: readonly number[] = [],
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(`${this.server}${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const options: RequestOptions & { headers: Record<string, string> } = {
      method,
      headers: {
        accept: "application/json",
        ...(body ? { "content-type": body.contentType } : {}),
      },
      timeout: this.timeoutMs,
    };
    try {
      await this.kubeConfig.applyToHTTPSOptions(options);
    } catch (cause) {
      throw new KubeError(
        "KUBE_CONFIG_INVALID",
        `The kubeconfig's credentials cannot be used: ${String(cause)}`,
        {
          kind: "usage",
          cause,
        },
      );
    }
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", reject);
      if (body) req.write(body.text);
      req.end();
    }).catch((cause: unknown) => {
      throw new KubeError(
        "KUBE_UNREACHABLE",
        `Cannot reach the Kubernetes API server at ${this.server} (${verb} ${what}): ${(cause as Error).message}.`,
        {
          kind: "environment",
          cause,
          details: { server: this.server },
          suggestions: ["Check that the cluster is up and that --kubeconfig/--context point at it."],
        },
      );
    });
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (a proxy's error page): keep the text for the message.
    }
    if ((status >= 200 && status < 300) || accept.includes(status)) return { status, body: parsed };
    throw kubeStatusError(status, parsed, verb, what, this.server);
  }
}

/** Maps an HTTP failure to a KubeError naming the verb, the object and the server's reason. */
function kubeStatusError(status: number, body: unknown, verb: Verb, what: string, server: string): KubeError {
  const s: StatusBody = typeof body === "object" && body !== null ? (body as StatusBody) : {};
  const message =
    s.message ?? (typeof body === "string" && body ? body.trim().slice(0, 300) : `HTTP ${status}`);
  const causes = s.details?.causes ?? [];
  if (status === 401)
    return new KubeError(
      "KUBE_FORBIDDEN",
      `The API server at ${server} rejected the credentials (HTTP 401).`,
      {
        kind: "environment",
        details: { status, verb, object: what },
        suggestions: ["Refresh the kubeconfig's credentials, or pick another --context."],
      },
    );
  if (status === 403)
    return new KubeError("KUBE_FORBIDDEN", `Forbidden to ${verb} ${what}: ${message}`, {
      kind: "environment",
      details: { status, verb, object: what },
      suggestions: ["Install as a user who may create namespaces, RBAC and workloads (cluster-admin)."],
    });
  if (status === 409 && verb === "apply" && s.reason === "Conflict") {
    const conflicts: FieldConflict[] = causes.map((c) => ({
      object: what,
      field: c.field ?? "(unknown field)",
      manager: /conflict with "([^"]*)"/.exec(c.message ?? "")?.[1] ?? c.message ?? "(unknown manager)",
    }));
    return new KubeError(
      "KUBE_APPLY_CONFLICT",
      `${what}: ${conflicts.map((c) => `${c.field} is owned by field manager "${c.manager}"`).join("; ") || message}.`,
      {
        kind: "environment",
        details: { status, object: what, conflicts },
        suggestions: [
          "Run again with --force-conflicts to take these fields over (the other manager may set them back).",
        ],
      },
    );
  }
  if (status === 422 || status === 400) {
    const fields = causes.filter((c) => c.field).map((c) => `${c.field}: ${c.message ?? c.reason ?? ""}`);
    const problems = fields.length ? fields.join("; ") : message;
    return new KubeError("KUBE_INVALID_OBJECT", `The API server rejected ${what}: ${problems}`, {
      kind: "usage",
      details: { status, verb, object: what, problems, causes },
    });
  }
  return new KubeError("KUBE_API_ERROR", `${verb} ${what} failed (HTTP ${status}): ${message}`, {
    kind: status >= 500 ? "external" : "environment",
    details: { status, verb, object: what, reason: s.reason ?? null },
  });
}
