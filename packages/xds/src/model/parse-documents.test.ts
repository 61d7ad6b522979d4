import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "./assemble.js";
import { parseDurationMs } from "./field-reader.js";
import { parseMeshFile, resolveHost } from "./parse-documents.js";

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

describe("parseMeshFile", () => {
  test("parses a Service and reports nothing", () => {
    const parsed = parseMeshFile("svc.yaml", SERVICE);
    expect(parsed.valid).toBe(true);
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.items[0]).toMatchObject({
      kind: "Service",
      name: "echo",
      namespace: "demo",
      ports: [{ name: "grpc", port: 7070, targetPort: 7070 }],
    });
  });

  test("points validation errors at the field's line and path", () => {
    const text = `${SERVICE}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: demo }
spec:
  hosts: [echo]
  http:
    - route:
        - destination: { host: echo, subset: v1 }
          weight: 70
        - destination: { host: echo, subset: v2 }
          weight: 20
`;
    const parsed = parseMeshFile("mesh.yaml", text);
    expect(parsed.valid).toBe(false);
    expect(parsed.diagnostics).toEqual([
      {
        severity: "error",
        file: "mesh.yaml",
        line: 18,
        column: 9,
        path: "spec.http[0].route",
        reason: "destination weights must add up to 100, got 90",
      },
    ]);
  });

  test("reports YAML syntax errors with their line", () => {
    const parsed = parseMeshFile(
      "bad.yaml",
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  bad: : :\n",
    );
    expect(parsed.valid).toBe(false);
    expect(parsed.diagnostics[0]).toMatchObject({ file: "bad.yaml", line: 5, severity: "error" });
    expect(parsed.diagnostics[0]?.reason).toMatch(/^YAML syntax/);
  });

  test("unknown kinds are reported as warnings and skipped", () => {
    const parsed = parseMeshFile(
      "gw.yaml",
      "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec: {}\n",
    );
    expect(parsed.valid).toBe(true);
    expect(parsed.items).toEqual([]);
    expect(parsed.diagnostics[0]).toMatchObject({ severity: "warning", line: 2, path: "kind" });
  });

  test("invalid values: port range, bad regex, bad duration, IP addresses", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: w, namespace: demo}
spec:
  address: not-an-ip
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a]
  http:
    - match:
        - uri: { regex: "([" }
      timeout: soon
      route:
        - destination: { host: a, port: { number: 70000 } }
`;
    const reasons = parseMeshFile("x.yaml", text).diagnostics.map((d) => `${d.line}:${d.path}`);
    expect(reasons).toEqual([
      "5:spec.address",
      "14:spec.http[0].match[0].uri.regex",
      "17:spec.http[0].route[0].destination.port.number",
      "15:spec.http[0].timeout",
    ]);
  });
});

describe("assembleMeshModel", () => {
  test("joins Services with EndpointSlices and WorkloadEntries, and ServiceEntries with theirs", () => {
    const text = `${SERVICE}---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-1, namespace: demo, labels: { kubernetes.io/service-name: echo, version: v1 } }
addressType: IPv4
ports: [{ name: grpc, port: 50051 }]
endpoints:
  - addresses: [10.0.0.1, 10.0.0.2]
    zone: z1
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: demo }
spec:
  hosts: [api.example.com]
  ports: [{ number: 443, name: https, protocol: HTTPS }]
  resolution: STATIC
  endpoints: [{ address: 192.0.2.1, locality: r1/z2 }]
`;
    const { model, diagnostics } = assembleMeshModel(parseMeshFile("m.yaml", text).items);
    expect(diagnostics).toEqual([]);
    expect(model.services.map((s) => [s.hostname, model.endpoints.get(s.hostname)?.length])).toEqual([
      ["api.example.com", 1],
      ["echo.demo.svc.cluster.local", 2],
    ]);
    const echo = model.services.find((s) => s.name === "echo");
    expect(model.endpoints.get(echo?.hostname ?? "")?.[0]).toMatchObject({
      address: "10.0.0.1",
      ports: { grpc: 50051 },
      labels: { version: "v1" },
      locality: { zone: "z1" },
    });
  });

  test("warns about slices without a Service and duplicate hosts", () => {
    const slice = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: s, namespace: demo, labels: { kubernetes.io/service-name: ghost } }
endpoints: []
`;
    const { diagnostics } = assembleMeshModel([
      ...parseMeshFile("a.yaml", SERVICE).items,
      ...parseMeshFile("b.yaml", SERVICE).items,
      ...parseMeshFile("c.yaml", slice).items,
    ]);
    expect(diagnostics.map((d) => `${d.file}: ${d.reason}`)).toEqual([
      "b.yaml: host echo.demo.svc.cluster.local is already defined by Service demo/echo (a.yaml); ignored",
      "c.yaml: EndpointSlice demo/s refers to Service ghost, which does not exist",
    ]);
  });
});

test("resolveHost expands short names like Istio", () => {
  expect(resolveHost("echo", "demo")).toBe("echo.demo.svc.cluster.local");
  expect(resolveHost("echo.other", "demo")).toBe("echo.other.svc.cluster.local");
  expect(resolveHost("echo.other.svc", "demo")).toBe("echo.other.svc.cluster.local");
  expect(resolveHost("api.example.com", "demo")).toBe("api.example.com");
});

test("parseDurationMs reads Go durations", () => {
  expect(parseDurationMs("1.5s")).toBe(1500);
  expect(parseDurationMs("250ms")).toBe(250);
  expect(parseDurationMs("1m30s")).toBe(90_000);
  expect(parseDurationMs("soon")).toBeUndefined();
  expect(parseDurationMs("10")).toBeUndefined();
});
