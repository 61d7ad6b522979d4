/**
 * One measurement's pieces that depend only on the lab's plan: what the client runs, which
 * cgroups' CPU counts, and the Envoy sidecars' access logs joined with the client's trace.
 */
import type { AgentMode } from "./agent-protocol.js";
import {
  joinBreakdown,
  parseAccessLog,
  REQUEST_ID_HEADER,
  type SidecarTiming,
  type TracedRequest,
} from "./breakdown.js";
import { LogTail } from "./log-tail.js";
import { APP_PORT, accessLogOf, isGrpc, isMeshed, type LabPlan, podOf } from "./plan.js";
import type { LabSlot } from "./rounds.js";
import { LAB_MESH_NAMESPACE, LAB_XDS_PORT, PROXYLESS_SERVICE } from "./sidecar.js";
import type { LabBreakdown, LabCpuPart, LabScenario, ResolvedLabOptions } from "./types.js";

/**
 * What a scenario's client runs for one slot: the agent mode and its spec (HTTP load, or grpc-js
 * load dialing the server pod or, proxyless, an xds:/// target), with request ids for the trace.
 *
 * @example
 * const { mode, spec } = await loadSpecOf(plan, options, { scenario: "sidecar", rate: 1000, round: 1 });
 */
export async function loadSpecOf(
  plan: LabPlan,
  o: ResolvedLabOptions,
  slot: LabSlot,
): Promise<{ mode: AgentMode; spec: object }> {
  const client = podOf(plan, slot.scenario, "client");
  const server = podOf(plan, slot.scenario, "server");
  const rate = slot.rate === "max" ? { max: true } : { qps: slot.rate };
  const common = {
    connections: o.connections,
    durationMs: Math.round(o.durationSeconds * 1000),
    warmupMs: Math.round(o.warmupSeconds * 1000),
    payloadBytes: o.payloadBytes,
    timeoutMs: 10_000,
    pacing: o.pacing,
    trace: {
      header: REQUEST_ID_HEADER,
      idPrefix: `${plan.id}-${slot.scenario}-${slot.rate}-${slot.round}`,
    },
  };
  if (!isGrpc(slot.scenario)) {
    return { mode: "load", spec: { ...common, ...rate, target: `http://${server.ip}:${APP_PORT}/` } };
  }
  const grpc = { ...common, qps: slot.rate === "max" ? null : slot.rate };
  if (slot.scenario !== "grpc-proxyless") {
    return { mode: "grpc-load", spec: { ...grpc, target: `${server.ip}:${APP_PORT}` } };
  }
  const { renderBootstrap } = await import("@meshctl/xds");
  return {
    mode: "grpc-load",
    spec: {
      ...grpc,
      target: `xds:///${PROXYLESS_SERVICE}.${LAB_MESH_NAMESPACE}.svc.cluster.local:${APP_PORT}`,
      bootstrap: renderBootstrap({
        kind: "grpc",
        name: "client",
        namespace: LAB_MESH_NAMESPACE,
        server: `127.0.0.1:${LAB_XDS_PORT}`,
        ip: client.ip,
      }),
    },
  };
}

/** The cgroups whose CPU a scenario's measurement reports: each pod's app, and sidecar when meshed. */
export function cpuPartsOf(plan: LabPlan, scenario: LabScenario): [LabCpuPart, string][] {
  const client = podOf(plan, scenario, "client");
  const server = podOf(plan, scenario, "server");
  const parts: [LabCpuPart, string][] = [
    ["client-app", client.appCgroup],
    ["server-app", server.appCgroup],
  ];
  if (client.sidecar)
    parts.push(["client-sidecar", client.sidecarCgroup], ["server-sidecar", server.sidecarCgroup]);
  return parts;
}

/** Read positions in the access logs of the meshed scenarios' Envoy sidecars. */
export class SidecarAccessLogs {
  private readonly tails = new Map<LabScenario, [LogTail, LogTail]>();

  constructor(private readonly plan: LabPlan) {}

  /** The client's and the server's sidecar log of a meshed scenario; undefined otherwise. */
  of(scenario: LabScenario): [LogTail, LogTail] | undefined {
    if (!isMeshed(scenario)) return undefined;
    let tails = this.tails.get(scenario);
    if (!tails) {
      tails = [
        new LogTail(accessLogOf(this.plan, podOf(this.plan, scenario, "client"))),
        new LogTail(accessLogOf(this.plan, podOf(this.plan, scenario, "server"))),
      ];
      this.tails.set(scenario, tails);
    }
    return tails;
  }
}

/**
 * Joins a measurement's trace with both sidecars' new access log lines; waits (up to 3 s) for
 * Envoy to flush the last lines.
 */
export async function breakdownOf(
  logs: readonly [LogTail, LogTail],
  trace: readonly TracedRequest[],
): Promise<LabBreakdown> {
  const client = new Map<string, SidecarTiming>();
  const server = new Map<string, SidecarTiming>();
  const last = trace.filter((t) => !t[3]).at(-1)?.[0];
  const deadline = Date.now() + 3_000;
  for (;;) {
    parseAccessLog(await logs[0].read(), client);
    parseAccessLog(await logs[1].read(), server);
    if (!last || (client.has(last) && server.has(last)) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return joinBreakdown(trace, client, server);
}
