/**
 * Sidecar parsing: what istiod's validation rejects is an error, what meshctl does not apply is a
 * warning with the field path, and the parsed listeners keep the Sidecar's order.
 */
import { describe, expect, test } from "vitest";
import { parseMeshFile } from "./parse-documents.js";
import type { SidecarModel } from "./types.js";

function sidecarYaml(spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: s, namespace: demo }
spec:
${spec}`;
}

function parse(spec: string) {
  const parsed = parseMeshFile("s.yaml", sidecarYaml(spec));
  const item = parsed.items.find((i) => i.kind === "Sidecar");
  return {
    diagnostics: parsed.diagnostics.map((d) => `${d.severity} ${d.path}: ${d.reason}`),
    sidecar: item?.value as SidecarModel | undefined,
  };
}

describe("Sidecar ingress and egress", () => {
  test("ingress listeners and egress listeners with a port are read in order", () => {
    const { diagnostics, sidecar } = parse(`  ingress:
    - port: { number: 9080, protocol: HTTP, name: http }
      defaultEndpoint: 127.0.0.1:8080
    - port: { number: 9090, protocol: TCP }
      bind: 10.0.0.1
  egress:
    - port: { number: 5432, protocol: TCP }
      bind: 127.0.0.2
      hosts: ["./*"]
    - hosts: ["other/*"]`);
    expect(diagnostics).toEqual([]);
    expect(sidecar?.ingress).toEqual([
      { port: { number: 9080, protocol: "HTTP", name: "http" }, defaultEndpoint: "127.0.0.1:8080" },
      { port: { number: 9090, protocol: "TCP", name: "" }, bind: "10.0.0.1" },
    ]);
    expect(sidecar?.egress).toEqual([
      { hosts: ["./*"], port: { number: 5432, protocol: "TCP", name: "" }, bind: "127.0.0.2" },
      { hosts: ["other/*"] },
    ]);
    expect(sidecar?.egressHosts).toEqual(["./*", "other/*"]);
  });

  test("a Sidecar without egress has istiod's catch-all listener", () => {
    expect(parse(`  ingress: [{ port: { number: 80, protocol: HTTP } }]`).sidecar?.egress).toEqual([
      { hosts: ["*/*"] },
    ]);
  });

  test("what istiod's validation rejects is an error", () => {
    expect(
      parse(`  ingress:
    - port: { number: 9080, protocol: HTTP, targetPort: 8080 }
      defaultEndpoint: 10.0.0.1:8080
    - port: { number: 9080, protocol: HTTP }
  egress:
    - hosts: ["./*"]
    - port: { number: 80, protocol: HTTP }
      hosts: ["./*"]`).diagnostics,
    ).toEqual([
      "error spec.egress[0]: the egress listener without a port must be the last one (istiod rejects the Sidecar)",
      "error spec.ingress[0].port.targetPort: targetPort has no impact on Sidecars (istiod rejects it); remove it",
      'error spec.ingress[0].defaultEndpoint: defaultEndpoint must be of form 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port> or unix://<path>, got "10.0.0.1:8080"',
      "error spec.ingress: ports of ingress listeners must be unique (istiod rejects the Sidecar)",
    ]);
  });

  test("what meshctl does not apply is a warning at its path", () => {
    expect(
      parse(`  ingress:
    - port: { number: 9080 }
      captureMode: NONE
      connectionPool: { tcp: { maxConnections: 1 } }
      tls: { mode: SIMPLE }
      bogus: 1
  egress:
    - port: { number: 80 }
      hosts: ["./*"]`).diagnostics,
    ).toEqual([
      "warning spec.egress[0].port: a Sidecar egress port without a protocol (sniffed, UDP or HTTP_PROXY) is not supported by meshctl yet; no listener is generated for it (set HTTP, HTTP2, GRPC or TCP)",
      "warning spec.ingress[0].tls: Sidecar ingress tls is ignored, as istiod ignores it without ENABLE_TLS_ON_SIDECAR_INGRESS (and its certificates would come from Istio's agent); the port is served in plaintext",
      "warning spec.ingress[0].connectionPool: Sidecar ingress connectionPool is not supported by meshctl yet; ignored",
      "warning spec.ingress[0].port: a Sidecar ingress port without a protocol (sniffed by istiod, or UDP) is not supported by meshctl yet; it is served as TCP (set HTTP, HTTP2, GRPC or TCP)",
      'warning spec.ingress[0].bogus: unknown field "bogus"; ignored',
    ]);
  });
});
