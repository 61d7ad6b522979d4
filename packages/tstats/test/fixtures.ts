// Test builders. Expected label sets are written from the reference facts (part B6), not from the
// library's constants, so a wrong constant fails the tests.
import { type LocalWorkload, localWorkload, type WorkloadMetadata, workloadMetadata } from "../src/index.js";

/** Istio's HTTP label order (reference B6, golden file client_request_total.yaml.tmpl). */
export const REFERENCE_HTTP_LABELS = [
  "reporter",
  "source_workload",
  "source_canonical_service",
  "source_canonical_revision",
  "source_workload_namespace",
  "source_principal",
  "source_app",
  "source_version",
  "source_cluster",
  "destination_workload",
  "destination_workload_namespace",
  "destination_principal",
  "destination_app",
  "destination_version",
  "destination_service",
  "destination_canonical_service",
  "destination_canonical_revision",
  "destination_service_name",
  "destination_service_namespace",
  "destination_cluster",
  "request_protocol",
  "response_code",
  "grpc_response_status",
  "response_flags",
  "connection_security_policy",
];

/** TCP: the same without response_code and grpc_response_status. */
export const REFERENCE_TCP_LABELS = REFERENCE_HTTP_LABELS.filter(
  (l) => l !== "response_code" && l !== "grpc_response_status",
);

export const REFERENCE_BUCKETS = [
  "0.5",
  "1",
  "5",
  "10",
  "25",
  "50",
  "100",
  "250",
  "500",
  "1000",
  "2500",
  "5000",
  "10000",
  "30000",
  "60000",
  "300000",
  "600000",
  "1800000",
  "3600000",
  "+Inf",
];

export function workloadFixture(name: string, overrides: Partial<WorkloadMetadata> = {}): WorkloadMetadata {
  return workloadMetadata({
    instanceName: `${name}-7d9f-abcde`,
    namespace: "default",
    workloadName: `${name}-v1`,
    clusterId: "Kubernetes",
    canonicalService: name,
    canonicalRevision: "v1",
    app: name,
    version: "v1",
    owner: `kubernetes://apis/apps/v1/namespaces/default/deployments/${name}-v1`,
    ...overrides,
  });
}

export function localFixture(name: string, overrides: Partial<WorkloadMetadata> = {}): LocalWorkload {
  const w = workloadFixture(name, overrides);
  return localWorkload({
    ...w,
    nodeId: `sidecar~10.0.0.1~${w.instanceName}.${w.namespace}~${w.namespace}.svc.cluster.local`,
    istioVersion: "1.24.0",
  });
}

export interface ParsedSample {
  readonly name: string;
  readonly labels: Array<[string, string]>;
  readonly value: number;
}

/** A strict parser of the exposition lines (enough for our output), keeping label order. */
export function parseExposition(text: string): ParsedSample[] {
  const out: ParsedSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels: Array<[string, string]> = [];
    const body = m[2] ?? "";
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
    let consumed = 0;
    for (let lm = re.exec(body); lm !== null; lm = re.exec(body)) {
      labels.push([lm[1]!, lm[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\")]);
      consumed = re.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad labels: ${body}`);
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export function labelsOf(sample: ParsedSample): Record<string, string> {
  return Object.fromEntries(sample.labels);
}
