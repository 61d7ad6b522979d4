/**
 * The sync state of connected proxies, from the control plane's debug endpoint `/debug/clients`
 * (one entry per ADS stream: node id, and per xDS type what was sent, ACKed and NACKed).
 */
import type { CoreV1Api } from "@kubernetes/client-node";
import { clusterFactError } from "./api-client.js";
import type { ControlPlaneSync, Gathered, ProxySyncFact, ServiceFact, TypeSyncFact } from "./types.js";

/** meshctl's debug HTTP port (`meshctl xds serve --debug-port`), also Istio's monitoring port. */
export const CONTROL_PLANE_DEBUG_PORT = 15014;
const DEBUG_PORT_NAMES = new Set(["http-debug", "debug", "http-monitoring"]);
const CLOCK_SKEW_TOLERANCE_MS = 2000;

type Json = Record<string, unknown>;

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/**
 * Reads a `/debug/clients` answer. Throws when it is not one (e.g. another program on the port).
 *
 * @example
 * parseDebugClients(await (await fetch("http://127.0.0.1:15014/debug/clients")).json());
 */
export function parseDebugClients(body: unknown): ProxySyncFact[] {
  const clients = (body as Json | null)?.clients;
  if (!Array.isArray(clients)) throw new Error('the answer has no "clients" array');
  return clients.map((raw, i): ProxySyncFact => {
    const c = raw as Json;
    if (typeof c?.nodeId !== "string") throw new Error(`clients[${i}] has no nodeId`);
    const types: Record<string, TypeSyncFact> = {};
    for (const [kind, t] of Object.entries((c.types as Json | undefined) ?? {})) {
      const w = t as Json;
      types[kind] = {
        lastVersionSent: str(w.lastVersionSent),
        lastSentAt: str(w.lastSentAt),
        ackedVersion: str(w.ackedVersion),
        nackedVersion: str(w.nackedVersion),
        lastNackError: str(w.lastNackError),
        lastNackAt: str(w.lastNackAt),
      };
    }
    return {
      nodeId: c.nodeId,
      namespace: str(c.namespace) ?? "",
      proxyType: str(c.proxyType) ?? "unknown",
      protocol: str(c.protocol) ?? "",
      connectedAt: str(c.connectedAt),
      types,
      ...capabilitiesOf(c),
    };
  });
}

/** The capability fields of a `/debug/clients` entry (control planes from before them have none). */
function capabilitiesOf(c: Json): Pick<ProxySyncFact, "capabilities" | "skippedFilters"> {
  const caps = c.capabilities as Json | undefined;
  const skipped = Array.isArray(c.skippedFilters) ? (c.skippedFilters as Json[]) : undefined;
  return {
    ...(caps && typeof caps === "object"
      ? {
          capabilities: {
            userAgent: str(caps.userAgent),
            buildVersion: str(caps.buildVersion),
            extensionCount: typeof caps.extensionCount === "number" ? caps.extensionCount : 0,
          },
        }
      : {}),
    ...(skipped
      ? {
          skippedFilters: skipped
            .filter((f) => typeof f?.name === "string")
            .map((f) => ({ name: f.name as string, reason: str(f.reason) ?? "" })),
        }
      : {}),
  };
}

function syncFrom(
  body: unknown,
  dateHeader: string | null | undefined,
  request: string,
): Gathered<ControlPlaneSync> {
  try {
    const proxies = parseDebugClients(body);
    // Push times are the control plane's clock. HTTP Date has whole seconds only: trust our own
    // clock unless the two disagree by more than that (skew), then measure from theirs.
    const local = Date.now();
    const remote = dateHeader ? Date.parse(dateHeader) : Number.NaN;
    const now =
      Number.isFinite(remote) && Math.abs(remote - local) > CLOCK_SKEW_TOLERANCE_MS ? remote : local;
    return { ok: true, value: { now: new Date(now).toISOString(), proxies } };
  } catch (error) {
    return {
      ok: false,
      error: {
        code: "CONTROL_PLANE_BAD_RESPONSE",
        message: `not a meshctl /debug/clients answer: ${error instanceof Error ? error.message : String(error)}`,
        request,
        httpStatus: null,
      },
    };
  }
}

/**
 * Asks a control plane's debug endpoint directly (`--control-plane URL`). Never throws.
 *
 * @example
 * const sync = await fetchControlPlaneSync("http://127.0.0.1:15014", 5000);
 * if (sync.ok) sync.value.proxies.length;
 */
export async function fetchControlPlaneSync(
  baseUrl: string,
  timeoutMs: number,
): Promise<Gathered<ControlPlaneSync>> {
  const url = /\/debug\/clients\/?$/.test(baseUrl) ? baseUrl : `${baseUrl.replace(/\/+$/, "")}/debug/clients`;
  const request = `GET ${url}`;
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: "application/json" },
    });
  } catch (error) {
    const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const message =
      e.name === "TimeoutError" || e.name === "AbortError"
        ? `no answer within ${timeoutMs} ms`
        : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(error));
    return { ok: false, error: { code: "CONTROL_PLANE_UNREACHABLE", message, request, httpStatus: null } };
  }
  const text = await res.text();
  if (!res.ok) {
    return {
      ok: false,
      error: {
        code: "CONTROL_PLANE_UNREACHABLE",
        message: `HTTP ${res.status}: ${text.slice(0, 300).trim()}`,
        request,
        httpStatus: res.status,
      },
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return syncFrom(body, res.headers.get("date"), request);
}

/**
 * Asks the control plane through the API server's service proxy
 * (`/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/debug/clients`), so diagnose needs no
 * port-forward and no network path to the pods. Never throws.
 *
 * @example
 * await fetchControlPlaneSyncViaServiceProxy(core, { namespace: "meshctl-system", service: "meshctl-xds", port: "http-debug" });
 */
export async function fetchControlPlaneSyncViaServiceProxy(
  core: CoreV1Api,
  target: { readonly namespace: string; readonly service: string; readonly port: string },
): Promise<Gathered<ControlPlaneSync>> {
  const request = `GET services/proxy ${target.namespace}/${target.service}:${target.port}/debug/clients`;
  try {
    const res = await core.connectGetNamespacedServiceProxyWithPathWithHttpInfo({
      name: `${target.service}:${target.port}`,
      namespace: target.namespace,
      path: "debug/clients",
    });
    let body: unknown;
    try {
      body = JSON.parse(res.data);
    } catch {
      body = undefined;
    }
    return syncFrom(body, res.headers.date, request);
  } catch (error) {
    const e = clusterFactError(error, request);
    // 503 "no endpoints available": the API server is fine, the control plane is not serving.
    return {
      ok: false,
      error: e.code === "KUBE_FORBIDDEN" ? e : { ...e, code: "CONTROL_PLANE_UNREACHABLE" },
    };
  }
}

/**
 * The meshctl Service that exposes the debug endpoint, and the port to ask it on.
 *
 * @example
 * findControlPlaneService(components.services); // { namespace: "meshctl-system", service: "meshctl-xds", port: "http-debug" }
 */
export function findControlPlaneService(
  services: readonly ServiceFact[],
): { namespace: string; service: string; port: string } | undefined {
  for (const svc of services) {
    const port =
      svc.ports.find((p) => p.name !== null && DEBUG_PORT_NAMES.has(p.name)) ??
      svc.ports.find(
        (p) => p.port === CONTROL_PLANE_DEBUG_PORT || p.targetPort === String(CONTROL_PLANE_DEBUG_PORT),
      );
    if (port) return { namespace: svc.namespace, service: svc.name, port: port.name ?? String(port.port) };
  }
  return undefined;
}
