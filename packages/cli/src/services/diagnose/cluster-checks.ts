import type {
  CaptureSettings,
  ClusterDiagnoseOptions,
  ClusterFactError,
  ClusterFacts,
  IstioCrdFact,
  NamespaceFact,
  PodFact,
  ProxySyncFact,
  SidecarResourceFact,
  TypeSyncFact,
  WorkloadFact,
} from "@meshctl/kube";
import { checkFactory } from "./check.js";
import type { Check, CheckGroup, CheckStatus } from "./types.js";

const check = checkFactory("cluster");

/** An un-ACKed push older than this is stale (younger ones are in flight). */
export const DEFAULT_STALE_AFTER_MS = 10_000;
/** meshctl install applies its objects by server-side apply, GA in Kubernetes 1.22. */
const MIN_KUBERNETES_MINOR = 22;
const MAX_EVIDENCE_LINES = 20;

export interface ClusterCheckOptions {
  /** How long a proxy may leave a push un-ACKed before it counts as stale. */
  readonly staleAfterMs?: number;
}

function limit(lines: readonly string[]): string[] {
  if (lines.length <= MAX_EVIDENCE_LINES) return [...lines];
  return [...lines.slice(0, MAX_EVIDENCE_LINES - 1), `... and ${lines.length - MAX_EVIDENCE_LINES + 1} more`];
}

function worst(statuses: readonly CheckStatus[]): CheckStatus {
  return statuses.includes("fail") ? "fail" : statuses.includes("warn") ? "warn" : "ok";
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** A check for a fact that could not be gathered: RBAC refusals name what was refused. */
function factFailure(
  name: string,
  what: string,
  e: ClusterFactError,
  facts: ClusterFacts,
  status: CheckStatus = "fail",
): Check {
  const who = facts.target.user ? `user ${facts.target.user}` : "this kubeconfig's user";
  if (e.code === "KUBE_FORBIDDEN") {
    return check(
      name,
      status,
      `RBAC refused to ${e.request}, so ${what} cannot be checked`,
      [`${e.request}: HTTP 403: ${e.message}`],
      `Grant ${who} read access for: ${e.request} (diagnose only gets and lists), or use a kubeconfig that has it.`,
    );
  }
  return check(
    name,
    status,
    `${what[0]?.toUpperCase()}${what.slice(1)} cannot be checked: ${e.message}`,
    [`${e.request}: ${e.httpStatus !== null ? `HTTP ${e.httpStatus}: ` : ""}${e.code}: ${e.message}`],
    "Run with --verbose and retry; if it persists, check the API server's health (kubectl get --raw /readyz).",
  );
}

// ---------------------------------------------------------------- API server

function apiCheck(f: ClusterFacts): Check {
  const where = [
    ...(f.target.kubeconfig ? [`kubeconfig ${f.target.kubeconfig}`] : []),
    ...(f.target.context ? [`context ${f.target.context}`] : []),
    ...(f.target.user ? [`user ${f.target.user}`] : []),
  ];
  if (f.api.ok) {
    const v = f.api.value;
    const minor = Number.parseInt(v.minor, 10);
    const evidence = [`GET ${v.server}/version: ${v.gitVersion} (${v.platform})`, ...where];
    if (v.major === "1" && Number.isFinite(minor) && minor < MIN_KUBERNETES_MINOR) {
      return check(
        "api",
        "warn",
        `Kubernetes API at ${v.server} answers, but ${v.gitVersion} is older than 1.${MIN_KUBERNETES_MINOR}`,
        evidence,
        `meshctl install uses server-side apply (GA in 1.${MIN_KUBERNETES_MINOR}); upgrade the cluster.`,
      );
    }
    return check("api", "ok", `Kubernetes API at ${v.server} answers: ${v.gitVersion}`, evidence);
  }
  const e = f.api.error;
  const server = f.target.server ?? "the API server";
  const evidence = [
    `${e.request}: ${e.httpStatus !== null ? `HTTP ${e.httpStatus}: ` : ""}${e.message}`,
    ...where,
  ];
  switch (e.code) {
    case "KUBE_FORBIDDEN":
      return check(
        "api",
        "warn",
        `Kubernetes API at ${server} answers, but RBAC refused to tell its version`,
        evidence,
        "Grant get on the non-resource URL /version (the default system:public-info-viewer role).",
      );
    case "KUBE_CONFIG_INVALID":
    case "KUBE_CONTEXT_UNKNOWN":
      return check(
        "api",
        "fail",
        "The kubeconfig cannot be used; the other cluster checks were skipped",
        evidence,
        "Pass --kubeconfig PATH of a valid kubeconfig (and --context NAME when it has several).",
      );
    case "KUBE_UNREACHABLE":
    case "KUBE_TIMEOUT":
      return check(
        "api",
        "fail",
        `The Kubernetes API server at ${server} is not reachable; the other cluster checks were skipped`,
        evidence,
        "Check that the cluster runs and is reachable from here (VPN, firewall, proxy), and that the kubeconfig's server address and CA are current.",
      );
    default:
      return check(
        "api",
        "fail",
        e.httpStatus === 401
          ? `The API server at ${server} rejected the credentials; the other cluster checks were skipped`
          : `The API server at ${server} failed: ${e.message}; the other cluster checks were skipped`,
        evidence,
        e.httpStatus === 401
          ? "Refresh the kubeconfig's credentials (an expired token or certificate), e.g. with your cloud CLI's get-credentials."
          : "Check the API server's health (kubectl get --raw /readyz) and retry.",
      );
  }
}

// ---------------------------------------------------------------- Istio CRDs

function crdLine(c: IstioCrdFact): string {
  if (!c.present) return `${c.name}: missing`;
  return `${c.name}: served ${c.servedVersions.join(", ") || "none"}${c.storageVersion ? ` (storage ${c.storageVersion})` : ""}${c.established ? "" : ", not Established"}`;
}

function crdCheck(f: ClusterFacts): Check | undefined {
  if (!f.crds) return undefined;
  if (!f.crds.ok) return factFailure("istio-crds", "Istio's CRDs", f.crds.error, f);
  const crds = f.crds.value;
  const evidence = crds.map(crdLine);
  const missing = crds.filter((c) => !c.present);
  if (missing.length > 0) {
    return check(
      "istio-crds",
      "fail",
      `Istio CRDs missing: ${missing.map((c) => c.kind).join(", ")}; the control plane cannot read them`,
      evidence,
      "Install Istio's CRDs (istioctl install, or the istio/base Helm chart), or let meshctl apply minimal ones (meshctl install --install-crds).",
    );
  }
  const unestablished = crds.filter((c) => !c.established);
  if (unestablished.length > 0) {
    return check(
      "istio-crds",
      "fail",
      `Istio CRDs not served yet: ${unestablished.map((c) => c.kind).join(", ")}`,
      evidence,
      `Look at the CRD's conditions: kubectl describe crd ${unestablished[0]?.name}.`,
    );
  }
  const noV1 = crds.filter((c) => !c.servedVersions.includes("v1"));
  if (noV1.length > 0) {
    return check(
      "istio-crds",
      "warn",
      `Istio CRDs that do not serve networking.istio.io/v1: ${noV1.map((c) => c.kind).join(", ")}`,
      evidence,
      "Upgrade Istio's CRDs (v1 is served since Istio 1.22); objects written as v1 are rejected until then.",
    );
  }
  return check(
    "istio-crds",
    "ok",
    `All ${crds.length} Istio networking CRDs are installed and serve v1`,
    evidence,
  );
}

// ---------------------------------------------------------------- meshctl components

function workloadState(w: WorkloadFact): { status: CheckStatus; line: string } {
  const ref = `${w.kind} ${w.namespace}/${w.name}${w.component ? ` (${w.component})` : ""}`;
  const failing = w.conditions
    .filter((c) => c.status === "False" && (c.type === "Available" || c.type === "Progressing"))
    .map((c) => `${c.type}=False${c.reason ? ` ${c.reason}` : ""}${c.message ? `: ${c.message}` : ""}`);
  const extra = failing.length > 0 ? `; ${failing.join("; ")}` : "";
  if (w.observedGeneration === null)
    return {
      status: "fail",
      line: `${ref}: no status: no controller has processed it (is kube-controller-manager running?)`,
    };
  if (w.observedGeneration < w.generation)
    return {
      status: "fail",
      line: `${ref}: rollout not observed yet (generation ${w.generation}, observed ${w.observedGeneration})${extra}`,
    };
  if (w.kind === "DaemonSet" && w.desired === 0)
    return {
      status: "warn",
      line: `${ref}: scheduled on no node (node selector, taints, or no nodes)${extra}`,
    };
  const head = `${ref}: ${w.ready}/${w.desired} ready`;
  if (w.ready < w.desired || w.available < w.desired) return { status: "fail", line: `${head}${extra}` };
  if (w.updated < w.desired)
    return { status: "warn", line: `${head}, ${w.updated}/${w.desired} updated (rolling out)` };
  return { status: "ok", line: head };
}

function componentsCheck(f: ClusterFacts): Check | undefined {
  if (!f.components) return undefined;
  if (!f.components.ok) return factFailure("components", "meshctl's components", f.components.error, f);
  const c = f.components.value;
  if (c.workloads.length === 0) {
    return check(
      "components",
      "warn",
      "meshctl is not installed in this cluster",
      [`no Deployment or DaemonSet labelled ${c.selector} in ${c.searched}`],
      "Install it: meshctl install --kubeconfig PATH.",
    );
  }
  const states = c.workloads.map(workloadState);
  const evidence = [
    ...states.map((s) => s.line),
    ...c.services.map(
      (s) =>
        `Service ${s.namespace}/${s.name}: ports ${s.ports.map((p) => `${p.name ?? "-"}/${p.port}`).join(", ")}`,
    ),
  ];
  const hasControlPlane = c.workloads.some((w) => w.kind === "Deployment");
  const status = worst([...states.map((s) => s.status), hasControlPlane ? "ok" : "warn"]);
  const notReady = states.filter((s) => s.status !== "ok").length;
  if (status === "ok")
    return check(
      "components",
      "ok",
      `meshctl is installed and ready (${plural(c.workloads.length, "workload")})`,
      evidence,
    );
  const first = c.workloads[states.findIndex((s) => s.status !== "ok")] ?? c.workloads[0];
  return check(
    "components",
    status,
    notReady > 0
      ? `${notReady} of ${plural(c.workloads.length, "meshctl workload")} not ready`
      : "meshctl is installed without its control plane Deployment",
    hasControlPlane ? evidence : [...evidence, "no control plane Deployment found"],
    notReady > 0 && first
      ? `Look at why: kubectl -n ${first.namespace} describe ${first.kind.toLowerCase()} ${first.name}, and its pods (kubectl -n ${first.namespace} get pods -l ${c.selector}).`
      : "Re-run meshctl install with the xds component.",
  );
}

// ---------------------------------------------------------------- namespaces and pods

type PodKind = "sidecar" | "proxyless" | "none";

function podKind(p: PodFact): PodKind {
  if ((p.injectTemplates ?? "").includes("grpc") || (p.proxylessBootstrap !== null && p.sidecar === null))
    return "proxyless";
  return p.sidecar !== null ? "sidecar" : "none";
}

interface Injection {
  readonly enabled: boolean;
  readonly text: string;
  readonly conflict: boolean;
}

function injectionOf(ns: NamespaceFact): Injection {
  const legacy = ns.labels["istio-injection"];
  const rev = ns.labels["istio.io/rev"];
  const conflict = legacy !== undefined && rev !== undefined;
  if (legacy === "enabled")
    return { enabled: true, text: "injection enabled (istio-injection=enabled)", conflict };
  if (legacy !== undefined)
    return { enabled: false, text: `injection off (istio-injection=${legacy})`, conflict };
  if (rev !== undefined)
    return { enabled: true, text: `injection by revision ${rev} (istio.io/rev=${rev})`, conflict };
  return { enabled: false, text: "no injection label", conflict };
}

function podLine(p: PodFact): string {
  const kind = podKind(p);
  const phase = p.phase === "Running" ? "" : ` [${p.phase}]`;
  if (kind === "proxyless")
    return `${p.name}${phase}: proxyless gRPC (${p.proxylessBootstrap ?? `inject.istio.io/templates=${p.injectTemplates}`})`;
  if (kind === "sidecar")
    return `${p.name}${phase}: istio-proxy${p.sidecar?.native ? " (native sidecar)" : ""}`;
  return `${p.name}${phase}: no proxy${p.injectOverride === "false" ? " (sidecar.istio.io/inject=false)" : ""}`;
}

function podCounts(pods: readonly PodFact[]): string {
  const n = (k: PodKind) => pods.filter((p) => podKind(p) === k).length;
  return `${plural(pods.length, "pod")}: ${n("sidecar")} with istio-proxy, ${n("proxyless")} proxyless gRPC, ${n("none")} without`;
}

interface MeshNamespace {
  readonly ns: NamespaceFact;
  readonly injection: Injection;
  readonly pods: readonly PodFact[];
  readonly inMesh: boolean;
}

function meshNamespaces(f: ClusterFacts): MeshNamespace[] {
  if (!f.namespaces?.ok) return [];
  const pods = f.pods?.ok ? f.pods.value : [];
  return f.namespaces.value.map((ns) => {
    const inNs = pods.filter((p) => p.namespace === ns.name);
    const injection = injectionOf(ns);
    return {
      ns,
      injection,
      pods: inNs,
      inMesh: injection.enabled || inNs.some((p) => podKind(p) !== "none"),
    };
  });
}

function namespacesCheck(f: ClusterFacts, all: readonly MeshNamespace[]): Check | undefined {
  if (!f.namespaces) return undefined;
  if (!f.namespaces.ok) {
    const e = f.namespaces.error;
    if (e.httpStatus === 404 && f.namespace !== null)
      return check(
        "namespaces",
        "fail",
        `Namespace ${f.namespace} does not exist`,
        [`${e.request}: ${e.message}`],
        "Check the name: kubectl get namespaces.",
      );
    return factFailure("namespaces", "the namespaces", e, f);
  }
  if (f.namespace !== null) return undefined; // one namespace: its own checks say it all
  const mesh = all.filter((m) => m.inMesh);
  const evidence = [
    ...mesh.map((m) => `${m.ns.name}: ${m.injection.text}; ${podCounts(m.pods)}`),
    `${plural(all.length - mesh.length, "namespace")} not in the mesh`,
  ];
  if (mesh.length === 0) {
    return check(
      "namespaces",
      "warn",
      "No namespace is in the mesh (no injection label, no pod with a proxy or a proxyless bootstrap)",
      evidence,
      "Label the namespaces of your workloads (kubectl label namespace NAME istio-injection=enabled), then restart their workloads.",
    );
  }
  return check(
    "namespaces",
    "ok",
    `${plural(mesh.length, "namespace")} in the mesh: ${mesh.map((m) => m.ns.name).join(", ")}`,
    limit(evidence),
  );
}

function injectionCheck(f: ClusterFacts, m: MeshNamespace): Check {
  const name = `injection.${m.ns.name}`;
  if (f.pods && !f.pods.ok) return factFailure(name, `the pods of ${m.ns.name}`, f.pods.error, f);
  const evidence = [`namespace ${m.ns.name}: ${m.injection.text}`, podCounts(m.pods), ...m.pods.map(podLine)];
  if (m.ns.phase === "Terminating")
    return check(
      name,
      "warn",
      `Namespace ${m.ns.name} is being deleted`,
      limit(evidence),
      "Nothing to do unless it is stuck: kubectl get namespace NAME -o yaml shows what blocks it.",
    );
  if (!m.inMesh)
    return check(
      name,
      "warn",
      `Namespace ${m.ns.name} is not in the mesh: no injection label and no pod with a proxy`,
      limit(evidence),
      `Label it (kubectl label namespace ${m.ns.name} istio-injection=enabled) and restart its workloads.`,
    );
  const missing = m.injection.enabled
    ? m.pods.filter((p) => podKind(p) === "none" && p.injectOverride !== "false")
    : [];
  if (missing.length > 0)
    return check(
      name,
      "warn",
      `${m.ns.name}: ${plural(missing.length, "pod")} without a sidecar although injection is enabled`,
      limit(evidence),
      `They were created before the label or while the injector was down: restart them (kubectl -n ${m.ns.name} rollout restart deployment), and check the injection webhook is running.`,
    );
  if (m.injection.conflict)
    return check(
      name,
      "warn",
      `${m.ns.name}: both istio-injection and istio.io/rev are set; istio-injection wins`,
      limit(evidence),
      `Keep one: kubectl label namespace ${m.ns.name} istio-injection- (to use the revision).`,
    );
  return check(name, "ok", `${m.ns.name}: ${m.injection.text}; ${podCounts(m.pods)}`, limit(evidence));
}

function captureState(c: CaptureSettings | null, cni: boolean): { status: CheckStatus; text: string } {
  if (cni) return { status: "ok", text: "captured by istio-cni (istio-validation init container)" };
  if (!c) return { status: "fail", text: "no istio-init: traffic is not redirected to the sidecar" };
  const caps = c.capabilities;
  const settings = `istio-iptables -p ${c.outboundPort ?? "?"} -z ${c.inboundPort ?? "?"} -i '${c.outboundCidrs ?? ""}' -b '${c.inboundPorts ?? ""}' -m ${c.mode ?? "REDIRECT"}`;
  if (!caps.includes("privileged") && !caps.includes("NET_ADMIN"))
    return { status: "fail", text: `${settings}; without NET_ADMIN iptables fails and the pod never starts` };
  const gaps = [
    !c.outboundCidrs && "outbound not captured (-i empty)",
    !c.inboundPorts && "inbound not captured (-b empty)",
  ].filter((x): x is string => Boolean(x));
  if (gaps.length > 0) return { status: "warn", text: `${settings}; ${gaps.join(", ")}` };
  return { status: "ok", text: settings };
}

function captureCheck(m: MeshNamespace): Check | undefined {
  const sidecars = m.pods.filter((p) => podKind(p) === "sidecar");
  if (sidecars.length === 0) return undefined;
  const name = `capture.${m.ns.name}`;
  const states = sidecars.map((p) => ({ pod: p, ...captureState(p.istioInit, p.cniValidation) }));
  const evidence = limit(states.map((s) => `${s.pod.name}: ${s.text}`));
  const bad = states.filter((s) => s.status !== "ok");
  const status = worst(states.map((s) => s.status));
  if (status === "ok")
    return check(
      name,
      "ok",
      `${m.ns.name}: istio-init capture present in ${plural(sidecars.length, "sidecar pod")}`,
      evidence,
    );
  return check(
    name,
    status,
    `${m.ns.name}: ${bad.length} of ${plural(sidecars.length, "sidecar pod")} without full traffic capture`,
    evidence,
    status === "fail"
      ? `Re-create them through the injector (kubectl -n ${m.ns.name} rollout restart deployment); with istio-cni, check its node DaemonSet.`
      : "Check the traffic.sidecar.istio.io/* annotations of these pods: capture is narrowed on purpose only if they say so.",
  );
}

function labelsMatch(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The Sidecar that applies to a proxy, by Istio's precedence: selector match, namespace default, root default. */
function effectiveSidecar(
  sidecars: readonly SidecarResourceFact[],
  namespace: string,
  labels: Readonly<Record<string, string>> | null,
  root: string,
): SidecarResourceFact | undefined {
  const inNs = sidecars.filter((s) => s.namespace === namespace);
  return (
    (labels ? inNs.find((s) => s.workloadSelector && labelsMatch(s.workloadSelector, labels)) : undefined) ??
    inNs.find((s) => !s.workloadSelector) ??
    sidecars.find((s) => s.namespace === root && !s.workloadSelector)
  );
}

function scopesEverything(s: SidecarResourceFact | undefined): boolean {
  return !s || s.egressHosts.length === 0 || s.egressHosts.includes("*/*");
}

function scopingCheck(f: ClusterFacts, m: MeshNamespace): Check | undefined {
  if (!m.inMesh || !f.sidecars) return undefined;
  const name = `scoping.${m.ns.name}`;
  if (!f.sidecars.ok) {
    const e = f.sidecars.error;
    if (e.httpStatus === 404)
      return check(
        name,
        "warn",
        `${m.ns.name}: Sidecar scoping cannot be checked: ${e.message}`,
        [`${e.request}: ${e.message}`],
        "Install the Sidecar CRD (see cluster.istio-crds).",
      );
    return factFailure(name, `Sidecar scoping of ${m.ns.name}`, e, f, "warn");
  }
  const sidecars = f.sidecars.value;
  const root = f.rootNamespace;
  const meshPods = m.pods.filter((p) => podKind(p) !== "none");
  const subjects: { who: string; labels: Readonly<Record<string, string>> | null }[] =
    meshPods.length > 0
      ? meshPods.map((p) => ({ who: p.name, labels: p.labels }))
      : [{ who: "namespace default", labels: null }];
  const lines: string[] = [];
  let whole = 0;
  for (const s of subjects) {
    const sc = effectiveSidecar(sidecars, m.ns.name, s.labels, root);
    const everything = scopesEverything(sc);
    if (everything) whole++;
    lines.push(
      sc
        ? `${s.who}: Sidecar ${sc.namespace}/${sc.name} (egress ${sc.egressHosts.join(", ") || "none"})${everything ? ": whole mesh" : ""}`
        : `${s.who}: no Sidecar in ${m.ns.name} or ${root}: whole mesh`,
    );
  }
  const inNs = sidecars
    .filter((s) => s.namespace === m.ns.name)
    .map((s) => `${s.name}${s.workloadSelector ? " (selector)" : ""}`);
  const evidence = limit([
    `Sidecars in ${m.ns.name}: ${inNs.join(", ") || "none"}; mesh-wide default in ${root}: ${sidecars.find((s) => s.namespace === root && !s.workloadSelector)?.name ?? "none"}`,
    ...lines,
  ]);
  if (whole === 0) return check(name, "ok", `${m.ns.name}: every proxy is scoped by a Sidecar`, evidence);
  return check(
    name,
    "warn",
    meshPods.length > 0
      ? `${m.ns.name}: ${whole} of ${plural(subjects.length, "proxy", "proxies")} would receive the whole mesh (no Sidecar scoping)`
      : `${m.ns.name}: proxies would receive the whole mesh (no Sidecar scoping)`,
    evidence,
    `Add a Sidecar to ${m.ns.name} whose egress lists only what its workloads call, e.g. hosts ["./*", "${root}/*"] (or a mesh-wide default Sidecar in ${root}); every config push then shrinks to that.`,
  );
}

// ---------------------------------------------------------------- control plane and sync

type SyncState = "synced" | "pending" | "stale" | "nacked";

function ageMs(now: string, at: string | null): number {
  if (!at) return 0;
  return Date.parse(now) - Date.parse(at);
}

function typeState(t: TypeSyncFact, now: string, staleAfterMs: number): SyncState {
  // A NACK is current while nothing newer was sent: the control plane holds the rejected content.
  if (t.lastNackAt && (!t.lastSentAt || Date.parse(t.lastNackAt) >= Date.parse(t.lastSentAt)))
    return "nacked";
  if (t.lastVersionSent !== null && t.ackedVersion !== t.lastVersionSent)
    return ageMs(now, t.lastSentAt) > staleAfterMs ? "stale" : "pending";
  return "synced";
}

function proxyState(p: ProxySyncFact, now: string, staleAfterMs: number): { state: SyncState; line: string } {
  const kinds = Object.keys(p.types).sort();
  const states = kinds.map((k) => ({
    kind: k.toUpperCase(),
    t: p.types[k] as TypeSyncFact,
    s: typeState(p.types[k] as TypeSyncFact, now, staleAfterMs),
  }));
  const nacked = states.filter((x) => x.s === "nacked");
  if (nacked.length > 0)
    return {
      state: "nacked",
      line: `${p.nodeId}: NACKed ${nacked
        .map((x) => `${x.kind} (keeps version ${x.t.nackedVersion || "none"}): ${x.t.lastNackError ?? ""}`)
        .join("; ")}`,
    };
  const stale = states.filter((x) => x.s === "stale");
  if (stale.length > 0)
    return {
      state: "stale",
      line: `${p.nodeId}: stale: ${stale
        .map(
          (x) =>
            `${x.kind} ${x.t.lastVersionSent} sent ${Math.round(ageMs(now, x.t.lastSentAt) / 1000)}s ago, ACKed ${x.t.ackedVersion ?? "none"}`,
        )
        .join("; ")}`,
    };
  const pending = states.filter((x) => x.s === "pending");
  const versions = [...new Set(states.map((x) => x.t.ackedVersion ?? "-"))].join(", ");
  const skipped = [...new Set((p.skippedFilters ?? []).map((f) => f.name))];
  // Synced, but without filters it cannot run (e.g. Istio's stats on a stock Envoy): say which.
  const lacking = skipped.length > 0 ? `; not sent, the proxy lacks them: ${skipped.join(", ")}` : "";
  return {
    state: pending.length > 0 ? "pending" : "synced",
    line:
      kinds.length === 0
        ? `${p.nodeId}: connected, nothing subscribed yet${lacking}`
        : `${p.nodeId}: synced ${states.map((x) => x.kind).join(", ")} at ${versions}${pending.length > 0 ? ` (ACK pending for ${pending.map((x) => x.kind).join(", ")})` : ""}${lacking}`,
  };
}

function connectedKeys(proxies: readonly ProxySyncFact[]): Set<string> {
  const keys = new Set<string>();
  for (const p of proxies) {
    // Istio node ids: TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local
    const [, ip, podDotNs] = p.nodeId.split("~");
    if (ip) keys.add(ip);
    if (podDotNs) keys.add(podDotNs);
  }
  return keys;
}

function controlPlaneCheck(f: ClusterFacts, options: Required<ClusterCheckOptions>): Check[] {
  const cp = f.controlPlane;
  if (!cp) return [];
  const portForward =
    "Pass --control-plane URL of its debug endpoint, e.g. after kubectl -n meshctl-system port-forward deploy/meshctl-xds 15014:15014, --control-plane http://127.0.0.1:15014.";
  if (cp.source === "none")
    return [
      check(
        "control-plane",
        "warn",
        "Proxy sync state not checked: no control plane to ask",
        [cp.reason],
        portForward,
      ),
    ];
  if (!cp.sync.ok) {
    const e = cp.sync.error;
    if (e.code === "KUBE_FORBIDDEN")
      return [factFailure("control-plane", "the control plane's sync state", e, f)];
    return [
      check(
        "control-plane",
        "fail",
        `The control plane at ${cp.endpoint} does not answer`,
        [`${e.request}: ${e.httpStatus !== null ? `HTTP ${e.httpStatus}: ` : ""}${e.message}`],
        cp.source === "flag"
          ? "Check the URL is the control plane's debug endpoint (meshctl xds serve --debug-port) and reachable from here."
          : `Check that its pods are ready (see cluster.components). ${portForward}`,
      ),
    ];
  }
  const { now, proxies } = cp.sync.value;
  const scoped = f.namespace === null ? proxies : proxies.filter((p) => p.namespace === f.namespace);
  const evidence = [
    `${cp.source === "flag" ? "--control-plane" : "service proxy"} ${cp.endpoint}: ${plural(proxies.length, "connected proxy", "connected proxies")}`,
  ];
  // Mesh pods that run but are absent from the control plane's clients.
  const keys = connectedKeys(proxies);
  const pods = f.pods?.ok ? f.pods.value : [];
  const absent = pods.filter(
    (p) =>
      p.ready &&
      podKind(p) !== "none" &&
      !keys.has(`${p.name}.${p.namespace}`) &&
      !(p.podIp && keys.has(p.podIp)),
  );
  const checks: Check[] = [];
  checks.push(
    absent.length === 0
      ? check(
          "control-plane",
          "ok",
          `Control plane at ${cp.endpoint}: ${plural(scoped.length, "connected proxy", "connected proxies")}`,
          evidence,
        )
      : check(
          "control-plane",
          "warn",
          `${plural(absent.length, "running mesh pod")} not connected to the control plane at ${cp.endpoint}`,
          limit([...evidence, ...absent.map((p) => `${p.namespace}/${p.name}: ready, no ADS stream`)]),
          "Check the proxies' logs for xDS connection errors (address, TLS) and that they point at this control plane.",
        ),
  );
  const byNs = new Map<string, ProxySyncFact[]>();
  for (const p of scoped)
    byNs.set(p.namespace || "unknown", [...(byNs.get(p.namespace || "unknown") ?? []), p]);
  for (const [ns, list] of [...byNs.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const states = list.map((p) => proxyState(p, now, options.staleAfterMs));
    const count = (s: SyncState) => states.filter((x) => x.state === s).length;
    const summary = `${ns}: ${plural(list.length, "proxy", "proxies")}: ${count("synced") + count("pending")} synced, ${count("stale")} stale, ${count("nacked")} NACKed`;
    const evidence = limit(states.map((s) => s.line));
    const firstNack = list.find((_, i) => states[i]?.state === "nacked");
    if (count("nacked") > 0)
      checks.push(
        check(
          `sync.${ns}`,
          "fail",
          summary,
          evidence,
          `A NACKing proxy rejected its config and keeps running the last one it accepted. Fix what the message names; meshctl xds config-dump --node-id ${firstNack?.nodeId ?? "ID"} shows what was sent.`,
        ),
      );
    else if (count("stale") > 0)
      checks.push(
        check(
          `sync.${ns}`,
          "warn",
          summary,
          evidence,
          "A stale proxy has not acknowledged the latest push: check it is alive and not overloaded (its logs, CPU); restarting it re-syncs it.",
        ),
      );
    else checks.push(check(`sync.${ns}`, "ok", summary, evidence));
  }
  return checks;
}

/**
 * Pure evaluation of the cluster facts into the `cluster` group's checks: API server, Istio CRDs,
 * meshctl components, namespaces (injection, pods, istio-init capture, Sidecar scoping), the
 * control plane and the sync state of its proxies.
 *
 * @example
 * const checks = evaluateClusterChecks(await gatherClusterFacts({ kubeconfig }), { staleAfterMs: 10_000 });
 */
export function evaluateClusterChecks(f: ClusterFacts, options: ClusterCheckOptions = {}): Check[] {
  const opts = { staleAfterMs: options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS };
  const checks: Check[] = [apiCheck(f)];
  const push = (c: Check | undefined) => {
    if (c) checks.push(c);
  };
  push(crdCheck(f));
  push(componentsCheck(f));
  checks.push(...controlPlaneCheck(f, opts));
  const all = meshNamespaces(f);
  push(namespacesCheck(f, all));
  const shown =
    f.namespace !== null ? all.filter((m) => m.ns.name === f.namespace) : all.filter((m) => m.inMesh);
  for (const m of shown) {
    push(injectionCheck(f, m));
    push(captureCheck(m));
    push(scopingCheck(f, m));
  }
  return checks;
}

/** Options of the cluster group: where the cluster is, and how to judge sync. */
export type ClusterGroupOptions = ClusterDiagnoseOptions & ClusterCheckOptions;

/** The cluster check group (`meshctl diagnose --kubeconfig`): gathers facts, then evaluates them. */
export function clusterCheckGroup(options: ClusterGroupOptions): CheckGroup {
  return {
    name: "cluster",
    async run() {
      const { gatherClusterFacts } = await import("@meshctl/kube");
      const { staleAfterMs, ...gather } = options;
      return evaluateClusterChecks(
        await gatherClusterFacts(gather),
        staleAfterMs === undefined ? {} : { staleAfterMs },
      );
    },
  };
}
