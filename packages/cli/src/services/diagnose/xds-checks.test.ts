import type { ClientStatus, XdsProbeResult } from "@meshctl/xds";
import { describe, expect, test } from "vitest";
import { evaluateXdsChecks } from "./xds-checks.js";

const absent: XdsProbeResult = {
  url: "http://127.0.0.1:15014",
  reachable: false,
  error: "ECONNREFUSED",
  clients: [],
  rejectedFiles: [],
  diagnostics: [],
};

describe("evaluateXdsChecks", () => {
  test("no control plane running is fine", () => {
    const checks = evaluateXdsChecks({ ok: true, error: null }, absent);
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["xds.protos", "ok"],
      ["xds.control-plane", "ok"],
    ]);
  });

  test("NACKs and rejected files are warnings with evidence", () => {
    const probe: XdsProbeResult = {
      ...absent,
      reachable: true,
      error: null,
      rejectedFiles: ["echo.yaml"],
      diagnostics: [
        {
          severity: "error",
          file: "echo.yaml",
          line: 8,
          column: 13,
          path: "spec.ports[0].port",
          reason: "must be <= 65535, got 99999",
        },
      ],
      clients: [
        {
          id: "sotw-1",
          nodeId: "grpc~1~a.demo~demo.svc.cluster.local",
          proxyType: "grpc",
          namespace: "demo",
          view: "grpc|demo|",
          protocol: "sotw",
          peer: "ipv4:127.0.0.1:1",
          connectedAt: "",
          configVersion: "v1",
          capabilities: { userAgent: "gRPC Node Pure JS", buildVersion: "1.14.3", extensionCount: 0 },
          skippedFilters: [],
          types: {
            cds: {
              subscribed: [],
              wildcard: false,
              lastVersionSent: "v1",
              lastNonceSent: "3",
              lastSentAt: "",
              ackedVersion: "v0",
              nackedVersion: "v1",
              lastNackError: "unsupported lb_policy: MAGLEV",
              lastNackAt: "",
              pushes: 2,
              acks: 1,
              nacks: 1,
              staleNonces: 0,
            },
          },
        },
      ],
    };
    const checks = evaluateXdsChecks({ ok: true, error: null }, probe);
    expect(checks.find((c) => c.id === "xds.nacks")).toMatchObject({
      status: "warn",
      evidence: ["grpc~1~a.demo~demo.svc.cluster.local CDS: unsupported lb_policy: MAGLEV"],
    });
    expect(checks.find((c) => c.id === "xds.config")).toMatchObject({
      status: "warn",
      evidence: ["echo.yaml:8:13 spec.ports[0].port: must be <= 65535, got 99999"],
    });
  });

  test("each proxy that was not sent some extension filters is a warning naming them and why", () => {
    const sidecar = (nodeId: string, skipped: ClientStatus["skippedFilters"]): ClientStatus => ({
      id: nodeId,
      nodeId,
      proxyType: "sidecar",
      namespace: "demo",
      view: "sidecar|demo||filters=00.00.0.0.0",
      protocol: "sotw",
      peer: "ipv4:10.1.0.5:40000",
      connectedAt: "",
      configVersion: "v1",
      capabilities: { userAgent: "envoy", buildVersion: "1.40.0", extensionCount: 516 },
      skippedFilters: skipped,
      types: {},
    });
    const reason =
      "envoy 1.40.0 reports no envoy.filters.http extension for type stats.PluginConfig (nor one named istio.stats) among its 516 extensions";
    const probe: XdsProbeResult = {
      ...absent,
      reachable: true,
      error: null,
      clients: [
        sidecar("sidecar~10.1.0.6~b.demo~demo.svc.cluster.local", []),
        sidecar("sidecar~10.1.0.5~a.demo~demo.svc.cluster.local", [
          {
            name: "istio.stats",
            type: "stats.PluginConfig",
            category: "envoy.filters.http",
            at: ["http/inbound", "http/outbound"],
            reason,
          },
          {
            name: "istio.stats",
            type: "stats.PluginConfig",
            category: "envoy.filters.network",
            at: ["network/outbound"],
            reason: "r2",
          },
          {
            name: "istio.metadata_exchange",
            type: "io.istio.http.peer_metadata.Config",
            category: "envoy.filters.http",
            at: ["http/inbound"],
            reason: "r3",
          },
        ]),
      ],
    };
    const filters = evaluateXdsChecks({ ok: true, error: null }, probe).filter((c) =>
      c.id.startsWith("xds.filters"),
    );
    expect(filters).toHaveLength(1);
    expect(filters[0]).toMatchObject({
      id: "xds.filters.sidecar~10.1.0.5~a.demo~demo.svc.cluster.local",
      status: "warn",
      summary:
        "sidecar~10.1.0.5~a.demo~demo.svc.cluster.local: 2 extension filters not sent, the proxy lacks them: istio.stats, istio.metadata_exchange",
    });
    expect(filters[0]?.evidence).toEqual([
      "sidecar~10.1.0.5~a.demo~demo.svc.cluster.local: envoy 1.40.0, 516 extensions reported",
      `istio.stats (envoy.filters.http, type stats.PluginConfig) for http/inbound, http/outbound: ${reason}`,
      "istio.stats (envoy.filters.network, type stats.PluginConfig) for network/outbound: r2",
      "istio.metadata_exchange (envoy.filters.http, type io.istio.http.peer_metadata.Config) for http/inbound: r3",
    ]);
    expect(filters[0]?.recommendation).toMatch(/meshctl disable tstats/);
    // Alternatives (meshctl enable tstats --module native) name theirs; a failed per-proxy build has no category.
    const alt = evaluateXdsChecks(
      { ok: true, error: null },
      {
        ...probe,
        clients: [
          sidecar("sidecar~10.1.0.7~c.demo~demo.svc.cluster.local", [
            {
              name: "tstats",
              type: "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
              category: "envoy.filters.http",
              at: ["http/inbound", "http/outbound"],
              reason: "r4",
              alternative: "tstats-native",
            },
            {
              name: "tstats-wasm",
              type: "",
              category: "",
              at: [],
              reason: "building failed: x",
              alternative: "tstats-wasm",
            },
          ]),
        ],
      },
    ).find((c) => c.id.startsWith("xds.filters."));
    expect(alt?.evidence?.slice(1)).toEqual([
      "tstats (envoy.filters.http, type envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter, alternative tstats-native) for http/inbound, http/outbound: r4",
      "tstats-wasm: building failed: x",
    ]);
    // Nobody lacking anything: one ok finding.
    const fine = evaluateXdsChecks({ ok: true, error: null }, { ...probe, clients: [probe.clients[0]!] });
    expect(fine.filter((c) => c.id.startsWith("xds.filters")).map((c) => [c.id, c.status])).toEqual([
      ["xds.filters", "ok"],
    ]);
  });

  test("past 20 proxies, one finding counts the rest", () => {
    const client = (i: number): ClientStatus => ({
      id: `c${i}`,
      nodeId: `sidecar~10.1.1.${i}~p${String(i).padStart(2, "0")}.demo~demo.svc.cluster.local`,
      proxyType: "sidecar",
      namespace: "demo",
      view: undefined,
      protocol: "sotw",
      peer: "",
      connectedAt: "",
      configVersion: "v1",
      capabilities: { userAgent: undefined, buildVersion: undefined, extensionCount: 0 },
      skippedFilters: [
        {
          name: "istio.stats",
          type: "stats.PluginConfig",
          category: "envoy.filters.http",
          at: ["http/inbound"],
          reason: "none reported",
        },
      ],
      types: {},
    });
    const probe: XdsProbeResult = {
      ...absent,
      reachable: true,
      error: null,
      clients: Array.from({ length: 23 }, (_, i) => client(i)),
    };
    const filters = evaluateXdsChecks({ ok: true, error: null }, probe).filter((c) =>
      c.id.startsWith("xds.filters"),
    );
    expect(filters).toHaveLength(21);
    expect(filters[20]).toMatchObject({
      id: "xds.filters.more",
      summary: "3 more proxies lack extension filters they are configured for",
    });
  });

  test("errors in the served config fail, warnings warn, each with file:line:column path: reason", () => {
    const probe: XdsProbeResult = {
      ...absent,
      reachable: true,
      error: null,
      rejectedFiles: [],
      diagnostics: [
        {
          severity: "error",
          file: "vs.yaml",
          line: 1,
          column: 1,
          path: "spec.http[0].route[0].destination.host",
          reason:
            "VirtualService demo/echo routes to nothere.demo.svc.cluster.local, which no Service or ServiceEntry defines: all the traffic of route echo-0 fails (503/UNAVAILABLE)",
        },
        {
          severity: "warning",
          file: "vs.yaml",
          line: 12,
          column: 7,
          path: "spec.http[0].timout",
          reason: 'unknown field "timout"; ignored (did you mean "timeout"?)',
        },
        {
          severity: "warning",
          file: "VirtualService/demo/x",
          line: 0,
          column: 0,
          path: "spec.x\u001b[2J",
          reason: 'unknown field "x\u001b[2J"; ignored',
        },
      ],
    };
    const checks = evaluateXdsChecks({ ok: true, error: null }, probe);
    expect(checks.find((c) => c.id === "xds.config")).toMatchObject({ status: "ok" });
    expect(checks.find((c) => c.id === "xds.config-errors")).toMatchObject({
      status: "fail",
      summary: "1 error(s) in the mesh config being served",
      evidence: [
        "vs.yaml:1:1 spec.http[0].route[0].destination.host: VirtualService demo/echo routes to nothere.demo.svc.cluster.local, which no Service or ServiceEntry defines: all the traffic of route echo-0 fails (503/UNAVAILABLE)",
      ],
    });
    expect(checks.find((c) => c.id === "xds.config-warnings")).toMatchObject({
      status: "warn",
      summary: "2 warning(s) about the mesh config",
      evidence: [
        'vs.yaml:12:7 spec.http[0].timout: unknown field "timout"; ignored (did you mean "timeout"?)',
        // File text cannot drive the terminal.
        'VirtualService/demo/x:0:0 spec.x\\x1b[2J: unknown field "x\\x1b[2J"; ignored',
      ],
    });
    // Nothing to say: three ok findings.
    const clean = evaluateXdsChecks({ ok: true, error: null }, { ...probe, diagnostics: [] });
    expect(clean.filter((c) => c.id.startsWith("xds.config")).map((c) => [c.id, c.status])).toEqual([
      ["xds.config", "ok"],
      ["xds.config-errors", "ok"],
      ["xds.config-warnings", "ok"],
    ]);
  });

  test("protos that do not load fail", () => {
    expect(evaluateXdsChecks({ ok: false, error: "missing" }, absent)[0]).toMatchObject({
      id: "xds.protos",
      status: "fail",
    });
  });
});
