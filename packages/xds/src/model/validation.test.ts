import { describe, expect, test } from "vitest";
import { formatDiagnostic, formatXdsEvent } from "../server/format-event.js";
import { escapeControl } from "../server/log-text.js";
import { assembleMeshModel } from "./assemble.js";
import { parseMeshFile, parseMeshObject } from "./parse-documents.js";
import { MeshSnapshotBuilder } from "./snapshot-builder.js";
import type { ConfigDiagnostic } from "./types.js";

/** A VirtualService document; `spec` is YAML indented by two spaces. */
function vsYaml(name: string, spec: string, metadata = ""): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: demo
${metadata}spec:
${spec}`;
}

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: demo
spec:
  ports:
    - name: grpc
      port: 7070
`;

const short = (d: ConfigDiagnostic) => `${d.line}:${d.column} ${d.severity} ${d.path}: ${d.reason}`;

describe("fields meshctl does not read", () => {
  test("unknown fields are warned about at their exact path and key position, with a did-you-mean", () => {
    const text = vsYaml(
      "echo",
      `  hosts: [echo]
  bogusField: 1
  http:
    - nonsense: true
      timout: 1s
      route:
        - destination: { host: echo, subest: v1 }
`,
    );
    const parsed = parseMeshFile("vs.yaml", text);
    expect(parsed.valid).toBe(true);
    expect(parsed.diagnostics.map(short)).toEqual([
      '8:3 warning spec.bogusField: unknown field "bogusField"; ignored',
      '10:7 warning spec.http[0].nonsense: unknown field "nonsense"; ignored',
      '11:7 warning spec.http[0].timout: unknown field "timout"; ignored (did you mean "timeout"?)',
      '13:38 warning spec.http[0].route[0].destination.subest: unknown field "subest"; ignored (did you mean "subset"?)',
    ]);
    // The typo does not apply: no timeout, no subset.
    const vs = parsed.items[0];
    expect(vs?.kind === "VirtualService" && vs.value.http[0]).toMatchObject({
      destinations: [{ host: "echo.demo.svc.cluster.local", weight: 100 }],
    });
    expect(vs?.kind === "VirtualService" && vs.value.http[0]?.timeoutMs).toBeUndefined();
  });

  test("valid Istio fields meshctl does not apply are warned about as unsupported", () => {
    const parsed = parseMeshFile(
      "vs.yaml",
      vsYaml(
        "echo",
        `  hosts: [echo]
  http:
    - match: [{ uri: { prefix: /a }, statPrefix: a }]
      route:
        - destination: { host: echo }
      retries: { attempts: 2, backoff: 1s }
`,
      ),
    );
    expect(parsed.diagnostics.map((d) => `${d.path}: ${d.reason}`)).toEqual([
      "spec.http[0].match[0].statPrefix: statPrefix is not supported (Istio's proxy build only); ignored",
      "spec.http[0].retries.backoff: backoff is not supported yet; ignored",
    ]);
    expect(parsed.valid).toBe(true);
  });

  test("gateways: mesh applies; other gateways are named; gateway-only VirtualServices route nothing", () => {
    const mesh = parseMeshFile(
      "a.yaml",
      vsYaml(
        "a",
        "  hosts: [echo]\n  gateways: [mesh, my-gw]\n  http:\n    - route:\n        - destination: { host: echo }\n",
      ),
    );
    expect(mesh.diagnostics.map((d) => `${d.path}: ${d.reason}`)).toEqual([
      'spec.gateways[1]: gateway my-gw is not served by meshctl; ignored (the VirtualService applies to sidecars through "mesh")',
    ]);
    const gwOnly = parseMeshFile(
      "b.yaml",
      vsYaml(
        "b",
        "  hosts: [echo]\n  gateways: [my-gw]\n  http:\n    - route:\n        - destination: { host: echo }\n",
      ),
    );
    expect(gwOnly.diagnostics.map((d) => d.path)).toEqual(["spec.gateways"]);
    expect(gwOnly.diagnostics[0]?.reason).toMatch(/applies only to gateways \(my-gw\).*add "mesh"/);
    const item = gwOnly.items[0];
    expect(item?.kind === "VirtualService" && item.value.hosts).toEqual([]);
  });

  test("each kind reports its unknown fields; a field the parser already reported is not reported twice", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: demo }
spec:
  host: echo
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
    tls: { mode: ISTIO_MUTUAL }
    outlierDetection: { consecutive5xxErrors: 3, intervall: 10s }
  subsets:
    - name: v1
      labels: { version: v1, anything-goes: here }
      lables: { version: v1 }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: demo }
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  ports: [{ number: 443, name: https, protocol: TLS }]
  resolution: STATIC
  endpoints: [{ address: 1.2.3.4, networks: x }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: vm, namespace: demo }
spec: { address: 10.0.0.9, serviceAccount: vm, network: n1 }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: demo }
spec:
  ingress:
    - port: { number: 8080, protocol: HTTP, nmae: http }
      defaultEndpoint: 127.0.0.1:8080
      tls: { mode: SIMPLE }
  egress:
    - hosts: ["./*"]
      port: { number: 80, protocol: HTTP }
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: demo }
spec:
  hosts: [echo]
  tcp: [{ route: [{ destination: { host: echo } }] }]
  http:
    - route: [{ destination: { host: echo } }]
      match: [{ uri: { prefix: /, exakt: /a } }]
`;
    const parsed = parseMeshFile("all.yaml", text);
    expect(parsed.diagnostics.map((d) => `${d.severity} ${d.path}: ${d.reason}`)).toEqual([
      "warning spec.trafficPolicy.tls.mode: ISTIO_MUTUAL needs workload certificates from Istio's agent (SDS), which meshctl does not serve; the cluster is generated without TLS",
      'warning spec.trafficPolicy.outlierDetection.intervall: unknown field "intervall"; ignored (did you mean "interval"?)',
      'warning spec.subsets[0].lables: unknown field "lables"; ignored (did you mean "labels"?)',
      'warning spec.endpoints[0].networks: unknown field "networks"; ignored (did you mean "network"?)',
      "warning spec.network: Istio field not supported by meshctl; ignored",
      "warning spec.ingress[0].tls: Sidecar ingress tls is ignored, as istiod ignores it without ENABLE_TLS_ON_SIDECAR_INGRESS (and its certificates would come from Istio's agent); the port is served in plaintext",
      'warning spec.ingress[0].port.nmae: unknown field "nmae"; ignored (did you mean "name"?)',
      // The parser's own error names the extra key; it is not reported again as unknown.
      "error spec.http[0].match[0].uri: expected exactly one of exact, prefix or regex, got prefix, exakt",
    ]);
  });

  test("Kubernetes bookkeeping, status, labels and annotations are never reported; typos in metadata are", () => {
    const text = `apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: demo
  uid: 0b6f
  resourceVersion: "123"
  generation: 2
  creationTimestamp: "2024-01-01T00:00:00Z"
  managedFields: [{ manager: kubectl }]
  ownerReferences: []
  annotations: { kubectl.kubernetes.io/last-applied-configuration: "{}" }
  labels: { app: echo, whatever: x }
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  type: ClusterIP
  sessionAffinity: None
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  internalTrafficPolicy: Cluster
  selector: { app: echo }
  ports:
    - { name: grpc, port: 7070, protocol: TCP, appProtocol: grpc, targetPort: 7070 }
status:
  loadBalancer: {}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-x
  namespace: demo
  lables: { kubernetes.io/service-name: echo }
  labels: { kubernetes.io/service-name: echo, endpointslice.kubernetes.io/managed-by: x }
addressType: IPv4
ports: [{ name: grpc, port: 7070, protocol: TCP }]
endpoints:
  - addresses: [10.1.0.1]
    conditions: { ready: true, serving: true, terminating: false }
    targetRef: { kind: Pod, name: echo-1, namespace: demo, uid: abc }
    nodeName: n1
    zone: z1
`;
    const parsed = parseMeshFile("k8s.yaml", text);
    expect(parsed.diagnostics.map((d) => `${d.path}: ${d.reason}`)).toEqual([
      'metadata.lables: unknown field "lables"; ignored (did you mean "labels"?)',
    ]);
  });

  test("an invalid field does not make its siblings 'ignored'", () => {
    const parsed = parseMeshFile(
      "eps.yaml",
      `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-x, namespace: demo, labels: { kubernetes.io/service-name: echo } }
ports: [{ name: grpc, port: 99999, protocol: TCP }]
endpoints: [{ addresses: [10.1.0.1] }]
`,
    );
    expect(parsed.diagnostics.map((d) => `${d.severity} ${d.path}: ${d.reason}`)).toEqual([
      "error ports[0].port: must be <= 65535, got 99999",
    ]);
  });

  test("objects from an API (ObjectReader) carry Kind/namespace/name and the same paths", () => {
    const parsed = parseMeshObject({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "echo", namespace: "demo", uid: "u1", managedFields: [{}], generation: 3 },
      spec: {
        hosts: ["echo"],
        bogusField: 1,
        http: [{ nonsense: true, route: [{ destination: { host: "echo", port: { numbr: 80 } } }] }],
        constructor: 1,
      },
      status: { validationMessages: [] },
    });
    expect(parsed.valid).toBe(true);
    expect(parsed.diagnostics).toEqual([
      {
        severity: "warning",
        file: "VirtualService/demo/echo",
        line: 0,
        column: 0,
        path: "spec.bogusField",
        reason: 'unknown field "bogusField"; ignored',
      },
      {
        severity: "warning",
        file: "VirtualService/demo/echo",
        line: 0,
        column: 0,
        path: "spec.http[0].nonsense",
        reason: 'unknown field "nonsense"; ignored',
      },
      {
        severity: "warning",
        file: "VirtualService/demo/echo",
        line: 0,
        column: 0,
        path: "spec.http[0].route[0].destination.port.numbr",
        reason: 'unknown field "numbr"; ignored (did you mean "number"?)',
      },
      {
        severity: "warning",
        file: "VirtualService/demo/echo",
        line: 0,
        column: 0,
        path: "spec.constructor",
        reason: 'unknown field "constructor"; ignored',
      },
    ]);
  });

  test("a flood of unknown fields is capped per object", () => {
    const spec = {
      hosts: ["echo"],
      ...Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, i])),
    };
    const parsed = parseMeshObject({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "echo", namespace: "demo" },
      spec,
    });
    expect(parsed.diagnostics).toHaveLength(21);
    expect(parsed.diagnostics[20]?.reason).toBe(
      "80 more unknown or unsupported fields ignored (the first 20 are listed)",
    );
  });
});

describe("cross-object findings", () => {
  const items = (...texts: [string, string][]) =>
    texts.flatMap(([file, text]) => {
      const parsed = parseMeshFile(file, text);
      expect(parsed.valid, file).toBe(true);
      return [...parsed.items];
    });
  const route = (host: string) =>
    `  hosts: [echo]\n  http:\n    - route:\n        - destination: { host: ${host} }\n`;

  test("two VirtualServices for one host: the older (creationTimestamp) wins, the other is ignored for that host", () => {
    const { model, diagnostics } = assembleMeshModel(
      items(
        ["svc.yaml", SERVICE],
        ["a.yaml", vsYaml("a-new", route("echo"), '  creationTimestamp: "2025-02-01T00:00:00Z"\n')],
        ["b.yaml", vsYaml("b-old", route("echo"), '  creationTimestamp: "2024-01-01T00:00:00Z"\n')],
      ),
    );
    expect(model.virtualServices.map((v) => [v.name, v.hosts])).toEqual([
      ["a-new", []],
      ["b-old", ["echo.demo.svc.cluster.local"]],
    ]);
    expect(diagnostics).toEqual([
      {
        severity: "warning",
        file: "a.yaml",
        line: 1,
        column: 1,
        path: "spec.hosts[0]",
        reason:
          "VirtualService demo/a-new (a.yaml:1) also routes host echo.demo.svc.cluster.local, which VirtualService demo/b-old (b.yaml:1) already routes; ignored for this host (the oldest VirtualService for a host wins: by creationTimestamp, else the one already serving, else by name)",
      },
    ]);
  });

  test("without timestamps the VirtualService already serving keeps the host; a newcomer does not take over", () => {
    const builder = new MeshSnapshotBuilder();
    const svc = items(["svc.yaml", SERVICE]);
    const z = items(["z.yaml", vsYaml("z-first", route("echo"))]);
    const first = builder.build(
      [...svc, ...z].map((i, n) => [String(n), i] as const),
      [],
      [],
    );
    expect(first.model.virtualServices.map((v) => v.name)).toEqual(["z-first"]);
    const a = items(["a.yaml", vsYaml("a-later", route("echo"))]);
    const second = builder.build(
      [...svc, ...a, ...z].map((i, n) => [String(n), i] as const),
      [],
      [],
    );
    expect(second.model.virtualServices.map((v) => [v.name, v.hosts.length])).toEqual([
      ["a-later", 0],
      ["z-first", 1],
    ]);
    expect(second.diagnostics.map((d) => d.reason)).toEqual([
      expect.stringMatching(
        /^VirtualService demo\/a-later \(a\.yaml:1\) also routes host echo\.demo\.svc\.cluster\.local, which VirtualService demo\/z-first \(z\.yaml:1\) already routes; ignored for this host \(the oldest VirtualService for a host wins: by creationTimestamp, else the one already serving, else by name\)$/,
      ),
    ]);
    // From scratch (a restart), neither is known to be older: by name.
    const fresh = assembleMeshModel([...svc, ...a, ...z]);
    expect(fresh.model.virtualServices.map((v) => [v.name, v.hosts.length])).toEqual([
      ["a-later", 1],
      ["z-first", 0],
    ]);
  });

  test("a route to a host nothing defines is an error that does not reject the object", () => {
    const parsed = parseMeshFile(
      "vs.yaml",
      vsYaml(
        "echo",
        `  hosts: [echo]
  http:
    - route:
        - destination: { host: echo }
          weight: 90
        - destination: { host: nothere }
          weight: 10
`,
      ),
    );
    expect(parsed.valid).toBe(true);
    const builder = new MeshSnapshotBuilder();
    const snap = builder.build(
      [...items(["svc.yaml", SERVICE]), ...parsed.items].map((i, n) => [String(n), i] as const),
      [],
      [],
    );
    expect(snap.rejectedFiles).toEqual([]);
    expect(snap.model.virtualServices.map((v) => v.name)).toEqual(["echo"]);
    expect(snap.diagnostics).toEqual([
      {
        severity: "error",
        file: "vs.yaml",
        line: 1,
        column: 1,
        path: "spec.http[0].route[1].destination.host",
        reason:
          "VirtualService demo/echo routes to nothere.demo.svc.cluster.local, which no Service or ServiceEntry defines: 10% of the traffic of route echo-0 fails (503/UNAVAILABLE)",
      },
    ]);
  });
});

describe("log text from clients and files", () => {
  test("escapeControl escapes newlines, ESC, C0/C1 controls and line separators, and truncates", () => {
    expect(escapeControl("ok plain text, ünïcode")).toBe("ok plain text, ünïcode");
    expect(escapeControl("bad\n2026-12-06T00:00:00Z config applied")).toBe(
      "bad\\n2026-12-06T00:00:00Z config applied",
    );
    expect(escapeControl("\r\t\u001b[2J\u0000\u007f\u0085\u2028")).toBe(
      "\\r\\t\\x1b[2J\\x00\\x7f\\x85\\u2028",
    );
    expect(escapeControl("x".repeat(2000), 10)).toBe("xxxxxxxxxx…(+1990 chars)");
    expect(escapeControl("x".repeat(1024))).toBe("x".repeat(1024));
  });

  test("a NACK detail, node id or diagnostic cannot forge a log line", () => {
    const line = formatXdsEvent({
      type: "nack",
      connection: "c1",
      nodeId: "evil\nnode",
      kind: "cds",
      version: "v1",
      nonce: "1\r",
      message: "boom\n2026-12-06T00:00:00.000Z config applied generation=99",
    });
    expect(line.split("\n")).toHaveLength(1);
    expect(line).toContain("node=evil\\nnode nonce=1\\r: boom\\n2026");
    const diag = formatDiagnostic({
      severity: "warning",
      file: "a\u001b[31m.yaml",
      line: 3,
      column: 5,
      path: "spec.x\ny",
      reason: 'unknown field "x\ny"; ignored',
    });
    expect(diag).toBe('a\\x1b[31m.yaml:3:5 warning: spec.x\\ny: unknown field "x\\ny"; ignored');
  });

  test("a fix is reported as resolved, never as rejected", () => {
    const d: ConfigDiagnostic = {
      severity: "error",
      file: "svc.yaml",
      line: 8,
      column: 13,
      path: "spec.ports[0].port",
      reason: "must be <= 65535, got 99999",
    };
    expect(
      formatXdsEvent({
        type: "diagnostics-changed",
        rejectedFiles: [],
        newDiagnostics: [],
        resolvedDiagnostics: [d],
      }),
    ).toBe("config problems resolved (served model unchanged); 1 resolved");
    expect(
      formatXdsEvent({
        type: "diagnostics-changed",
        rejectedFiles: ["svc.yaml"],
        newDiagnostics: [d],
        resolvedDiagnostics: [],
      }),
    ).toBe("config problems found (served model unchanged); 1 new error; last good kept for: svc.yaml");
  });
});
