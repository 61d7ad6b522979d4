/**
 * Churn through the API server: each change of the synthetic mesh written as the object a
 * cluster would change. An endpoint change is a merge patch of the service's EndpointSlice
 * (the full endpoint list, one address replaced by the change's marker), a route change a
 * patch of the VirtualService, a new service its Pods, Service and EndpointSlice.
 *
 * Writes are pipelined so the API server's latency does not cap the change rate, but the
 * changes of one service stay in order (each write carries that service's whole state, so a
 * reordered pair would bring an older state back).
 */
import { performance } from "node:perf_hooks";
import type { ChurnChange } from "./churn.js";
import { type KubeApiWriter, kubeCollectionPath } from "./kube-api.js";
import {
  endpointSliceEndpoints,
  endpointSlicePath,
  istioDocumentPaths,
  istioDocumentsOf,
  podPath,
  syntheticEndpointSlice,
  syntheticKubeService,
  syntheticPod,
  syntheticPodName,
  syntheticPodStatus,
} from "./kube-mesh.js";
import { type PercentileSummary, summarizePercentiles } from "./stats.js";

export interface KubeChurnStats {
  readonly writes: number;
  readonly failures: number;
  /** Request to response of each change's writes, ms (the API server's share of the latency). */
  readonly writeMs: PercentileSummary;
  /** The first failure, if any. */
  readonly firstError: string | null;
}

export interface KubeChurnWriterOptions {
  /** Changes in flight at most; `apply` waits for a slot beyond it. Default 200 (under the API server's 250 HTTP/2 streams). */
  readonly maxInFlight?: number;
  /**
   * Before an endpoint change, set the new address as the slot's pod IP (as a kubelet does when
   * a pod restarts with a new IP). Off by default: the EndpointSlice write is the change, and
   * control planes find the pod through the slice's targetRef. On, it doubles the writes.
   */
  readonly podIpUpdates?: boolean;
}

/**
 * @example
 * const writer = new KubeChurnWriter(api);
 * tracked.t0 = performance.now();
 * await writer.apply(change); // returns once the write is under way
 * await writer.settle();      // all writes answered; throws the first failure
 */
export class KubeChurnWriter {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly latencies: number[] = [];
  private readonly slotFreed: (() => void)[] = [];
  private inFlight = 0;
  private writes = 0;
  private failures = 0;
  private firstError: unknown;
  private readonly maxInFlight: number;

  constructor(
    private readonly api: KubeApiWriter,
    private readonly options: KubeChurnWriterOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 200;
  }

  /**
   * Starts writing a change; resolves when it is under way, and calls `written` once the API
   * server answered. Throws an earlier write's failure.
   */
  async apply(change: ChurnChange, written?: () => void): Promise<void> {
    if (this.firstError !== undefined) throw this.firstError;
    while (this.inFlight >= this.maxInFlight) await new Promise<void>((r) => this.slotFreed.push(r));
    const key = `${change.service.namespace}/${change.service.name}`;
    const previous = this.chains.get(key) ?? Promise.resolve();
    this.inFlight++;
    const next = previous.then(async () => {
      const start = performance.now();
      try {
        await this.write(change);
        this.latencies.push(performance.now() - start);
        written?.();
      } catch (error) {
        this.failures++;
        this.firstError ??= error;
      } finally {
        this.inFlight--;
        this.slotFreed.shift()?.();
        if (this.chains.get(key) === next) this.chains.delete(key);
      }
    });
    this.chains.set(key, next);
  }

  /** Waits for every write under way; throws the first failure. */
  async settle(): Promise<void> {
    await Promise.all([...this.chains.values()]);
    if (this.firstError !== undefined) throw this.firstError;
  }

  stats(): KubeChurnStats {
    const e = this.firstError;
    return {
      writes: this.writes,
      failures: this.failures,
      writeMs: summarizePercentiles(this.latencies),
      firstError: e === undefined ? null : e instanceof Error ? e.message : String(e),
    };
  }

  private async write(change: ChurnChange): Promise<void> {
    const s = change.service;
    if (change.kind === "endpoints") {
      if (this.options.podIpUpdates) {
        const k = s.endpoints.findIndex((e) => e.address === change.marker);
        if (k >= 0) {
          this.writes++;
          await this.api.patch(
            `${podPath(s.namespace, syntheticPodName(s, k))}/status`,
            syntheticPodStatus(change.marker),
          );
        }
      }
      this.writes++;
      await this.api.patch(endpointSlicePath(s.namespace, s.name), { endpoints: endpointSliceEndpoints(s) });
      return;
    }
    if (change.kind === "routes") {
      for (const doc of istioDocumentsOf(change.files).filter((d) => d.kind === "VirtualService")) {
        this.writes++;
        await this.api.patch(istioDocumentPaths(doc).object, { spec: doc.spec });
      }
      return;
    }
    // A new service, in the order a cluster makes it: pods (running), Service, EndpointSlice.
    for (let k = 0; k < s.endpoints.length; k++) {
      this.writes += 2;
      await this.api.create(kubeCollectionPath("v1", "pods", s.namespace), syntheticPod(s, k));
      await this.api.patch(
        `${podPath(s.namespace, syntheticPodName(s, k))}/status`,
        syntheticPodStatus(s.endpoints[k]?.address ?? ""),
      );
    }
    this.writes += 2;
    await this.api.create(kubeCollectionPath("v1", "services", s.namespace), syntheticKubeService(s));
    await this.api.create(
      kubeCollectionPath("discovery.k8s.io/v1", "endpointslices", s.namespace),
      syntheticEndpointSlice(s),
    );
  }
}
