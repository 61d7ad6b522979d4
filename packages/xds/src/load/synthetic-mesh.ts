/**
 * The synthetic mesh of `meshctl xds load`: Istio YAML (ServiceEntry, VirtualService,
 * DestinationRule, Sidecar) that meshctl and istiod both read, plus the churn that rewrites it.
 * Addresses are data only: no traffic is ever sent to them.
 */
import { MeshctlError } from "@meshctl/core";
import { stringify } from "yaml";

export const SHARED_NAMESPACE = "shared";
export const SERVICE_PORT = 8080;
/** Base endpoint addresses live in 10.16.0.0/12; churn markers in 10.128.0.0/9, so they never collide. */
const BASE_NETWORK = (10 << 24) | (16 << 16);
const BASE_SIZE = 1 << 20;
const MARKER_NETWORK = (10 << 24) | (128 << 16);
const MARKER_SIZE = 1 << 23;

export interface SyntheticMeshOptions {
  /** Default 1000. */
  readonly services?: number;
  /** Endpoints per service, default 10. */
  readonly endpoints?: number;
  /** Namespaces including the shared one, default 50. */
  readonly namespaces?: number;
  /** Fraction of services with a VirtualService + DestinationRule, default 0.1. */
  readonly routedFraction?: number;
  /** One `Sidecar` per namespace limiting egress to `./*`, `shared/*`, `istio-system/*`. Default true. */
  readonly scoping?: boolean;
}

export interface SyntheticEndpoint {
  readonly address: string;
  readonly version: "v1" | "v2";
}

export interface SyntheticService {
  readonly index: number;
  readonly name: string;
  readonly namespace: string;
  readonly host: string;
  /** Relative path of the file holding its ServiceEntry (and VirtualService/DestinationRule). */
  readonly file: string;
  readonly routed: boolean;
  readonly endpoints: readonly SyntheticEndpoint[];
  /** Weights of subsets v1 / v2 (routed services only). */
  readonly weights: readonly [number, number];
  /** Name of the VirtualService's http route: the route-churn marker. */
  readonly routeName: string;
}

export interface SyntheticMeshDescription {
  readonly namespaces: readonly string[];
  readonly services: readonly SyntheticService[];
  readonly endpointsPerService: number;
  readonly scoping: boolean;
}

export interface SyntheticMesh {
  /** Relative path -> YAML text. */
  readonly files: Readonly<Record<string, string>>;
  readonly description: SyntheticMeshDescription;
}

function ipv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The k-th endpoint address of service i (1-based inside 10.16.0.0/12, so never 10.16.0.0). */
export function baseEndpointAddress(service: number, k: number, endpointsPerService: number): string {
  const offset = service * endpointsPerService + k + 1;
  if (offset >= BASE_SIZE)
    throw new MeshctlError(
      "XDS_LOAD_MESH_TOO_LARGE",
      `services x endpoints exceeds the ${BASE_SIZE - 1} addresses of 10.16.0.0/12.`,
      { kind: "usage", suggestions: ["Lower --services or --endpoints."] },
    );
  return ipv4(BASE_NETWORK + offset);
}

/** The unique churn marker address for a change sequence number (in 10.128.0.0/9). */
export function markerAddress(seq: number): string {
  if (seq < 0 || seq + 1 >= MARKER_SIZE)
    throw new MeshctlError("XDS_LOAD_TOO_MANY_CHANGES", `churn sequence ${seq} exceeds 10.128.0.0/9.`, {
      kind: "usage",
      suggestions: ["Lower --churn-rate or --churn-seconds."],
    });
  return ipv4(MARKER_NETWORK + seq + 1);
}

export function namespaceNames(count: number): string[] {
  const width = Math.max(2, String(Math.max(0, count - 2)).length);
  const out: string[] = [];
  for (let i = 0; i < count - 1; i++) out.push(`ns-${String(i).padStart(width, "0")}`);
  out.push(SHARED_NAMESPACE);
  return out;
}

/** Evenly spread: exactly floor(n * fraction) of n services are routed. */
function isRouted(i: number, fraction: number): boolean {
  return Math.floor((i + 1) * fraction) > Math.floor(i * fraction);
}

function endpointVersion(k: number): "v1" | "v2" {
  return k % 5 === 4 ? "v2" : "v1";
}

/** A service of the synthetic mesh by index (new services from churn use indexes past the initial count). */
export function syntheticService(
  index: number,
  namespace: string,
  endpointsPerService: number,
  routed: boolean,
): SyntheticService {
  const name = `svc-${index}`;
  const endpoints: SyntheticEndpoint[] = [];
  for (let k = 0; k < endpointsPerService; k++)
    endpoints.push({
      address: baseEndpointAddress(index, k, endpointsPerService),
      version: endpointVersion(k),
    });
  return {
    index,
    name,
    namespace,
    host: `${name}.${namespace}.svc.cluster.local`,
    file: `${namespace}/${name}.yaml`,
    routed,
    endpoints,
    weights: [90, 10],
    routeName: "default-split",
  };
}

/** The YAML file of one service: its ServiceEntry, plus VirtualService and DestinationRule when routed. */
export function renderServiceFile(service: SyntheticService): string {
  // Written by hand (not yaml.stringify): churn renders 100 of these a second, and the harness
  // shares the machine with the control plane it measures. `synthetic-mesh.test.ts` parses it.
  // Every value here is a generated name, host or IP: plain YAML scalars, no quoting needed.
  const q = (v: string) => v;
  const meta = `metadata:\n  name: ${q(service.name)}\n  namespace: ${q(service.namespace)}\n`;
  const endpoints = service.endpoints
    .map((e) => `    - address: ${q(e.address)}\n      labels:\n        version: ${q(e.version)}\n`)
    .join("");
  let text =
    `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n${meta}spec:\n  hosts:\n    - ${q(service.host)}\n` +
    `  location: MESH_INTERNAL\n  resolution: STATIC\n  ports:\n    - number: ${SERVICE_PORT}\n      name: http-web\n      protocol: HTTP\n` +
    `  endpoints:\n${endpoints}`;
  if (service.routed) {
    text +=
      `---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n${meta}spec:\n  hosts:\n    - ${q(service.host)}\n` +
      `  http:\n    - name: ${q(service.routeName)}\n      route:\n` +
      `        - destination:\n            host: ${q(service.host)}\n            subset: v1\n          weight: ${service.weights[0]}\n` +
      `        - destination:\n            host: ${q(service.host)}\n            subset: v2\n          weight: ${service.weights[1]}\n`;
    text +=
      `---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n${meta}spec:\n  host: ${q(service.host)}\n` +
      "  subsets:\n    - name: v1\n      labels:\n        version: v1\n    - name: v2\n      labels:\n        version: v2\n";
  }
  return text;
}

function renderSidecarFile(namespace: string): string {
  return stringify({
    apiVersion: "networking.istio.io/v1",
    kind: "Sidecar",
    metadata: { name: "default", namespace },
    spec: { egress: [{ hosts: ["./*", `${SHARED_NAMESPACE}/*`, "istio-system/*"] }] },
  });
}

function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new MeshctlError(
      "XDS_LOAD_INVALID_OPTION",
      `${name} must be an integer from ${min} to ${max}, got ${value}.`,
      { kind: "usage" },
    );
}

/**
 * Generates the synthetic mesh: one file per service (`<ns>/svc-<i>.yaml`) and, with scoping,
 * one `Sidecar` per namespace (`<ns>/sidecar.yaml`).
 *
 * @example
 * const { files, description } = generateSyntheticMesh({ services: 100, namespaces: 5 });
 * files["ns-00/svc-0.yaml"]; // ServiceEntry (+ VirtualService/DestinationRule when routed)
 * description.services.filter((s) => s.routed).length; // 10
 */
export function generateSyntheticMesh(options: SyntheticMeshOptions = {}): SyntheticMesh {
  const count = options.services ?? 1000;
  const endpointsPerService = options.endpoints ?? 10;
  const nsCount = options.namespaces ?? 50;
  const routedFraction = options.routedFraction ?? 0.1;
  const scoping = options.scoping ?? true;
  checkCount("services", count, 1, 100_000);
  checkCount("endpoints", endpointsPerService, 1, 1000);
  checkCount("namespaces", nsCount, 1, 10_000);
  if (!(routedFraction >= 0 && routedFraction <= 1))
    throw new MeshctlError("XDS_LOAD_INVALID_OPTION", `routed must be within 0..1, got ${routedFraction}.`, {
      kind: "usage",
    });
  const namespaces = namespaceNames(nsCount);
  const services: SyntheticService[] = [];
  const files: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const ns = namespaces[i % namespaces.length] as string;
    const service = syntheticService(i, ns, endpointsPerService, isRouted(i, routedFraction));
    services.push(service);
    files[service.file] = renderServiceFile(service);
  }
  if (scoping) for (const ns of namespaces) files[`${ns}/sidecar.yaml`] = renderSidecarFile(ns);
  return { files, description: { namespaces, services, endpointsPerService, scoping } };
}

/** Whether a proxy in `proxyNamespace` sees services of `serviceNamespace` under this mesh's Sidecars. */
export function meshVisible(
  description: Pick<SyntheticMeshDescription, "scoping">,
  proxyNamespace: string,
  serviceNamespace: string,
): boolean {
  return !description.scoping || proxyNamespace === serviceNamespace || serviceNamespace === SHARED_NAMESPACE;
}
