/**
 * Targets that read the mesh from a Kubernetes API server, as in a cluster: the harness starts a
 * loopback kube-apiserver + etcd (bench/peers/istiod/launch.mjs), writes the synthetic mesh into
 * it (setup, timed apart), then starts the control plane against it. Churn is API writes
 * (EndpointSlice patches for endpoint changes), so the measured latency runs from the write to
 * the API server to the proxies' receipt, through the server's watches.
 *  - `meshctl-kube`: serve-main with the Kubernetes informer source (`kubeconfig`).
 *  - `istiod-kube`: istiod with Services, EndpointSlices, Pods and its Istio CRDs all from the
 *    API server (no fs config source).
 */
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { MeshctlError } from "@meshctl/core";
import type { ChurnChange } from "./churn.js";
import { KubeApiWriter } from "./kube-api.js";
import { KubeChurnWriter, type KubeChurnWriterOptions } from "./kube-churn.js";
import { type KubeMeshLoadReport, loadSyntheticMeshIntoKube } from "./kube-mesh.js";
import type { LoadTargetDriver, ServerOptionValue, TargetContext, TargetEndpoint } from "./target.js";
import {
  type IstiodHandle,
  type IstiodLauncher,
  IstiodTarget,
  istiodEnvironment,
  istiodLauncherPath,
  type KubeHandle,
} from "./target-istiod.js";
import { MeshctlTarget, type MeshctlTargetOptions } from "./target-meshctl.js";

/**
 * Whether the loopback API server (kube targets) and istiod (istiod targets) can run here, with
 * the reason when not; never throws.
 *
 * @example
 * const { kube } = await kubePeerAvailability();
 * requirementGate("kube-apiserver", kube.ok ? undefined : kube.reason, "meshctl-kube load");
 */
export async function kubePeerAvailability(): Promise<{
  readonly kube: { readonly ok: boolean; readonly reason: string };
  readonly istiod: { readonly ok: boolean; readonly reason: string };
}> {
  const path = istiodLauncherPath();
  if (!path || !existsSync(path)) {
    const missing = { ok: false, reason: "bench/peers/istiod/launch.mjs is missing (run from the monorepo)" };
    return { kube: missing, istiod: missing };
  }
  const launcher = (await import(pathToFileURL(path).href)) as IstiodLauncher;
  return { kube: launcher.kubeAvailable(), istiod: launcher.istiodAvailable() };
}

export interface KubeTargetOptions {
  /** Requests in flight while loading the mesh, default 48. */
  readonly loadConcurrency?: number;
  readonly churn?: KubeChurnWriterOptions;
}

/**
 * A loopback API server holding the synthetic mesh, and the churn writer into it.
 *
 * @example
 * const cluster = await KubeMeshCluster.start(context);
 * cluster.kube.kubeconfig; // hand it to the control plane
 * await cluster.churn.apply(change);
 * await cluster.close();
 */
export class KubeMeshCluster {
  private constructor(
    readonly kube: KubeHandle,
    readonly api: KubeApiWriter,
    readonly loaded: KubeMeshLoadReport,
    readonly churn: KubeChurnWriter,
    readonly apiserverStartMs: number,
  ) {}

  static async start(context: TargetContext, options: KubeTargetOptions = {}): Promise<KubeMeshCluster> {
    const launcher = await IstiodTarget.launcher("kube");
    const t0 = performance.now();
    const kube = await launcher.startKubeApiserver({});
    const apiserverStartMs = performance.now() - t0;
    const concurrency = options.loadConcurrency ?? 48;
    const api = new KubeApiWriter(kube);
    try {
      const loaded = await loadSyntheticMeshIntoKube(
        api,
        { files: context.files, description: context.description },
        { concurrency },
      );
      return new KubeMeshCluster(
        kube,
        api,
        loaded,
        new KubeChurnWriter(api, options.churn),
        apiserverStartMs,
      );
    } catch (cause) {
      api.close();
      await kube.close().catch(() => {});
      throw new MeshctlError(
        "XDS_LOAD_SERVER_FAILED",
        `Loading the mesh into the API server failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        { kind: "external", cause },
      );
    }
  }

  get componentPids(): Record<string, number> {
    return { apiserver: this.kube.pids.apiserver, etcd: this.kube.pids.etcd };
  }

  details(): Record<string, number> {
    const churn = this.churn.stats();
    const out: Record<string, number> = {
      kubeApiserverStartMs: Math.round(this.apiserverStartMs),
      kubeLoadMs: this.loaded.ms.total,
      kubeLoadPodsMs: this.loaded.ms.pods,
      kubeObjects: this.loaded.objects,
      kubeLoadWrites: this.loaded.writes,
      churnWrites: churn.writes,
      churnWriteFailures: churn.failures,
    };
    if (churn.writeMs.p50 !== null) out.churnWriteP50Ms = churn.writeMs.p50;
    if (churn.writeMs.p99 !== null) out.churnWriteP99Ms = churn.writeMs.p99;
    return out;
  }

  async close(): Promise<void> {
    await this.churn.settle().catch(() => {});
    this.api.close();
    await this.kube.close().catch(() => {});
  }
}

/**
 * meshctl's control plane (serve-main) with the Kubernetes informer source.
 *
 * @example
 * const target = new MeshctlKubeTarget({ serverOptions: { debounceAfterMs: 100 } });
 */
export class MeshctlKubeTarget extends MeshctlTarget {
  override readonly name = "meshctl-kube";
  private cluster: KubeMeshCluster | undefined;
  private readonly kubeOptions: KubeTargetOptions;

  constructor(options: MeshctlTargetOptions & KubeTargetOptions = {}) {
    super(options);
    this.kubeOptions = options;
  }

  override async start(_meshDir: string, context: TargetContext): Promise<TargetEndpoint> {
    this.cluster = await KubeMeshCluster.start(context, this.kubeOptions);
    try {
      const endpoint = await this.spawn({ kubeconfig: this.cluster.kube.kubeconfig });
      return { ...endpoint, componentPids: this.cluster.componentPids };
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  override async apply(change: ChurnChange, written?: () => void): Promise<void> {
    await this.cluster?.churn.apply(change, written);
  }

  async settle(): Promise<void> {
    await this.cluster?.churn.settle();
  }

  details(): Readonly<Record<string, number>> {
    return this.cluster?.details() ?? {};
  }

  override async stop(): Promise<void> {
    const cluster = this.cluster;
    this.cluster = undefined;
    await super.stop();
    await cluster?.close();
  }
}

/**
 * istiod reading everything from the API server: Services, EndpointSlices and Pods through its
 * Kubernetes registry, VirtualServices, DestinationRules and Sidecars through its CRD client.
 *
 * @example
 * const target = new IstiodKubeTarget({ serverOptions: { debounceAfterMs: 100 } });
 */
export class IstiodKubeTarget implements LoadTargetDriver {
  readonly name = "istiod-kube";
  readonly canChurn = true;
  private cluster: KubeMeshCluster | undefined;
  private istiod: IstiodHandle | undefined;

  constructor(
    private readonly options: {
      readonly serverOptions?: Readonly<Record<string, ServerOptionValue>>;
    } & KubeTargetOptions = {},
  ) {}

  async start(_meshDir: string, context: TargetContext): Promise<TargetEndpoint> {
    const launcher = await IstiodTarget.launcher("istiod");
    this.cluster = await KubeMeshCluster.start(context, this.options);
    try {
      const startedAt = performance.now();
      this.istiod = await launcher.startIstiod({
        istioConfigFromKube: true,
        kube: this.cluster.kube,
        env: istiodEnvironment(this.options.serverOptions ?? {}),
        logLevel: "default:warn",
      });
      return {
        address: this.istiod.xdsAddress,
        pid: this.istiod.pid,
        componentPids: this.cluster.componentPids,
        metricsUrl: `http://${this.istiod.monitoringAddress}/metrics`,
        metricsPrefix: "pilot_",
        startMs: performance.now() - startedAt,
        countStartCpu: ["server"],
      };
    } catch (cause) {
      await this.stop();
      throw new MeshctlError(
        "XDS_LOAD_SERVER_FAILED",
        `istiod did not start: ${cause instanceof Error ? cause.message : String(cause)}`,
        { kind: "external", cause },
      );
    }
  }

  async apply(change: ChurnChange, written?: () => void): Promise<void> {
    await this.cluster?.churn.apply(change, written);
  }

  async settle(): Promise<void> {
    await this.cluster?.churn.settle();
  }

  details(): Readonly<Record<string, number>> {
    return this.cluster?.details() ?? {};
  }

  async stop(): Promise<void> {
    const istiod = this.istiod;
    const cluster = this.cluster;
    this.istiod = undefined;
    this.cluster = undefined;
    await istiod?.close().catch(() => {});
    await cluster?.close();
  }
}
