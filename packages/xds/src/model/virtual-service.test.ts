import { describe, expect, test } from "vitest";
import { parseMeshFile } from "./parse-documents.js";
import type { VirtualServiceModel } from "./types.js";

function vsFile(spec: string, name = "echo"): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: demo }
spec:
${spec}`;
}

function parseVs(spec: string): {
  vs: VirtualServiceModel | undefined;
  diagnostics: string[];
  valid: boolean;
} {
  const parsed = parseMeshFile("vs.yaml", vsFile(spec));
  const item = parsed.items[0];
  return {
    vs: item?.kind === "VirtualService" ? item.value : undefined,
    diagnostics: parsed.diagnostics.map((d) => `${d.severity} ${d.path}: ${d.reason}`),
    valid: parsed.valid,
  };
}

describe("parseVirtualService: HTTPMatchRequest", () => {
  test("every match kind is read; a method or queryParams match no longer rejects the object", () => {
    const { vs, diagnostics, valid } = parseVs(`  hosts: [echo]
  http:
    - name: r
      match:
        - name: m
          uri: { prefix: /a }
          ignoreUriCase: true
          method: { exact: GET }
          scheme: { exact: https }
          authority: { prefix: foo }
          headers: { X-A: { exact: "1" }, x-b: {} }
          withoutHeaders: { x-no: { regex: "y.*" } }
          queryParams: { q1: { exact: v }, q2: {} }
          port: 80
          sourceLabels: { app: client }
          sourceNamespace: demo
          gateways: [mesh]
      route: [{ destination: { host: echo } }]
`);
    expect(valid).toBe(true);
    expect(diagnostics).toEqual([
      "warning spec.http[0].match[0].queryParams: proxyless gRPC clients do not support query parameter matches: gRPC-Go and C-core skip the route, grpc-js matches it without checking the query (sent as istiod does)",
    ]);
    expect(vs?.http[0]?.matches[0]).toEqual({
      name: "m",
      uri: { prefix: "/a" },
      ignoreUriCase: true,
      method: { exact: "GET" },
      scheme: { exact: "https" },
      authority: { prefix: "foo" },
      headers: { "x-a": { exact: "1" }, "x-b": { present: true } },
      withoutHeaders: { "x-no": { regex: "y.*" } },
      queryParams: { q1: { exact: "v" }, q2: { present: true } },
      port: 80,
      sourceLabels: { app: "client" },
      sourceNamespace: "demo",
      gateways: ["mesh"],
    });
  });

  test("an empty header prefix and a bad regex are errors at their paths (istiod rejects both)", () => {
    const { diagnostics, valid } = parseVs(`  hosts: [echo]
  http:
    - match: [{ headers: { x-e: { prefix: "" } }, uri: { regex: "(?=x)" } }]
      route: [{ destination: { host: echo } }]
`);
    expect(valid).toBe(false);
    expect(diagnostics).toContain(
      "error spec.http[0].match[0].headers.x-e.prefix: prefix string match should not be empty (use {} to match presence)",
    );
    expect(diagnostics).toContain(
      "error spec.http[0].match[0].uri.regex: invalid regex: lookarounds and backreferences are not RE2 syntax",
    );
  });

  test("an unknown match field is a warning; the route still applies", () => {
    const { vs, diagnostics, valid } = parseVs(`  hosts: [echo]
  http:
    - match: [{ urii: { prefix: /a } }]
      route: [{ destination: { host: echo } }]
`);
    expect(valid).toBe(true);
    expect(diagnostics).toEqual([
      'warning spec.http[0].match[0].urii: unknown field "urii"; ignored (did you mean "uri"?)',
    ]);
    expect(vs?.http).toHaveLength(1);
  });
});

describe("parseVirtualService: route actions", () => {
  test("retries: absent, attempts only, attempts 0, retryOn and remote localities", () => {
    const { vs, valid } = parseVs(`  hosts: [echo]
  http:
    - match: [{ uri: { prefix: /a } }]
      route: [{ destination: { host: echo } }]
    - match: [{ uri: { prefix: /b } }]
      route: [{ destination: { host: echo } }]
      retries: { attempts: 3, perTryTimeout: 2s, retryRemoteLocalities: true }
    - match: [{ uri: { prefix: /c } }]
      route: [{ destination: { host: echo } }]
      retries: { attempts: 0 }
    - route: [{ destination: { host: echo } }]
      retries: { attempts: 1, retryOn: "5xx, 503" }
`);
    expect(valid).toBe(true);
    expect(vs?.http.map((r) => r.retries)).toEqual([
      undefined,
      { attempts: 3, perTryTimeoutMs: 2000, retryRemoteLocalities: true },
      { attempts: 0 },
      { attempts: 1, retryOn: ["5xx", "503"] },
    ]);
  });

  test("rewrite, redirect, directResponse, mirrors, CORS and headers are read", () => {
    const { vs, valid, diagnostics } = parseVs(`  hosts: [echo]
  http:
    - match: [{ uri: { prefix: /rw } }]
      rewrite: { uri: /new, authority: new.host }
      mirror: { host: other, subset: v1 }
      mirrorPercentage: { value: 12.5 }
      corsPolicy:
        allowOrigins: [{ exact: "https://a.com" }]
        allowMethods: [GET]
        maxAge: 24h
        allowCredentials: true
      headers:
        request: { set: { x-s: "1" }, remove: [x-r] }
      route:
        - destination: { host: echo }
          headers: { response: { add: { x-a: "2" } } }
    - match: [{ uri: { prefix: /redir } }]
      redirect: { uri: /x, authority: a.b, port: 8080, scheme: https, redirectCode: 308 }
    - match: [{ uri: { prefix: /direct } }]
      directResponse: { status: 418, body: { string: teapot } }
    - route: [{ destination: { host: echo } }]
      mirrors: [{ destination: { host: other }, percentage: { value: 5 } }, { destination: { host: echo } }]
`);
    expect(valid).toBe(true);
    const [rw, redir, direct, mirrors] = vs?.http ?? [];
    expect(rw).toMatchObject({
      rewrite: { uri: "/new", authority: "new.host" },
      mirrors: [{ host: "other.demo.svc.cluster.local", subset: "v1", percent: 12.5 }],
      corsPolicy: {
        allowOrigins: [{ exact: "https://a.com" }],
        allowMethods: ["GET"],
        maxAgeMs: 86_400_000,
        allowCredentials: true,
      },
      headers: { request: { set: { "x-s": "1" }, remove: ["x-r"] } },
      destinations: [{ host: "echo.demo.svc.cluster.local", headers: { response: { add: { "x-a": "2" } } } }],
    });
    expect(redir).toMatchObject({
      destinations: [],
      redirect: { uri: "/x", authority: "a.b", port: 8080, scheme: "https", redirectCode: 308 },
    });
    expect(direct).toMatchObject({ directResponse: { status: 418, body: { string: "teapot" } } });
    expect(mirrors?.mirrors).toEqual([
      { host: "other.demo.svc.cluster.local", percent: 5 },
      { host: "echo.demo.svc.cluster.local" },
    ]);
    // What gRPC clients cannot apply is said, at the field.
    expect(diagnostics).toEqual(
      expect.arrayContaining([
        "warning spec.http[0].rewrite: proxyless gRPC clients do not support rewrites; ignored for them",
        "warning spec.http[1].redirect: proxyless gRPC clients do not support redirects; this route is left out for them",
        "warning spec.http[2].directResponse: proxyless gRPC clients do not support direct responses; this route is left out for them",
      ]),
    );
  });

  test("Istio's exclusivity rules are errors (route + redirect, no action, bad redirect code)", () => {
    const { diagnostics, valid } = parseVs(`  hosts: [echo]
  http:
    - route: [{ destination: { host: echo } }]
      redirect: { uri: /x }
    - match: [{ uri: { prefix: /a } }]
    - redirect: { uri: /x, redirectCode: 200 }
`);
    expect(valid).toBe(false);
    expect(diagnostics.filter((d) => d.startsWith("error"))).toEqual([
      "error spec.http[0]: route, redirect, directResponse and delegate are mutually exclusive (redirect may not be combined with route)",
      "error spec.http[1]: an http route needs one of route, redirect, directResponse or delegate",
      "error spec.http[2].redirect.redirectCode: redirect code must be one of 301, 302, 303, 307, 308, got 200",
    ]);
  });

  test("a delegate VirtualService has no hosts; a root names it", () => {
    const parsed = parseMeshFile(
      "d.yaml",
      `${vsFile("  hosts: [echo]\n  http:\n    - match: [{ uri: { prefix: /d } }]\n      delegate: { name: child }\n", "root")}---\n${vsFile("  http:\n    - route: [{ destination: { host: echo } }]\n", "child")}`,
    );
    expect(parsed.valid).toBe(true);
    const [root, child] = parsed.items.map((i) => (i.kind === "VirtualService" ? i.value : undefined));
    expect(root?.http[0]?.delegate).toEqual({ name: "child", namespace: "demo" });
    expect(child?.hosts).toEqual([]);
  });

  test("tcp and tls routes", () => {
    const { vs, valid, diagnostics } = parseVs(`  hosts: [echo]
  tcp:
    - match: [{ port: 9000, destinationSubnets: [10.0.0.0/8] }]
      route:
        - { destination: { host: echo }, weight: 80 }
        - { destination: { host: other, port: { number: 9000 } }, weight: 20 }
  tls:
    - match: [{ port: 443, sniHosts: [echo.demo.svc.cluster.local] }]
      route: [{ destination: { host: echo } }]
`);
    expect(valid).toBe(true);
    expect(diagnostics).toEqual([
      "warning spec.tcp[0].match[0].destinationSubnets: destinationSubnets is not supported yet (meshctl has no per-IP listeners); this match is left out",
    ]);
    expect(vs?.tcp).toEqual([
      {
        matches: [{ port: 9000, destinationSubnets: ["10.0.0.0/8"] }],
        destinations: [
          { host: "echo.demo.svc.cluster.local", weight: 80 },
          { host: "other.demo.svc.cluster.local", port: 9000, weight: 20 },
        ],
      },
    ]);
    expect(vs?.tls?.[0]?.matches).toEqual([{ port: 443, sniHosts: ["echo.demo.svc.cluster.local"] }]);
  });
});
