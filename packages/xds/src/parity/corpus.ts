/**
 * The parity corpus: cases built from Istio's own samples (read from the pinned istio.io/istio
 * module at run time, never copied here) and small feature cases written by us under
 * packages/xds/parity/cases/<name>/. Each case is a mesh as a cluster would hold it: Services,
 * Pods and EndpointSlices derived deterministically from the manifests' Deployments (what the
 * scheduler, kubelet and endpointslice controller would write), plus the Istio config, plus the
 * proxies (one Envoy sidecar and one proxyless gRPC client) both servers are asked about.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { MeshctlError } from "@meshctl/core";
import { parseAllDocuments } from "yaml";
import { syntheticPodStatus } from "../load/kube-mesh.js";
import { findRepoRoot } from "../load/target.js";
import type { IstioModule } from "./istio-samples.js";
import type { ParityCase, ParityCaseOrigin, ParityProxy } from "./types.js";

type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } & Record<string, unknown>;
  spec?: Record<string, unknown>;
};

/**
 * The node a derived pod claims to run on unless its Deployment's template names one (no Node
 * object: no locality on either side).
 */
export const PARITY_NODE_NAME = "parity-node";
/** Service cluster IPs come from 10.96.0.0/16 (the loopback API server's service range). */
const SERVICE_IP_PREFIX = "10.96";
const DOMAIN = "svc.cluster.local";
const ISTIO_GROUP = /\.istio\.io\//;
/**
 * Kinds a sample manifest holds that the cluster would also need (the rest is dropped). A Node
 * (with topology labels) and Deployments pinned to it (`spec.template.spec.nodeName`) give
 * pods, their endpoints and the client proxy a locality.
 */
const PLATFORM_KINDS = new Set(["Service", "ServiceAccount", "Deployment", "Namespace", "Node"]);
/** Kinds without a namespace. */
const CLUSTER_SCOPED = new Set(["Namespace", "Node"]);

/**
 * The pod IP block of case `index`: 10.<100 + index mod 150>.0.0/16. A block differs from the
 * previous case's, so a snapshot still holding the previous case's endpoints is recognisable.
 */
export function parityPodBlock(index: number): string {
  return `10.${100 + (index % 150)}`;
}

function podIp(index: number, k: number): string {
  return `${parityPodBlock(index)}.${Math.floor(k / 250)}.${10 + (k % 250)}`;
}

/** The YAML documents of a file (empty documents dropped). */
export function readYamlObjects(file: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0)
      throw new MeshctlError("XDS_PARITY_CASE_INVALID", `${file}: ${doc.errors[0]?.message ?? "bad YAML"}`, {
        kind: "usage",
      });
    const o = doc.toJS() as KubeObject | null;
    if (o && typeof o === "object" && typeof o.kind === "string") out.push(o);
  }
  return out;
}

const clone = <T>(v: T): T => structuredClone(v);

function withNamespace(o: KubeObject, namespace: string): KubeObject {
  const c = clone(o);
  if (CLUSTER_SCOPED.has(String(c.kind))) return c;
  c.metadata = { ...(c.metadata ?? {}), namespace: c.metadata?.namespace ?? namespace };
  return c;
}

function nsOf(o: KubeObject): string {
  return o.metadata?.namespace ?? "default";
}

function nameOf(o: KubeObject): string {
  return String(o.metadata?.name ?? "");
}

interface PodInfo {
  readonly pod: KubeObject;
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  readonly labels: Record<string, string>;
  readonly serviceAccount: string;
  readonly workload: string;
  readonly nodeName: string;
}

/** What a Node's topology labels say (Kubernetes' well-known labels, Istio's subzone). */
export interface NodeLocality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

function nodeLocality(node: KubeObject | undefined): NodeLocality | undefined {
  const labels = node?.metadata?.labels ?? {};
  const region = labels["topology.kubernetes.io/region"] ?? "";
  const zone = labels["topology.kubernetes.io/zone"] ?? "";
  const subzone = labels["topology.istio.io/subzone"] ?? "";
  return region || zone || subzone ? { region, zone, subzone } : undefined;
}

export interface Platform {
  /** Namespaces, ServiceAccounts, Services, Pods (with status), EndpointSlices. */
  readonly objects: KubeObject[];
  readonly pods: readonly PodInfo[];
  readonly services: readonly KubeObject[];
  /** Node localities by node name (Nodes without topology labels are left out). */
  readonly localities: ReadonlyMap<string, NodeLocality>;
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A Service's targetPort resolved on a pod (a named port is looked up in its containers). */
function resolveTargetPort(port: Record<string, unknown>, pod: KubeObject): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === "number") return target;
  const containers = ((pod.spec?.containers as Record<string, unknown>[] | undefined) ?? []).flatMap(
    (c) => (c.ports as Record<string, unknown>[] | undefined) ?? [],
  );
  const named = containers.find((p) => p.name === target);
  return typeof named?.containerPort === "number" ? named.containerPort : undefined;
}

/**
 * Turns manifests (Services, ServiceAccounts, Deployments) into what a cluster would hold:
 * Services with a fixed cluster IP and defaulted ports, one Pod per replica (template labels,
 * annotations and spec, a stable IP from the case's block, Running and Ready), and one
 * EndpointSlice per selecting Service (`kubernetes.io/service-name`, ports named as the
 * Service's, endpoints ready with `targetRef` → Pod). Deterministic: same input, same objects.
 *
 * @example
 * const p = derivePlatform(readYamlObjects("bookinfo.yaml"), { index: 3, namespace: "default" });
 * p.pods.map((x) => x.ip); // ["10.103.0.10", ...]
 */
export function derivePlatform(
  manifests: readonly KubeObject[],
  options: { readonly index: number; readonly namespace: string },
): Platform {
  const docs = manifests
    .filter((o) => PLATFORM_KINDS.has(String(o.kind)))
    .map((o) => withNamespace(o, options.namespace));
  const namespaces = new Set<string>([options.namespace]);
  for (const o of docs) if (o.kind !== "Node") namespaces.add(o.kind === "Namespace" ? nameOf(o) : nsOf(o));
  const objects: KubeObject[] = [];
  for (const ns of [...namespaces].sort()) {
    objects.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    // The pod admission needs the namespace's `default` account (no controller-manager makes it).
    objects.push({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: ns } });
  }
  const localities = new Map<string, NodeLocality>();
  for (const node of docs.filter((o) => o.kind === "Node")) {
    objects.push({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: nameOf(node), labels: { ...(node.metadata?.labels ?? {}) } },
    });
    const l = nodeLocality(node);
    if (l) localities.set(nameOf(node), l);
  }
  const seenAccounts = new Set([...namespaces].map((ns) => `${ns}/default`));
  for (const sa of docs.filter((o) => o.kind === "ServiceAccount")) {
    const key = `${nsOf(sa)}/${nameOf(sa)}`;
    if (seenAccounts.has(key)) continue;
    seenAccounts.add(key);
    objects.push({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: nameOf(sa), namespace: nsOf(sa) },
    });
  }

  const pods: PodInfo[] = [];
  for (const d of docs.filter((o) => o.kind === "Deployment")) {
    const template = (d.spec?.template ?? {}) as KubeObject;
    const replicas = typeof d.spec?.replicas === "number" ? d.spec.replicas : 1;
    for (let r = 0; r < replicas; r++) {
      const name = `${nameOf(d)}-${r}`;
      const ip = podIp(options.index, pods.length);
      const labels = { ...(template.metadata?.labels ?? {}) };
      const spec = clone(template.spec ?? {});
      if (typeof spec.nodeName !== "string" || spec.nodeName === "") spec.nodeName = PARITY_NODE_NAME;
      spec.automountServiceAccountToken = false;
      const annotations = template.metadata?.annotations as Record<string, string> | undefined;
      const pod: KubeObject = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          namespace: nsOf(d),
          labels,
          ...(annotations ? { annotations: clone(annotations) } : {}),
        },
        spec,
        ...syntheticPodStatus(ip),
      };
      pods.push({
        pod,
        name,
        namespace: nsOf(d),
        ip,
        labels,
        serviceAccount: String(spec.serviceAccountName ?? "default"),
        workload: nameOf(d),
        nodeName: String(spec.nodeName),
      });
    }
  }
  // Fixed timestamps: the same case gives byte-identical objects on every run.
  for (const p of pods) {
    const status = p.pod.status as Record<string, unknown>;
    status.startTime = "2026-01-01T00:00:00Z";
    for (const c of status.conditions as Record<string, unknown>[])
      c.lastTransitionTime = "2026-01-01T00:00:00Z";
  }
  objects.push(...pods.map((p) => p.pod));

  const services: KubeObject[] = [];
  for (const [k, s] of docs.filter((o) => o.kind === "Service").entries()) {
    const svc = clone(s);
    const spec = (svc.spec ?? {}) as Record<string, unknown>;
    svc.spec = spec;
    const ports = ((spec.ports as Record<string, unknown>[] | undefined) ?? []).map(
      (p): Record<string, unknown> => ({
        ...p,
        protocol: p.protocol ?? "TCP",
        targetPort: p.targetPort ?? p.port,
      }),
    );
    spec.ports = ports;
    spec.type ??= "ClusterIP";
    if (spec.type === "ClusterIP" && spec.clusterIP === undefined) {
      const ip = `${SERVICE_IP_PREFIX}.${1 + (options.index % 250)}.${10 + k}`;
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
    }
    services.push(svc);
    objects.push(svc);
    const selected = pods.filter(
      (p) => p.namespace === nsOf(svc) && matches(spec.selector as Record<string, string>, p.labels),
    );
    if (selected.length === 0 && !spec.selector) continue;
    const first = selected[0];
    objects.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${nameOf(svc)}-parity`,
        namespace: nsOf(svc),
        labels: {
          "kubernetes.io/service-name": nameOf(svc),
          "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        },
      },
      addressType: "IPv4",
      ports: ports.map((p) => ({
        name: typeof p.name === "string" ? p.name : "",
        port: (first ? resolveTargetPort(p, first.pod) : undefined) ?? Number(p.targetPort ?? p.port),
        protocol: p.protocol,
        ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
      })),
      endpoints: selected.map((p) => {
        // The endpointslice controller copies the node's zone label.
        const zone = localities.get(p.nodeName)?.zone;
        return {
          addresses: [p.ip],
          conditions: { ready: true, serving: true, terminating: false },
          nodeName: p.nodeName,
          ...(zone ? { zone } : {}),
          targetRef: { kind: "Pod", namespace: p.namespace, name: p.name },
        };
      }),
    });
  }
  return { objects, pods, services, localities };
}

/** Istio objects with the case namespace filled in where the manifest leaves it out (as `kubectl apply -n` does). */
function istioObjects(docs: readonly KubeObject[], namespace: string): KubeObject[] {
  return docs
    .filter((o) => ISTIO_GROUP.test(`${String(o.apiVersion)}/`) || String(o.apiVersion).includes("istio.io"))
    .map((o) => withNamespace(o, namespace));
}

/** `host:port` of every Service port and every ServiceEntry host:port a proxyless client could dial. */
function grpcTargets(platform: Platform, istio: readonly KubeObject[], limit = 16): string[] {
  const out = new Set<string>();
  for (const s of platform.services)
    for (const p of (s.spec?.ports as { port?: number }[] | undefined) ?? [])
      out.add(`${nameOf(s)}.${nsOf(s)}.${DOMAIN}:${p.port}`);
  for (const se of istio.filter((o) => o.kind === "ServiceEntry")) {
    const hosts = (se.spec?.hosts as string[] | undefined) ?? [];
    const ports = (se.spec?.ports as { number?: number }[] | undefined) ?? [];
    for (const h of hosts) if (!h.includes("*")) for (const p of ports) out.add(`${h}:${p.number}`);
  }
  return [...out].slice(0, limit);
}

/** The Envoy sidecar and the proxyless gRPC client of workload `client` (a Deployment name). */
function proxiesFor(
  platform: Platform,
  client: string,
  targets: readonly string[],
  kinds: readonly ("envoy" | "grpc")[] = ["envoy", "grpc"],
): ParityProxy[] {
  const pod = platform.pods.find((p) => p.workload === client);
  if (!pod)
    throw new MeshctlError(
      "XDS_PARITY_CASE_INVALID",
      `client workload ${client} is not a Deployment of the case`,
      {
        kind: "usage",
      },
    );
  const nodeId = `sidecar~${pod.ip}~${pod.name}.${pod.namespace}~${pod.namespace}.${DOMAIN}`;
  // Its Node's locality goes in the xDS Node too, as Istio's agent would send it (istiod reads
  // the pod's Node first; meshctl only sees what the proxy says).
  const locality = platform.localities.get(pod.nodeName);
  const base = {
    nodeId,
    namespace: pod.namespace,
    labels: pod.labels,
    serviceAccount: pod.serviceAccount,
    workloadName: pod.workload,
    ...(locality ? { locality } : {}),
  };
  return kinds.map((kind) =>
    kind === "envoy"
      ? { ...base, id: `${client}-sidecar`, kind }
      : { ...base, id: `${client}-grpc`, kind, targets: [...targets] },
  );
}

function kindsOf(docs: readonly KubeObject[]): string[] {
  return [...new Set(docs.map((d) => String(d.kind)))].sort();
}

/** Feature tags of Istio objects, by kind and top-level spec fields (for the support table). */
function featureTags(istio: readonly KubeObject[]): string[] {
  const tags = new Set<string>();
  for (const o of istio) {
    tags.add(String(o.kind));
    const spec = o.spec ?? {};
    for (const [k, v] of Object.entries(spec)) {
      if (k === "http" && Array.isArray(v))
        for (const route of v as Record<string, unknown>[])
          for (const f of Object.keys(route)) tags.add(`${o.kind}.http.${f}`);
      else tags.add(`${o.kind}.${k}`);
    }
  }
  return [...tags].sort();
}

interface CaseDraft {
  readonly name: string;
  readonly origin: ParityCaseOrigin;
  readonly description: string;
  readonly features?: readonly string[];
  readonly manifests: readonly KubeObject[];
  readonly istio: readonly KubeObject[];
  readonly namespace: string;
  readonly client: string;
  readonly proxyKinds?: readonly ("envoy" | "grpc")[];
  readonly targets?: readonly string[];
}

function finishCase(draft: CaseDraft, index: number): ParityCase {
  const platform = derivePlatform(draft.manifests, { index, namespace: draft.namespace });
  const istio = istioObjects(draft.istio, draft.namespace);
  const targets = draft.targets ?? grpcTargets(platform, istio);
  return {
    name: draft.name,
    origin: draft.origin,
    description: draft.description,
    features: draft.features ?? featureTags(istio),
    kubernetes: platform.objects,
    istio,
    proxies: proxiesFor(platform, draft.client, targets, draft.proxyKinds),
  };
}

// ---------------------------------------------------------------- Istio samples

/** `{host, subset}` pairs a manifest's VirtualServices route to (short host names as written). */
function subsetRefs(docs: readonly KubeObject[]): { host: string; subset: string }[] {
  const out: { host: string; subset: string }[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === "object") {
      const r = v as Record<string, unknown>;
      const d = r.destination as { host?: string; subset?: string } | undefined;
      if (d?.host && d.subset) out.push({ host: d.host.split(".")[0] as string, subset: d.subset });
      for (const x of Object.values(r)) walk(x);
    }
  };
  for (const d of docs) if (d.kind === "VirtualService") walk(d.spec);
  return out;
}

/** Bookinfo's platform variants a networking file needs for the subsets it routes to. */
function bookinfoPlatformFiles(refs: readonly { host: string; subset: string }[]): string[] {
  const files = ["bookinfo.yaml"];
  const has = (host: string, subset: string) => refs.some((r) => r.host === host && r.subset === subset);
  if (has("ratings", "v2")) files.push("bookinfo-ratings-v2.yaml", "bookinfo-db.yaml");
  if (has("ratings", "v2-mysql")) files.push("bookinfo-ratings-v2-mysql.yaml", "bookinfo-mysql.yaml");
  if (has("ratings", "v2-mysql-vm")) files.push("bookinfo-ratings-v2-mysql-vm.yaml");
  if (has("details", "v2")) files.push("bookinfo-details-v2.yaml");
  return files;
}

function sampleDrafts(module: IstioModule): CaseDraft[] {
  const samples = join(module.dir, "samples");
  const read = (...p: string[]) => readYamlObjects(join(samples, ...p));
  const drafts: CaseDraft[] = [];
  const bookinfoKube = (f: string) => read("bookinfo/platform/kube", f);
  const drAll = read("bookinfo/networking/destination-rule-all.yaml");

  drafts.push({
    name: "bookinfo-platform",
    origin: "istio-sample",
    description: "samples/bookinfo/platform/kube/bookinfo.yaml alone: Kubernetes services, no Istio config",
    features: ["Service", "EndpointSlice", "Pod"],
    manifests: bookinfoKube("bookinfo.yaml"),
    istio: [],
    namespace: "default",
    client: "productpage-v1",
  });
  const netDir = join(samples, "bookinfo/networking");
  for (const file of readdirSync(netDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()) {
    const docs = read("bookinfo/networking", file);
    const refs = subsetRefs(docs);
    const shortHost = (d: KubeObject) => String(d.spec?.host).split(".")[0] as string;
    const ownDrHosts = new Set(docs.filter((d) => d.kind === "DestinationRule").map(shortHost));
    // Subsets are defined by destination-rule-all.yaml, applied first in Istio's task docs.
    const needDr = new Set(refs.map((r) => r.host).filter((h) => !ownDrHosts.has(h)));
    const extraDr = drAll.filter((d) => needDr.has(shortHost(d)));
    const manifests = bookinfoPlatformFiles(refs).flatMap((f) => bookinfoKube(f));
    drafts.push({
      name: `bookinfo-${basename(file, ".yaml")}`,
      origin: "istio-sample",
      description: `samples/bookinfo/networking/${file} (${kindsOf(docs).join(", ")})${extraDr.length ? " + destination-rule-all.yaml subsets" : ""} on bookinfo`,
      manifests,
      istio: [...extraDr, ...docs],
      namespace: "default",
      client: "productpage-v1",
    });
  }

  const curl = read("curl/curl.yaml");
  for (const file of ["aptget.yaml", "github.yaml", "pypi.yaml"]) {
    if (!existsSync(join(samples, "external", file))) continue;
    const docs = read("external", file);
    drafts.push({
      name: `external-${basename(file, ".yaml")}`,
      origin: "istio-sample",
      description: `samples/external/${file} (${kindsOf(docs).join(", ")}) seen from curl`,
      manifests: curl,
      istio: docs,
      namespace: "default",
      client: "curl",
    });
  }
  for (const file of ["tcp-echo-all-v1.yaml", "tcp-echo-20-v2.yaml"]) {
    const docs = read("tcp-echo", file);
    drafts.push({
      name: basename(file, ".yaml"),
      origin: "istio-sample",
      description: `samples/tcp-echo/${file} (${kindsOf(docs).join(", ")}) on tcp-echo-services.yaml, seen from curl`,
      manifests: [...read("tcp-echo/tcp-echo-services.yaml"), ...curl],
      istio: docs,
      namespace: "default",
      client: "curl",
    });
  }
  const platformOnly: [string, string[], string][] = [
    ["helloworld", ["helloworld/helloworld.yaml"], "two versions behind one service"],
    ["httpbin", ["httpbin/httpbin.yaml"], "one service with a named targetPort"],
    ["grpc-echo", ["grpc-echo/grpc-echo.yaml"], "three ports, another namespace, grpc-agent pods"],
  ];
  for (const [name, files, why] of platformOnly) {
    if (!files.every((f) => existsSync(join(samples, f)))) continue;
    drafts.push({
      name,
      origin: "istio-sample",
      description: `samples/${files.join(", ")} seen from curl: ${why}`,
      features: ["Service", "EndpointSlice", "Pod"],
      manifests: [...files.flatMap((f) => read(f)), ...curl],
      istio: [],
      namespace: "default",
      client: "curl",
    });
  }
  if (existsSync(join(samples, "websockets/route.yaml")))
    drafts.push({
      name: "websockets-route",
      origin: "istio-sample",
      description: "samples/websockets/app.yaml + route.yaml (gateway-bound VirtualService) seen from curl",
      manifests: [...read("websockets/app.yaml"), ...curl],
      istio: read("websockets/route.yaml"),
      namespace: "default",
      client: "curl",
    });
  return drafts;
}

// ---------------------------------------------------------------- feature cases

/** Where the feature cases written by us live. */
export function defaultFeatureCasesDir(): string | undefined {
  const root = findRepoRoot();
  return root ? join(root, "packages/xds/parity/cases") : undefined;
}

interface CaseFile {
  description?: string;
  features?: string[];
  namespace?: string;
  /** The client Deployment whose proxies are compared. */
  client?: string;
  proxies?: ("envoy" | "grpc")[];
  /** Proxyless gRPC targets (`host:port`); default: every service port of the case. */
  grpcTargets?: string[];
}

function featureDraft(dir: string): CaseDraft {
  const name = basename(dir);
  const caseFile = join(dir, "case.yaml");
  const bad = (message: string) =>
    new MeshctlError("XDS_PARITY_CASE_INVALID", `${caseFile}: ${message}`, {
      kind: "usage",
      suggestions: ["See packages/xds/parity/cases/README.md for the case format."],
    });
  if (!existsSync(caseFile)) throw bad("missing");
  const meta = (parseAllDocuments(readFileSync(caseFile, "utf8"))[0]?.toJS() ?? {}) as CaseFile;
  if (typeof meta.description !== "string" || !meta.description) throw bad("description is required");
  if (!Array.isArray(meta.features) || meta.features.length === 0) throw bad("features is required");
  if (typeof meta.client !== "string")
    throw bad("client (the Deployment whose proxies are compared) is required");
  const docs = readdirSync(dir)
    .filter((f) => (f.endsWith(".yaml") || f.endsWith(".yml")) && f !== "case.yaml")
    .sort()
    .flatMap((f) => readYamlObjects(join(dir, f)));
  const namespace = meta.namespace ?? "default";
  return {
    name,
    origin: "feature",
    description: meta.description,
    features: meta.features,
    manifests: docs.filter((d) => !String(d.apiVersion).includes("istio.io")),
    istio: docs.filter((d) => String(d.apiVersion).includes("istio.io")),
    namespace,
    client: meta.client,
    ...(meta.proxies ? { proxyKinds: meta.proxies } : {}),
    ...(meta.grpcTargets ? { targets: meta.grpcTargets } : {}),
  };
}

export interface ParityCorpusOptions {
  /** The istio.io/istio module (locateIstioModule()); without it, no sample cases. */
  readonly istio?: IstioModule;
  /** Feature cases directory. Default packages/xds/parity/cases; `false`: none. */
  readonly featureCasesDir?: string | false;
  /** Keep only these case names (after building, so IP blocks do not depend on the filter). */
  readonly only?: readonly string[];
}

/**
 * Builds the corpus: Istio's samples first, then the feature cases, each with its own pod IP
 * block. Throws `XDS_PARITY_CASE_INVALID` (usage) for a broken feature case or an unknown name
 * in `only`.
 *
 * @example
 * const cases = buildParityCorpus({ istio: await locateIstioModule(), only: ["bookinfo-virtual-service-reviews-v3"] });
 */
export function buildParityCorpus(options: ParityCorpusOptions = {}): ParityCase[] {
  const drafts: CaseDraft[] = options.istio ? sampleDrafts(options.istio) : [];
  const dir =
    options.featureCasesDir === false ? undefined : (options.featureCasesDir ?? defaultFeatureCasesDir());
  if (dir && existsSync(dir))
    for (const entry of readdirSync(dir).sort()) {
      const d = join(dir, entry);
      if (statSync(d).isDirectory()) drafts.push(featureDraft(d));
    }
  const cases = drafts.map((d, i) => finishCase(d, i));
  if (!options.only || options.only.length === 0) return cases;
  const unknown = options.only.filter((n) => !cases.some((c) => c.name === n));
  if (unknown.length > 0)
    throw new MeshctlError("XDS_PARITY_CASE_INVALID", `Unknown parity case: ${unknown.join(", ")}.`, {
      kind: "usage",
      suggestions: [`Known cases: ${cases.map((c) => c.name).join(", ")}`],
    });
  return cases.filter((c) => options.only?.includes(c.name));
}
