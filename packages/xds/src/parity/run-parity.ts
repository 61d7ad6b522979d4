/**
 * The parity runner (issue 18): serves every corpus case with istiod (Istio kinds from its
 * watched fs config source, Kubernetes objects through the loopback API server) and with meshctl
 * (every object as YAML in its watched directory), both started once, and fetches what each
 * sends every proxy of the case over ADS. The comparison of the two snapshots is compare.ts's.
 */
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MeshctlError } from "@meshctl/core";
import { stringify } from "yaml";
import { KubeApiWriter, kubeCollectionPath } from "../load/kube-api.js";
import { findRepoRoot } from "../load/target.js";
import { IstiodTarget, type KubeHandle } from "../load/target-istiod.js";
import { SUPPORTED_KINDS } from "../model/parse-documents.js";
import { startXdsServer, type XdsServerHandle } from "../server/start.js";
import { compareCase } from "./compare.js";
import { buildParityCorpus, parityPodBlock } from "./corpus.js";
import { type FetchedSnapshot, fetchParitySnapshot } from "./fetch.js";
import { locateIstioModule, pinnedIstioVersion } from "./istio-samples.js";
import { buildReport } from "./report.js";
import type { ConfigSnapshot, ParityCase, ParityCaseResult, ParityProxy, ParityReport } from "./types.js";

export type ParityServer = "istiod" | "meshctl";

export interface ParityRunOptions {
  /** The cases to run; default: the whole corpus (Istio samples + feature cases). */
  readonly cases?: readonly ParityCase[];
  /** Keep only these case names (ignored when `cases` is given). */
  readonly only?: readonly string[];
  /** Bound on one case: applying it, both servers settling and every fetch (ms). Default 60,000. */
  readonly caseTimeoutMs?: number;
  /** Bound on one fetch of one proxy (ms). Default 20,000. */
  readonly fetchTimeoutMs?: number;
  /** Write every snapshot as DIR/<case>/<proxy>.<server>.json as soon as the case is done. */
  readonly dumpDir?: string;
  /** Stops between cases (and bounds nothing else: every step has its own bound). */
  readonly signal?: AbortSignal;
}

export type ParityProgress =
  | { readonly type: "starting"; readonly what: string }
  | { readonly type: "case-start"; readonly name: string; readonly index: number; readonly total: number }
  | {
      readonly type: "case-done";
      readonly name: string;
      readonly index: number;
      readonly total: number;
      readonly durationMs: number;
      readonly error?: string;
    };

export interface ParityCaseSnapshots {
  readonly name: string;
  readonly snapshots: Readonly<Record<string, { istiod: ConfigSnapshot; meshctl: ConfigSnapshot }>>;
  /** Set when the case could not be run completely (a server refused it, a fetch failed). */
  readonly error?: string;
  /** What was odd but not fatal: a type never answered, a file meshctl rejected, a slow settle. */
  readonly notes: readonly string[];
  readonly durationMs: number;
  /** compare.ts's verdict on the snapshots (verdict `error` when the case could not be run). */
  readonly result: ParityCaseResult;
}

export interface ParityRunResult {
  /** The istio.io/istio module version istiod is built from. */
  readonly istiodVersion: string;
  readonly cases: readonly ParityCaseSnapshots[];
  /** compare.ts's verdicts of every case, summarised (report.ts). */
  readonly report: ParityReport;
}

/** The API server's own Service, mirrored into meshctl's directory (see mirrorClusterServices). */
const KUBERNETES_SERVICE = "kubernetes.default.svc.cluster.local";
/** How long both servers get to show a case's objects in their registries (ms). */
const INPUTS_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** JSON with sorted keys: equal configs, equal text (the stability check). */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [k: string]: unknown;
}

const PLURALS: Record<string, string> = {
  Namespace: "namespaces",
  Node: "nodes",
  ServiceAccount: "serviceaccounts",
  Pod: "pods",
  Service: "services",
  EndpointSlice: "endpointslices",
};
/**
 * Creation order (a Pod needs its account; an EndpointSlice's targetRef Pod comes before it; a
 * Node before the Pods on it, or istiod would read their endpoints' locality before it knows it).
 */
const CREATE_ORDER = ["Namespace", "Node", "ServiceAccount", "Pod", "Service", "EndpointSlice"];
/** Kinds without a namespace. */
const CLUSTER_SCOPED = new Set(["Namespace", "Node"]);

function objectPath(o: KubeObject): string {
  const plural = PLURALS[o.kind];
  if (!plural)
    throw new MeshctlError("XDS_PARITY_CASE_INVALID", `parity cases cannot hold ${o.kind} objects`, {
      kind: "usage",
    });
  return kubeCollectionPath(
    o.apiVersion,
    plural,
    CLUSTER_SCOPED.has(o.kind) ? undefined : o.metadata.namespace,
  );
}

function fqdn(o: KubeObject): string {
  return `${o.metadata.name}.${o.metadata.namespace ?? "default"}.svc.cluster.local`;
}

/** Every endpoint address in a snapshot's ClusterLoadAssignments. */
function endpointAddresses(snapshot: ConfigSnapshot): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === "object") {
      const r = v as Record<string, unknown>;
      const sa = r.socket_address as { address?: unknown } | undefined;
      if (sa && typeof sa.address === "string") out.push(sa.address);
      for (const x of Object.values(r)) walk(x);
    }
  };
  walk(snapshot.endpoints);
  return out;
}

/** Addresses of pod blocks (10.100–249.x.x) that are not this case's: a snapshot of an earlier case. */
function staleAddresses(snapshot: ConfigSnapshot, block: string): string[] {
  return endpointAddresses(snapshot).filter((a) => {
    const m = /^10\.(\d+)\./.exec(a);
    if (!m) return false;
    const octet = Number(m[1]);
    return octet >= 100 && octet < 250 && !a.startsWith(`${block}.`);
  });
}

/** The servers of one run: started once, fed case after case. */
class ParityServers {
  private kube: KubeHandle | undefined;
  private istiod: { xdsAddress: string; httpAddress: string; close(): Promise<void> } | undefined;
  private meshctl: XdsServerHandle | undefined;
  private api: KubeApiWriter | undefined;
  private workDir = "";
  private istioDir = "";
  private meshDir = "";
  private stageDir = "";
  private applied: KubeObject[] = [];
  private written: string[] = [];
  private previousHosts = new Set<string>();
  private generation = 0;

  async start(onProgress: (p: ParityProgress) => void): Promise<void> {
    const launcher = await IstiodTarget.launcher("istiod");
    this.workDir = await mkdtemp(join(tmpdir(), "meshctl-parity-"));
    this.istioDir = join(this.workDir, "istiod");
    this.meshDir = join(this.workDir, "meshctl");
    this.stageDir = join(this.workDir, "stage");
    for (const d of [this.istioDir, this.meshDir, this.stageDir]) await mkdir(d);
    try {
      onProgress({ type: "starting", what: "kube-apiserver" });
      this.kube = await launcher.startKubeApiserver({});
      this.api = new KubeApiWriter(this.kube);
      onProgress({ type: "starting", what: "istiod" });
      this.istiod = (await launcher.startIstiod({
        configDir: this.istioDir,
        kube: this.kube,
        env: {},
        logLevel: "default:warn",
      })) as unknown as { xdsAddress: string; httpAddress: string; close(): Promise<void> };
      await this.mirrorClusterServices();
      onProgress({ type: "starting", what: "meshctl" });
      this.meshctl = await startXdsServer({
        configDir: this.meshDir,
        port: 0,
        debugPort: false,
        pollMs: 500,
      });
    } catch (cause) {
      await this.close();
      if (cause instanceof MeshctlError) throw cause;
      throw new MeshctlError(
        "XDS_LOAD_SERVER_FAILED",
        `The parity servers did not start: ${errorText(cause)}`,
        {
          kind: "external",
          cause,
        },
      );
    }
  }

  /**
   * The API server's own `default/kubernetes` Service exists in every cluster, so istiod serves
   * it to every proxy: meshctl's directory gets the same Service, or every case would differ by it.
   */
  private async mirrorClusterServices(): Promise<void> {
    const api = this.api as KubeApiWriter;
    const r = await api.request("GET", `${kubeCollectionPath("v1", "services", "default")}/kubernetes`);
    if (r.status !== 200) return;
    const svc = JSON.parse(r.body) as {
      metadata: { name: string; namespace: string; labels?: Record<string, string> };
      spec: Record<string, unknown>;
    };
    const { type, clusterIP, clusterIPs, ports, sessionAffinity } = svc.spec;
    const mirror = {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: svc.metadata.name,
        namespace: svc.metadata.namespace,
        labels: svc.metadata.labels ?? {},
      },
      spec: { type, clusterIP, clusterIPs, ports, sessionAffinity },
    };
    await writeFile(join(this.meshDir, "cluster.kubernetes-service.yaml"), toYaml([mirror]));
  }

  addressOf(server: ParityServer): string {
    const address = server === "istiod" ? this.istiod?.xdsAddress : this.meshctl?.address;
    // A programming error (called before start()), not a user's: a plain Error is reported as a bug.
    if (!address) throw new Error("parity servers not started");
    return address;
  }

  /** Removes the previous case everywhere and applies `c`; returns notes (e.g. rejected files). */
  async apply(c: ParityCase, deadline: number): Promise<string[]> {
    const api = this.api as KubeApiWriter;
    const notes: string[] = [];
    // Previous case out: files first (both servers drop its config), then the API objects.
    // Only the files written here: meshctl keeps its own state (.meshctl-state) in its directory.
    for (const f of this.written.splice(0)) await rm(f, { force: true });
    // meshctl takes an object defined in two files from the first one and ignores the second, so
    // the previous case must be gone before this one lands (a delete and an add in one scan would
    // leave the new case's Pod or Service ignored).
    await this.waitForMeshctlEmpty(Math.min(deadline, Date.now() + INPUTS_TIMEOUT_MS), notes);
    for (const o of [...this.applied].reverse()) {
      if (o.kind === "Namespace" || (o.kind === "ServiceAccount" && o.metadata.name === "default")) continue;
      // gracePeriodSeconds=0: no kubelet will ever confirm a graceful Pod deletion.
      const r = await api.request("DELETE", `${objectPath(o)}/${o.metadata.name}?gracePeriodSeconds=0`);
      if (r.status !== 200 && r.status !== 202 && r.status !== 404)
        throw new MeshctlError(
          "XDS_LOAD_KUBE_WRITE_FAILED",
          `DELETE ${o.kind} ${o.metadata.namespace}/${o.metadata.name}: HTTP ${r.status} ${r.body.slice(0, 300)}`,
          { kind: "external" },
        );
    }
    this.applied = [];

    const objects = c.kubernetes as unknown as KubeObject[];
    for (const kind of CREATE_ORDER)
      for (const o of objects.filter((x) => x.kind === kind)) {
        const { status, ...body } = o as KubeObject & { status?: unknown };
        // Namespaces and their `default` accounts outlive a case (nothing would finalize a deletion).
        const kept = kind === "Namespace" || (kind === "ServiceAccount" && o.metadata.name === "default");
        await api.create(objectPath(o), body, { alreadyExists: kept ? "ok" : "error" });
        this.applied.push(o);
        // The API server drops status on create; the kubelet would write it.
        if (kind === "Pod" && status)
          await api.patch(`${objectPath(o)}/${o.metadata.name}/status`, { status });
        if (Date.now() > deadline) throw new Error("applying the Kubernetes objects took too long");
      }
    for (const o of objects)
      if (!CREATE_ORDER.includes(o.kind))
        notes.push(`${o.kind} ${o.metadata.name}: not applied to the API server`);

    // Files: staged, then renamed in, so a watcher never reads half a file.
    const meshKinds = new Set(SUPPORTED_KINDS);
    const istio = c.istio as unknown as KubeObject[];
    const files: { dir: string; name: string; text: string }[] = [];
    const kubeForMeshctl = objects.filter((o) => meshKinds.has(o.kind));
    files.push({ dir: this.meshDir, name: `${c.name}.kubernetes.yaml`, text: toYaml(kubeForMeshctl) });
    for (const [i, o] of istio.entries()) {
      const name = `${c.name}.${String(i).padStart(2, "0")}-${o.kind.toLowerCase()}-${o.metadata.name}.yaml`;
      files.push({ dir: this.istioDir, name, text: toYaml([o]) });
      files.push({ dir: this.meshDir, name, text: toYaml([o]) });
    }
    for (const [i, f] of files.entries()) {
      const staged = join(this.stageDir, `${i}.tmp`);
      await writeFile(staged, f.text);
      await rename(staged, join(f.dir, f.name));
      this.written.push(join(f.dir, f.name));
    }

    await this.waitForInputs(c, deadline, notes);
    return notes;
  }

  private async waitForMeshctlEmpty(until: number, notes: string[]): Promise<void> {
    const meshctl = this.meshctl as XdsServerHandle;
    const empty = () => {
      const { model } = meshctl.mesh();
      return (
        model.services.every((s) => s.hostname === KUBERNETES_SERVICE) &&
        model.virtualServices.length === 0 &&
        model.destinationRules.length === 0 &&
        model.sidecars.length === 0 &&
        meshctl.settled()
      );
    };
    while (!empty()) {
      if (Date.now() > until) {
        notes.push("meshctl still served the previous case's objects after they were removed");
        return;
      }
      await sleep(100);
    }
    this.generation = meshctl.mesh().generation;
  }

  /** Both servers hold the case's objects (not yet necessarily pushed; the fetch loop checks that). */
  private async waitForInputs(c: ParityCase, deadline: number, notes: string[]): Promise<void> {
    const objects = c.kubernetes as unknown as KubeObject[];
    const hosts = new Set(objects.filter((o) => o.kind === "Service").map(fqdn));
    const gone = [...this.previousHosts].filter((h) => !hosts.has(h));
    this.previousHosts = hosts;
    const istioKeys = new Set(
      (c.istio as unknown as KubeObject[]).map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`),
    );
    const meshctl = this.meshctl as XdsServerHandle;
    const istiod = this.istiod as { httpAddress: string };
    let istiodOk = false;
    let meshctlOk = false;
    let lastIstiod = "";
    // A server that refused an object never shows exactly the case: the fetch loop still runs.
    const inputsDeadline = Math.min(deadline, Date.now() + INPUTS_TIMEOUT_MS);
    while (Date.now() < inputsDeadline && !(istiodOk && meshctlOk)) {
      if (!meshctlOk) {
        const snap = meshctl.mesh();
        const served = new Set(snap.model.services.map((s) => s.hostname));
        meshctlOk =
          snap.generation > this.generation &&
          [...hosts].every((h) => served.has(h)) &&
          gone.every((h) => !served.has(h)) &&
          meshctl.settled();
        if (meshctlOk) {
          this.generation = snap.generation;
          const rejected = snap.rejectedFiles.filter((f) => f.includes(`${c.name}.`));
          for (const f of rejected) {
            const why = snap.diagnostics
              .filter((d) => d.file === f && d.severity === "error")
              .map((d) => `${d.path}: ${d.reason}`)
              .slice(0, 3);
            notes.push(`meshctl rejected ${f.slice(f.lastIndexOf("/") + 1)}: ${why.join("; ")}`);
          }
        }
      }
      if (!istiodOk) {
        try {
          const [configz, registryz] = await Promise.all([
            httpJson(`http://${istiod.httpAddress}/debug/configz`),
            httpJson(`http://${istiod.httpAddress}/debug/registryz`),
          ]);
          const keys = new Set(
            (
              (configz as { kind?: string; metadata?: { name?: string; namespace?: string } }[] | null) ?? []
            ).map((x) => `${x.kind}/${x.metadata?.namespace}/${x.metadata?.name}`),
          );
          const served = new Set(
            ((registryz as { hostname?: string }[] | null) ?? []).map((s) => String(s.hostname)),
          );
          const configOk = keys.size === istioKeys.size && [...istioKeys].every((k) => keys.has(k));
          istiodOk = configOk && [...hosts].every((h) => served.has(h)) && gone.every((h) => !served.has(h));
          lastIstiod = `config ${[...keys].join(", ") || "none"}`;
        } catch (e) {
          lastIstiod = errorText(e);
        }
      }
      if (!(istiodOk && meshctlOk)) await sleep(200);
    }
    if (!istiodOk) notes.push(`istiod did not show exactly the case's inputs in time (${lastIstiod})`);
    if (!meshctlOk) notes.push("meshctl did not show the case's services in time");
    // istiod debounces (100 ms) before it builds the push context new streams are served from.
    await sleep(300);
  }

  async close(): Promise<void> {
    const meshctl = this.meshctl;
    const istiod = this.istiod;
    const kube = this.kube;
    this.meshctl = undefined;
    this.istiod = undefined;
    this.kube = undefined;
    this.api?.close();
    this.api = undefined;
    await meshctl?.close().catch(() => {});
    await istiod?.close().catch(() => {});
    await kube?.close().catch(() => {});
    if (this.workDir) await rm(this.workDir, { recursive: true, force: true }).catch(() => {});
  }
}

function toYaml(objects: readonly object[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}

async function httpJson(url: string): Promise<unknown> {
  const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

/**
 * Fetches until two consecutive fetches agree and hold no endpoint of an earlier case's block
 * (a server that has not pushed the case yet), bounded by `deadline`.
 */
async function fetchStable(
  address: string,
  proxy: ParityProxy,
  block: string,
  needOwnBlock: boolean,
  deadline: number,
  fetchTimeoutMs: number,
): Promise<{ fetched: FetchedSnapshot; settled: boolean; attempts: number }> {
  let previous: string | undefined;
  let last: FetchedSnapshot | undefined;
  for (let attempt = 1; attempt <= 20; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0 && last) return { fetched: last, settled: false, attempts: attempt - 1 };
    const fetched = await fetchParitySnapshot(address, proxy, {
      timeoutMs: Math.max(2000, Math.min(fetchTimeoutMs, left)),
    });
    last = fetched;
    // A fresh stream always gets an answer to its first request: silence will not change.
    if (fetched.responses === 0) return { fetched, settled: false, attempts: attempt };
    const addresses = endpointAddresses(fetched.snapshot);
    const fresh =
      staleAddresses(fetched.snapshot, block).length === 0 &&
      (!needOwnBlock || addresses.some((a) => a.startsWith(`${block}.`)));
    const text = canonicalJson(fetched.snapshot);
    if (fresh && text === previous) return { fetched, settled: true, attempts: attempt };
    previous = fresh ? text : undefined;
    if (!fresh) await sleep(300);
  }
  return { fetched: last as FetchedSnapshot, settled: false, attempts: 20 };
}

async function dumpCase(dir: string, result: ParityCaseSnapshots): Promise<void> {
  const caseDir = join(dir, result.name);
  await mkdir(caseDir, { recursive: true });
  for (const [proxy, both] of Object.entries(result.snapshots))
    for (const server of ["istiod", "meshctl"] as const)
      await writeFile(join(caseDir, `${proxy}.${server}.json`), `${JSON.stringify(both[server], null, 2)}\n`);
  if (result.error || result.notes.length > 0)
    await writeFile(
      join(caseDir, "notes.json"),
      `${JSON.stringify({ error: result.error, notes: result.notes }, null, 2)}\n`,
    );
}

/** The istio.io/istio version istiod is built from (bench/peers/istiod/go.mod). */
async function istiodVersionOf(): Promise<string> {
  const root = findRepoRoot();
  if (!root) return "unknown";
  try {
    return pinnedIstioVersion(await readFile(join(root, "bench/peers/istiod/go.mod"), "utf8")) ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Runs the parity corpus: starts kube-apiserver + istiod and meshctl once, then per case
 * replaces both servers' inputs, waits for both to settle and fetches every proxy from both.
 * Never prints (progress goes to `onProgress`); every process and temp dir is cleaned up, also
 * on failure. A case that fails records its error and the run goes on.
 *
 * @example
 * const run = await runParity({ only: ["bookinfo-virtual-service-reviews-v3"] });
 * run.cases[0]?.snapshots["productpage-v1-sidecar"]?.istiod.clusters;
 */
export async function runParity(
  options: ParityRunOptions = {},
  onProgress: (p: ParityProgress) => void = () => {},
): Promise<ParityRunResult> {
  const cases =
    options.cases ??
    buildParityCorpus({
      istio: await locateIstioModule(),
      ...(options.only ? { only: options.only } : {}),
    });
  const caseTimeoutMs = options.caseTimeoutMs ?? 60_000;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 20_000;
  const servers = new ParityServers();
  const results: ParityCaseSnapshots[] = [];
  await servers.start(onProgress);
  try {
    for (const [i, c] of cases.entries()) {
      if (options.signal?.aborted) break;
      onProgress({ type: "case-start", name: c.name, index: i, total: cases.length });
      const t0 = Date.now();
      const deadline = t0 + caseTimeoutMs;
      const snapshots: Record<string, { istiod: ConfigSnapshot; meshctl: ConfigSnapshot }> = {};
      const notes: string[] = [];
      let error: string | undefined;
      try {
        notes.push(...(await servers.apply(c, deadline)));
        const ips = (c.kubernetes as { kind?: string; status?: { podIP?: string } }[])
          .filter((o) => o.kind === "Pod")
          .map((o) => o.status?.podIP ?? "");
        const block = ips[0]?.split(".").slice(0, 2).join(".") ?? parityPodBlock(i);
        const hasEndpoints = (c.kubernetes as { kind?: string; endpoints?: unknown[] }[]).some(
          (o) => o.kind === "EndpointSlice" && (o.endpoints?.length ?? 0) > 0,
        );
        const jobs = c.proxies.flatMap((p) =>
          (["istiod", "meshctl"] as const).map(async (server) => {
            const r = await fetchStable(
              servers.addressOf(server),
              p,
              block,
              hasEndpoints && p.kind === "envoy",
              deadline,
              fetchTimeoutMs,
            );
            if (r.fetched.responses === 0) notes.push(`${p.id} from ${server}: no response at all`);
            else if (!r.settled) notes.push(`${p.id} from ${server}: not stable after ${r.attempts} fetches`);
            for (const u of r.fetched.unanswered) notes.push(`${p.id} from ${server}: no answer for ${u}`);
            return { proxy: p.id, server, snapshot: r.fetched.snapshot };
          }),
        );
        const settled = await Promise.allSettled(jobs);
        const failures: string[] = [];
        for (const s of settled) {
          if (s.status === "rejected") failures.push(errorText(s.reason));
          else {
            const entry =
              snapshots[s.value.proxy] ?? ({} as { istiod: ConfigSnapshot; meshctl: ConfigSnapshot });
            snapshots[s.value.proxy] = entry;
            entry[s.value.server] = s.value.snapshot;
          }
        }
        for (const [proxy, both] of Object.entries(snapshots))
          if (!both.istiod || !both.meshctl) delete snapshots[proxy];
        if (failures.length > 0) error = failures.join("; ");
      } catch (e) {
        error = errorText(e);
      }
      const durationMs = Date.now() - t0;
      const verdict: ParityCaseResult = error
        ? {
            name: c.name,
            origin: c.origin,
            features: c.features,
            verdict: "error",
            diffs: [],
            error,
            durationMs,
          }
        : compareCase(c, snapshots, { durationMs });
      const result: ParityCaseSnapshots = {
        name: c.name,
        snapshots,
        ...(error ? { error } : {}),
        notes,
        durationMs,
        result: verdict,
      };
      results.push(result);
      if (options.dumpDir) await dumpCase(options.dumpDir, result);
      onProgress({
        type: "case-done",
        name: c.name,
        index: i,
        total: cases.length,
        durationMs: result.durationMs,
        ...(error ? { error } : {}),
      });
    }
  } finally {
    await servers.close();
  }
  const istiodVersion = await istiodVersionOf();
  return {
    istiodVersion,
    cases: results,
    report: buildReport(
      results.map((r) => r.result),
      istiodVersion,
    ),
  };
}
