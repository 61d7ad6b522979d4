/** Builders that write mesh YAML into a real directory (tests and the bench lab). */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";

type Obj = Record<string, unknown>;

export function k8sService(o: {
  name: string;
  namespace: string;
  port: number;
  portName?: string;
  protocol?: string;
  selector?: Record<string, string>;
}): Obj {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      ...(o.selector ? { selector: o.selector } : {}),
      ports: [{ name: o.portName ?? "grpc", port: o.port, appProtocol: o.protocol ?? "grpc" }],
    },
  };
}

export function endpointSlice(o: {
  name: string;
  namespace: string;
  service: string;
  portName?: string;
  labels?: Record<string, string>;
  endpoints: readonly { address?: string; port: number; zone?: string; ready?: boolean }[];
}): Obj[] {
  // One slice per distinct port: EndpointSlice ports apply to all its endpoints.
  const byPort = new Map<number, (typeof o.endpoints)[number][]>();
  for (const e of o.endpoints) byPort.set(e.port, [...(byPort.get(e.port) ?? []), e]);
  return [...byPort.entries()].map(([port, eps], i) => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${o.name}-${i}`,
      namespace: o.namespace,
      labels: { "kubernetes.io/service-name": o.service, ...(o.labels ?? {}) },
    },
    addressType: "IPv4",
    ports: [{ name: o.portName ?? "grpc", port }],
    endpoints: eps.map((e) => ({
      addresses: [e.address ?? "127.0.0.1"],
      conditions: { ready: e.ready ?? true },
      ...(e.zone ? { zone: e.zone } : {}),
    })),
  }));
}

export function virtualService(o: { name: string; namespace: string; hosts: string[]; http: Obj[] }): Obj {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: o.name, namespace: o.namespace },
    spec: { hosts: o.hosts, http: o.http },
  };
}

export function destinationRule(o: {
  name: string;
  namespace: string;
  host: string;
  subsets?: { name: string; labels: Record<string, string> }[];
  trafficPolicy?: Obj;
}): Obj {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      host: o.host,
      ...(o.trafficPolicy ? { trafficPolicy: o.trafficPolicy } : {}),
      ...(o.subsets ? { subsets: o.subsets } : {}),
    },
  };
}

/** Serializes objects as a multi-document YAML string. */
export function toYaml(objects: readonly Obj[]): string {
  return objects.map((o) => stringify(o)).join("---\n");
}

/**
 * Writes `files` (name -> objects or raw text) into `dir`, creating it.
 *
 * @example
 * await writeMeshFiles(dir, { "echo.yaml": [k8sService({ name: "echo", namespace: "demo", port: 7070 })] });
 */
export async function writeMeshFiles(
  dir: string,
  files: Readonly<Record<string, readonly Obj[] | string | null>>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    if (content === null) await rm(path, { force: true });
    else await writeFile(path, typeof content === "string" ? content : toYaml(content));
  }
}
