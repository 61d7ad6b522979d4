/**
 * Rollout status of the workloads install applied, with kubectl's rules (`kubectl rollout
 * status`): a spec change counts only once its controller has observed it (observedGeneration),
 * then every desired replica/pod must be updated and available. A cluster without a running
 * controller (or without nodes that can pull the image) therefore never becomes ready, and the
 * timeout names each workload and how far it got.
 */
import { formatObjectRef, type KubeObject, type KubeObjectRef, type KubeRestClient } from "./rest-client.js";

export interface WorkloadRollout {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly ready: boolean;
  /** e.g. `0/1 replicas ready (not yet observed by the Deployment controller)` */
  readonly summary: string;
}

export interface RolloutReport {
  readonly ready: boolean;
  readonly elapsedMs: number;
  readonly workloads: readonly WorkloadRollout[];
}

interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  desiredNumberScheduled?: number;
  updatedNumberScheduled?: number;
  numberAvailable?: number;
  conditions?: readonly { type?: string; reason?: string }[];
}

/**
 * Whether a Deployment or DaemonSet has rolled out, and a one-line summary.
 *
 * @example
 * describeWorkloadRollout(deployment).summary; // "1/1 replicas ready"
 */
export function describeWorkloadRollout(object: KubeObject): WorkloadRollout {
  const base = { kind: object.kind, namespace: object.metadata.namespace ?? "", name: object.metadata.name };
  const status = (object.status ?? {}) as WorkloadStatus;
  const observed = (status.observedGeneration ?? 0) >= (object.metadata.generation ?? 1);
  const unobserved = ` (not yet observed by the ${object.kind} controller)`;
  if (object.kind === "Deployment") {
    const desired = (object.spec as { replicas?: number } | undefined)?.replicas ?? 1;
    const updated = status.updatedReplicas ?? 0;
    const available = status.availableReplicas ?? 0;
    const head = `${Math.min(available, desired)}/${desired} replicas ready`;
    if (!observed) return { ...base, ready: false, summary: `${head}${unobserved}` };
    if (status.conditions?.some((c) => c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded"))
      return { ...base, ready: false, summary: `${head} (exceeded its progress deadline)` };
    if (updated < desired)
      return { ...base, ready: false, summary: `${head} (${updated}/${desired} updated)` };
    if ((status.replicas ?? 0) > updated)
      return {
        ...base,
        ready: false,
        summary: `${head} (${(status.replicas ?? 0) - updated} old replicas pending termination)`,
      };
    if (available < updated) return { ...base, ready: false, summary: head };
    return { ...base, ready: true, summary: head };
  }
  if (object.kind === "DaemonSet") {
    const desired = status.desiredNumberScheduled ?? 0;
    const updated = status.updatedNumberScheduled ?? 0;
    const available = status.numberAvailable ?? 0;
    const head = `${Math.min(available, desired)}/${desired} pods ready`;
    if (!observed) return { ...base, ready: false, summary: `${head}${unobserved}` };
    if (updated < desired)
      return { ...base, ready: false, summary: `${head} (${updated}/${desired} updated)` };
    if (available < desired) return { ...base, ready: false, summary: head };
    return { ...base, ready: true, summary: head };
  }
  return { ...base, ready: true, summary: "no rollout" };
}

/** `Deployment meshctl-system/meshctl-xds: 0/1 replicas ready; DaemonSet ...` */
export function formatRolloutPending(report: RolloutReport): string {
  return report.workloads
    .filter((w) => !w.ready)
    .map(
      (w) =>
        `${formatObjectRef({ apiVersion: "", kind: w.kind, name: w.name, namespace: w.namespace })}: ${w.summary}`,
    )
    .join("; ");
}

export interface WaitForRolloutOptions {
  readonly timeoutMs: number;
  /** Default 1 s. */
  readonly pollIntervalMs?: number;
  /** Called after every poll. */
  readonly onPoll?: (report: RolloutReport) => void;
}

/**
 * Polls the workloads until all are ready or the timeout passes; returns the last report either
 * way (the caller decides what a timeout means).
 *
 * @example
 * const report = await waitForRollout(client, [deploymentRef], { timeoutMs: 300_000 });
 * if (!report.ready) console.error(formatRolloutPending(report));
 */
export async function waitForRollout(
  client: KubeRestClient,
  refs: readonly KubeObjectRef[],
  options: WaitForRolloutOptions,
): Promise<RolloutReport> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const interval = options.pollIntervalMs ?? 1000;
  for (;;) {
    const workloads = await Promise.all(
      refs.map(async (ref): Promise<WorkloadRollout> => {
        const object = await client.get(ref);
        return object
          ? describeWorkloadRollout(object)
          : {
              kind: ref.kind,
              namespace: ref.namespace ?? "",
              name: ref.name,
              ready: false,
              summary: "not found",
            };
      }),
    );
    const report: RolloutReport = {
      ready: workloads.every((w) => w.ready),
      elapsedMs: Date.now() - started,
      workloads,
    };
    options.onPoll?.(report);
    const remaining = deadline - Date.now();
    if (report.ready || remaining <= 0) return report;
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, remaining)));
  }
}
