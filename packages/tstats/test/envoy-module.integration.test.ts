// Both tstats builds (native/, built here with clang): the native dynamic module and the same C
// core as a proxy-wasm filter in V8, each in the stock Envoy that setup installs. Three HTTP
// listeners play two client sidecars (frontend, batch; reporter=source) and the server's sidecar
// (echo; reporter=destination) in front of a gRPC echo server. A real Prometheus scrapes Envoy's
// /stats/prometheus with the relabelling meshctl documents, and answers the same PromQL as the
// proxyless test (prometheus.integration.test.ts).
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SpawnedProgram, spawnProgram } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  ENVOY_DEFAULT_BUCKETS,
  encodePeerMetadataHeader,
  type LocalWorkload,
  tstatsEnvoyStatsConfig,
  tstatsModuleFilterConfigText,
  tstatsPrometheusRelabelConfigs,
} from "../src/index.js";
import { callEcho, type EchoClient, type EchoServer, echoClient, startEchoServer } from "./echo-service.js";
import { localFixture, parseExposition, REFERENCE_BUCKETS, REFERENCE_HTTP_LABELS } from "./fixtures.js";
import {
  expectIstioDashboardSeries,
  freePort,
  programsGate,
  type RunningPrometheus,
  startPrometheus,
  until,
} from "./harness.js";

const { gate, paths } = await programsGate("tstats native module in Envoy", ["envoy", "prometheus", "clang"]);
const envoyPath = paths.envoy;
const prometheusPath = paths.prometheus;

const SERVICE_AUTHORITY = "echo.default.svc.cluster.local:8080";

const h2Cluster = (name: string, port: number) => ({
  name,
  connect_timeout: "1s",
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
  load_assignment: {
    cluster_name: name,
    endpoints: [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } },
        ],
      },
    ],
  },
});

type Build = "native" | "wasm";

/** The tstats HTTP filter of one build, configured for one workload and reporter. */
function tstatsFilter(build: Build, dir: string, local: LocalWorkload, reporter: "source" | "destination") {
  const configuration = {
    "@type": "type.googleapis.com/google.protobuf.StringValue",
    value: tstatsModuleFilterConfigText(local, reporter),
  };
  if (build === "native")
    return {
      name: "tstats",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
        dynamic_module_config: { name: "tstats", do_not_close: true, metrics_namespace: "istio" },
        filter_name: "tstats",
        filter_config: configuration,
      },
    };
  return {
    name: "tstats",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name: "tstats",
        root_id: "tstats",
        vm_config: {
          vm_id: "tstats",
          runtime: "envoy.wasm.runtime.v8",
          code: { local: { filename: join(dir, "tstats.wasm") } },
        },
        configuration,
      },
    },
  };
}

/** One sidecar listener: HCM (h2c or HTTP/1) -> tstats filter -> router to `cluster`. */
function sidecarListener(
  build: Build,
  dir: string,
  name: string,
  port: number,
  cluster: string,
  local: LocalWorkload,
  reporter: "source" | "destination",
) {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              codec_type: "AUTO",
              route_config: {
                virtual_hosts: [
                  { name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster } }] },
                ],
              },
              http_filters: [
                tstatsFilter(build, dir, local, reporter),
                {
                  name: "envoy.filters.http.router",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

describe.skipIf(gate.skip).each(["native", "wasm"] as const)(
  "tstats %s build in Envoy, scraped by Prometheus",
  (build) => {
    // Envoy prints the native module's stats under its own prefix (relabelled for Prometheus);
    // the Wasm filter's names are Istio's already.
    const envoyName = (metric: string) => (build === "native" ? `envoy_${metric}` : metric);
    let dir = "";
    let envoy: SpawnedProgram | undefined;
    let envoyLog = "";
    let admin = "";
    let prom: RunningPrometheus | undefined;
    let server: EchoServer | undefined;
    const clients: EchoClient[] = [];
    const clientHeaderKeys = new Set<string>();
    let stopTraffic = false;
    let traffic: Promise<void> | undefined;

    beforeAll(async () => {
      if (gate.missing) throw new Error(gate.missing);
      dir = await mkdtemp(join(tmpdir(), "mct-tstats-module-"));
      execFileSync("bash", [join(import.meta.dirname, "..", "native", "build.sh"), dir, build], {
        stdio: "pipe",
      });

      server = await startEchoServer();
      const [adminPort, frontendPort, batchPort, inboundPort] = await Promise.all(
        Array.from({ length: 4 }, () => freePort()),
      );
      admin = `http://127.0.0.1:${adminPort}`;
      const bootstrap = {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        stats_flush_interval: "1s",
        stats_config: tstatsEnvoyStatsConfig(),
        static_resources: {
          clusters: [h2Cluster("inbound-echo", inboundPort!), h2Cluster("echo-app", server.port)],
          listeners: [
            sidecarListener(
              build,
              dir,
              "frontend-outbound",
              frontendPort!,
              "inbound-echo",
              localFixture("frontend"),
              "source",
            ),
            sidecarListener(
              build,
              dir,
              "batch-outbound",
              batchPort!,
              "inbound-echo",
              localFixture("batch"),
              "source",
            ),
            sidecarListener(
              build,
              dir,
              "echo-inbound",
              inboundPort!,
              "echo-app",
              localFixture("echo"),
              "destination",
            ),
          ],
        },
      };
      const file = join(dir, "envoy.json");
      await writeFile(file, JSON.stringify(bootstrap));
      envoy = spawnProgram(
        envoyPath!,
        [
          "-c",
          file,
          "--concurrency",
          "2",
          "--disable-hot-restart",
          "--log-level",
          "warn",
          "--base-id-path",
          join(dir, "base-id"),
        ],
        { env: { ...process.env, ENVOY_DYNAMIC_MODULES_SEARCH_PATH: dir } },
      );
      envoy.stdout?.on("data", (d: Buffer) => (envoyLog += d.toString()));
      envoy.stderr?.on("data", (d: Buffer) => (envoyLog += d.toString()));
      await until(
        `Envoy ready (log: ${envoyLog.slice(-500)})`,
        async () => ((await fetch(`${admin}/ready`)).ok ? true : undefined),
        20_000,
      );

      prom = await startPrometheus(prometheusPath!, dir, [
        {
          job_name: "mct-tstats-envoy",
          metrics_path: "/stats/prometheus",
          static_configs: [{ targets: [`127.0.0.1:${adminPort}`] }],
          metric_relabel_configs: tstatsPrometheusRelabelConfigs(),
        },
      ]);

      for (const port of [frontendPort!, batchPort!])
        clients.push(echoClient(port, { authority: SERVICE_AUTHORITY }));
      // Steady traffic, as in the proxyless test: frontend gets OKs, batch gets some NOT_FOUND.
      traffic = (async () => {
        for (let i = 0; i < 20_000 && !stopTraffic; i++) {
          const a = await callEcho(clients[0]!, { text: `f${i}` });
          const b = await callEcho(clients[1]!, i % 3 === 0 ? { text: "b", fail: 5 } : { text: `b${i}` });
          for (const k of [...a.headerKeys, ...b.headerKeys]) clientHeaderKeys.add(k);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
    }, 90_000);

    afterAll(async () => {
      stopTraffic = true;
      await traffic;
      for (const c of clients) c.close();
      await prom?.close();
      for (const p of [envoy]) {
        if (!p) continue;
        p.kill("SIGTERM");
        await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))]);
        p.kill("SIGKILL");
      }
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("Envoy emits Istio's series: label names in Istio's order, Istio's buckets, exchange both ways", async () => {
      const samples = await until(
        "histograms in Envoy's output",
        async () => {
          const text = await (await fetch(`${admin}/stats/prometheus`)).text();
          const s = parseExposition(text).filter((x) => x.name.startsWith(envoyName("istio_")));
          return s.some(
            (x) => x.name === envoyName("istio_request_duration_milliseconds_count") && x.value > 0,
          )
            ? s
            : undefined;
        },
        20_000,
      );
      const requests = samples.filter((s) => s.name === envoyName("istio_requests_total"));
      expect(requests.length).toBeGreaterThanOrEqual(4);
      for (const s of requests) expect(s.labels.map(([k]) => k)).toEqual(REFERENCE_HTTP_LABELS);

      // The exchange worked in both directions: every series knows its peer.
      const byReporter = (r: string) =>
        requests.filter((s) => s.labels[0]![1] === r).map((s) => Object.fromEntries(s.labels));
      for (const s of byReporter("source")) {
        expect(s).toMatchObject({
          destination_workload: "echo-v1",
          destination_app: "echo",
          destination_canonical_revision: "v1",
        });
        expect(s).toMatchObject({
          destination_service: "echo.default.svc.cluster.local",
          destination_service_name: "echo",
        });
        expect(s.connection_security_policy).toBe("unknown");
      }
      for (const s of byReporter("destination")) {
        expect(["frontend-v1", "batch-v1"]).toContain(s.source_workload);
        expect(s).toMatchObject({
          destination_workload: "echo-v1",
          request_protocol: "grpc",
          connection_security_policy: "none",
        });
      }
      // Neither application ever sees the exchange headers.
      expect(server!.seenKeys.flat()).not.toContain("x-envoy-peer-metadata");
      expect([...clientHeaderKeys]).not.toContain("x-envoy-peer-metadata");
      expect([...clientHeaderKeys]).not.toContain("x-envoy-peer-metadata-id");

      const les = samples
        .filter((s) => s.name === envoyName("istio_request_duration_milliseconds_bucket"))[0]!
        .labels.filter(([k]) => k === "le");
      expect(les).toHaveLength(1);
      const buckets = [
        ...new Set(
          samples
            .filter((s) => s.name === envoyName("istio_request_bytes_bucket"))
            .map((s) => Object.fromEntries(s.labels).le!),
        ),
      ];
      expect(buckets).toEqual(REFERENCE_BUCKETS);
      expect([...ENVOY_DEFAULT_BUCKETS.map(String), "+Inf"]).toEqual(REFERENCE_BUCKETS);
      // request.total_size is what Envoy counted for the request: more than nothing.
      const sizes = samples.filter((s) => s.name === envoyName("istio_request_bytes_sum"));
      expect(sizes.every((s) => s.value > 0)).toBe(true);
    }, 60_000);

    test("Prometheus answers the proxyless test's PromQL with the same series", async () => {
      await expectIstioDashboardSeries(prom!, expect);

      const series = await prom!.query(
        'count by (__name__) ({__name__=~"istio_.*", job="mct-tstats-envoy"})',
      );
      expect(series.map((s) => s.metric.__name__).sort()).toEqual(
        expect.arrayContaining([
          "istio_request_bytes_bucket",
          "istio_request_duration_milliseconds_bucket",
          "istio_requests_total",
          "istio_response_bytes_count",
        ]),
      );
      // Nothing is left under Envoy's prefix once relabelled.
      expect(await prom!.query('count({__name__=~"envoy_istio_.*"})')).toEqual([]);
    }, 120_000);

    test("the header meshctl sends is the TS encoder's, byte for byte", () => {
      const text = tstatsModuleFilterConfigText(localFixture("echo"), "destination");
      expect(text).toContain(`metadata=${encodePeerMetadataHeader(localFixture("echo"))}\n`);
      expect(text).toContain(`id=${localFixture("echo").nodeId}\n`);
    });
  },
);
