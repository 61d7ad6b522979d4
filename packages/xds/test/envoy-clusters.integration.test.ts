/**
 * Every cluster and listener shape the DestinationRule, ServiceEntry and Sidecar support makes
 * (istiod's shapes, with tls certificates from files instead of the agent's SDS) is accepted by a
 * stock Envoy 1.40: served to a real Envoy sidecar, nothing is NACKed and Envoy reports each
 * cluster.
 *
 * Needs Envoy (and openssl for the tls files); skips without them unless MESHCTL_REQUIRE lists
 * envoy.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, runCommand } from "@meshctl/core";
import { requirementGate } from "@meshctl/core/testing";
import { afterAll, describe, expect, test } from "vitest";
import { renderBootstrap, startXdsServer, staticMeshSource, type XdsServerHandle } from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { type EnvoyProcess, startEnvoy } from "./envoy-process.js";

const envoyPath = await findProgram("envoy");
const openssl = await findProgram("openssl");
const gate = requirementGate(
  "envoy",
  !envoyPath ? "no `envoy` binary on PATH" : !openssl ? "no `openssl` on PATH (tls files)" : undefined,
  "xds envoy clusters test",
);

function service(name: string): Record<string, unknown>[] {
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "demo" },
      spec: {
        ports: [
          { name: "http", port: 8080 },
          { name: "grpc", port: 7070 },
          { name: "tcp", port: 9090 },
          { name: "web", port: 8000 },
        ],
      },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name, namespace: "demo", labels: { "kubernetes.io/service-name": name, version: "v1" } },
      addressType: "IPv4",
      ports: [
        { name: "http", port: 8080 },
        { name: "grpc", port: 7070 },
        { name: "tcp", port: 9090 },
        { name: "web", port: 8000 },
      ],
      endpoints: [{ addresses: ["192.0.2.10"], zone: "z1" }],
    },
  ];
}

function rule(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name, namespace: "demo" },
    spec: { host: name, ...spec },
  };
}

function entry(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { name, namespace: "demo" },
    spec,
  };
}

describe.skipIf(gate.skip)("a stock Envoy accepts every cluster and listener shape", () => {
  let xds: XdsServerHandle | undefined;
  let envoy: EnvoyProcess | undefined;
  let dir = "";
  afterAll(async () => {
    await envoy?.close();
    await xds?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("no NACK; every cluster is there", { timeout: 60_000 }, async () => {
    if (gate.missing || !envoyPath) throw new Error(gate.missing);
    dir = await mkdtemp(join(tmpdir(), "mcx-envoy-cl-"));
    await runCommand(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "1",
        "-subj",
        "/CN=mcx-upstream",
      ],
      { cwd: dir, timeoutMs: 20_000 },
    );
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const rules: Record<string, Record<string, unknown>> = {
      lb: { trafficPolicy: { loadBalancer: { simple: "LEAST_REQUEST", warmupDurationSecs: "30s" } } },
      rr: { trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN", warmupDurationSecs: "10s" } } },
      rnd: { trafficPolicy: { loadBalancer: { simple: "RANDOM" } } },
      pt: { trafficPolicy: { loadBalancer: { simple: "PASSTHROUGH" } } },
      ring: {
        trafficPolicy: {
          loadBalancer: { consistentHash: { httpHeaderName: "x-user", ringHash: { minimumRingSize: 2048 } } },
        },
      },
      maglev: {
        trafficPolicy: {
          loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 131 } } },
        },
      },
      pool: {
        trafficPolicy: {
          connectionPool: {
            tcp: {
              maxConnections: 100,
              connectTimeout: "3s",
              tcpKeepalive: { probes: 3, time: "60s", interval: "10s" },
              maxConnectionDuration: "1h",
              idleTimeout: "5m",
            },
            http: {
              http1MaxPendingRequests: 10,
              http2MaxRequests: 200,
              maxRequestsPerConnection: 5,
              maxRetries: 7,
              idleTimeout: "30s",
              h2UpgradePolicy: "UPGRADE",
              maxConcurrentStreams: 50,
            },
          },
        },
      },
      client: { trafficPolicy: { connectionPool: { http: { useClientProtocol: true } } } },
      outlier: {
        trafficPolicy: {
          outlierDetection: {
            consecutive5xxErrors: 5,
            consecutiveGatewayErrors: 2,
            consecutiveLocalOriginFailures: 4,
            splitExternalLocalOriginErrors: true,
            interval: "10s",
            baseEjectionTime: "1m",
            maxEjectionPercent: 50,
            minHealthPercent: 20,
          },
          loadBalancer: { localityLbSetting: { failover: [{ from: "r1", to: "r2" }] } },
        },
      },
      simple: {
        trafficPolicy: {
          tls: {
            mode: "SIMPLE",
            caCertificates: cert,
            sni: "a.example.com",
            subjectAltNames: ["a.example.com"],
          },
        },
      },
      mutual: {
        trafficPolicy: {
          tls: { mode: "MUTUAL", clientCertificate: cert, privateKey: key, caCertificates: cert },
        },
      },
      subsets: {
        trafficPolicy: {
          loadBalancer: { simple: "LEAST_REQUEST" },
          portLevelSettings: [{ port: { number: 8080 }, loadBalancer: { simple: "RANDOM" } }],
        },
        subsets: [
          {
            name: "v1",
            labels: { version: "v1" },
            trafficPolicy: { connectionPool: { http: { maxRetries: 9 } } },
          },
        ],
      },
    };
    const objects = [
      ...Object.keys(rules).flatMap((name) => service(name)),
      ...Object.entries(rules).map(([name, spec]) => rule(name, spec)),
      entry("dns", {
        hosts: ["api.example.com"],
        ports: [
          { number: 443, name: "tls", protocol: "TLS" },
          { number: 80, name: "http", protocol: "HTTP" },
        ],
        resolution: "DNS",
      }),
      entry("dns-eps", {
        hosts: ["db.example.com"],
        ports: [{ number: 5432, name: "tcp", protocol: "TCP" }],
        resolution: "DNS",
        endpoints: [{ address: "db1.example.com" }, { address: "db2.example.com", weight: 3 }],
      }),
      entry("dns-rr", {
        hosts: ["rr.example.com"],
        ports: [{ number: 8443, name: "https", protocol: "HTTPS" }],
        resolution: "DNS_ROUND_ROBIN",
      }),
      entry("none", {
        hosts: ["none.example.com"],
        addresses: ["192.168.10.0/24"],
        ports: [{ number: 3306, name: "tcp", protocol: "TCP" }],
        resolution: "NONE",
      }),
      entry("static", {
        hosts: ["static.example.com"],
        addresses: ["192.168.20.5"],
        ports: [{ number: 7000, name: "tcp", protocol: "TCP" }],
        resolution: "STATIC",
        endpoints: [{ address: "192.0.2.20" }],
      }),
    ];
    xds = await startXdsServer({ source: staticMeshSource(objects), port: 0, debugPort: false });
    envoy = await startEnvoy(
      envoyPath,
      renderBootstrap({ kind: "envoy", name: "app-1", namespace: "demo", server: xds.address, adminPort: 0 }),
    );
    await waitFor(
      () => {
        const c = xds?.clients()[0];
        return Boolean(
          c &&
            xds?.settled() &&
            ["cds", "eds", "lds", "rds"].every(
              (k) =>
                (c.types[k]?.nacks ?? 0) > 0 ||
                (c.types[k]?.ackedVersion && c.types[k]?.ackedVersion === c.types[k]?.lastVersionSent),
            ),
        );
      },
      { timeoutMs: 30_000, what: "Envoy to answer CDS, EDS, LDS and RDS" },
    );
    for (const [kind, t] of Object.entries(xds.clients()[0]?.types ?? {}))
      expect(t.nacks, `${kind}: ${t.lastNackError}\n${envoy.log()}`).toBe(0);
    for (const name of [
      "outbound|8080||maglev.demo.svc.cluster.local",
      "outbound|8080||mutual.demo.svc.cluster.local",
      "outbound|8080|v1|subsets.demo.svc.cluster.local",
      "outbound|443||api.example.com",
      "outbound|8443||rr.example.com",
      "outbound|3306||none.example.com",
    ])
      expect(await envoy.hostsOf(name), name).toBeDefined();
    const listeners = await envoy.adminGet("/listeners?format=json");
    for (const name of ["0.0.0.0_443", "0.0.0.0_3306", "192.168.20.5_7000", "virtualOutbound"])
      expect(listeners).toContain(`"${name}"`);
  });
});
