// Istio's TCP metrics from the native tstats module (native/src/envoy_network.c) in the stock Envoy
// that setup installs: a client sidecar's outbound tcp_proxy listener (frontend, reporter=source,
// cluster `outbound|7070||echo.demo.svc.cluster.local`) chained to the server sidecar's inbound
// tcp_proxy listener (echo, reporter=destination) in front of a Node TCP echo server. Known byte
// counts go through a few connections; once they are closed, Envoy's /stats/prometheus must hold
// exactly those bytes and connections under Istio's 23 labels, with the values the TS recorder gives.
// The counters belong to the module's bootstrap extension (Envoy 1.40's network-filter metrics take
// no labels), so the bootstrap declares it once.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SpawnedProgram, spawnProgram } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  destinationServiceFromTarget,
  type LocalWorkload,
  TstatsRecorder,
  tstatsModuleFilterConfigText,
} from "../src/index.js";
import { localFixture, type ParsedSample, parseExposition, REFERENCE_TCP_LABELS } from "./fixtures.js";
import { freePort, programsGate, until } from "./harness.js";

const { gate, paths } = await programsGate("tstats native TCP filter in Envoy", ["envoy", "clang"]);
const envoyPath = paths.envoy;

const SERVICE_HOST = "echo.demo.svc.cluster.local";
const OUTBOUND_CLUSTER = `outbound|7070||${SERVICE_HOST}`;
const INBOUND_CLUSTER = "inbound|7070||";
/** Bytes each connection sends (and gets echoed back): small, several reads, one byte. */
const PAYLOADS = [1000, 200_000, 1];
const TOTAL = PAYLOADS.reduce((a, b) => a + b, 0);

function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Sends `size` bytes, waits for all of them to come back, then closes; resolves once closed. */
function echoOnce(port: number, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const socket = createConnection({ host: "127.0.0.1", port }, () =>
      socket.write(Buffer.alloc(size, 0x61)),
    );
    socket.on("data", (d: Buffer) => {
      got += d.length;
      if (got >= size) socket.end();
    });
    socket.once("error", reject);
    socket.once("close", () =>
      got === size ? resolve(got) : reject(new Error(`echoed ${got} of ${size} bytes`)),
    );
  });
}

const cluster = (name: string, port: number) => ({
  name,
  connect_timeout: "1s",
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

/** One sidecar listener: tstats network filter -> tcp_proxy to `upstream`. */
function tcpListener(
  name: string,
  port: number,
  upstream: string,
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
            name: "tstats",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.dynamic_modules.v3.DynamicModuleNetworkFilter",
              dynamic_module_config: { name: "tstats", do_not_close: true, metrics_namespace: "istio" },
              filter_name: "tstats",
              filter_config: {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                value: tstatsModuleFilterConfigText(local, reporter),
              },
            },
          },
          {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
              stat_prefix: name,
              cluster: upstream,
            },
          },
        ],
      },
    ],
  };
}

/** The label values the TS recorder gives a plaintext connection (unknown peer) of this site. */
function recorderLabels(
  local: LocalWorkload,
  reporter: "source" | "destination",
  host: string,
): Array<[string, string]> {
  const recorder = new TstatsRecorder({ local });
  const site = recorder.callSite(
    host ? { reporter, service: destinationServiceFromTarget(host) } : { reporter },
  );
  recorder.tcpSeries(site, recorder.resolvePeer(undefined)).opened++;
  const [series] = parseExposition(recorder.registry.renderPrometheus()).filter(
    (s) => s.name === "istio_tcp_connections_opened_total",
  );
  return series!.labels;
}

describe.skipIf(gate.skip)("tstats TCP metrics as an Envoy dynamic-module network filter", () => {
  let dir = "";
  let envoy: SpawnedProgram | undefined;
  let envoyLog = "";
  let admin = "";
  let outboundPort = 0;
  let echo: Server | undefined;
  const echoSockets = new Set<Socket>();
  let echoedBytes = 0;

  beforeAll(async () => {
    if (gate.missing) throw new Error(gate.missing);
    dir = await mkdtemp(join(tmpdir(), "mct-tstats-tcp-"));
    execFileSync("bash", [join(import.meta.dirname, "..", "native", "build.sh"), dir, "native"], {
      stdio: "pipe",
    });

    echo = createServer((socket) => {
      echoSockets.add(socket);
      socket.on("data", (d: Buffer) => {
        echoedBytes += d.length;
        socket.write(d);
      });
      socket.on("end", () => socket.end());
      socket.on("error", () => socket.destroy());
      socket.once("close", () => echoSockets.delete(socket));
    });
    await new Promise<void>((resolve) => echo!.listen(0, "127.0.0.1", resolve));
    const echoPort = (echo.address() as { port: number }).port;

    const [adminPort, outPort, inboundPort] = await Promise.all([freePort(), freePort(), freePort()]);
    outboundPort = outPort!;
    admin = `http://127.0.0.1:${adminPort}`;
    const bootstrap = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      bootstrap_extensions: [
        {
          name: "envoy.bootstrap.dynamic_modules",
          typed_config: {
            "@type":
              "type.googleapis.com/envoy.extensions.bootstrap.dynamic_modules.v3.DynamicModuleBootstrapExtension",
            dynamic_module_config: { name: "tstats", do_not_close: true, metrics_namespace: "istio" },
            extension_name: "tstats",
          },
        },
      ],
      static_resources: {
        clusters: [cluster(OUTBOUND_CLUSTER, inboundPort!), cluster(INBOUND_CLUSTER, echoPort)],
        listeners: [
          tcpListener(
            "frontend-outbound",
            outboundPort,
            OUTBOUND_CLUSTER,
            localFixture("frontend"),
            "source",
          ),
          tcpListener("echo-inbound", inboundPort!, INBOUND_CLUSTER, localFixture("echo"), "destination"),
        ],
      },
    };
    const file = join(dir, "envoy.json");
    await writeFile(file, JSON.stringify(bootstrap));
    const env = { ...process.env, ENVOY_DYNAMIC_MODULES_SEARCH_PATH: dir } as Record<string, string>;
    // The config is valid for Envoy itself (proto fields, module hooks, the bootstrap extension).
    execFileSync(
      envoyPath!,
      ["--mode", "validate", "-c", file, "--base-id-path", join(dir, "base-id-validate")],
      {
        env,
        stdio: "pipe",
        timeout: 30_000,
      },
    );
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
      { env },
    );
    envoy.stdout?.on("data", (d: Buffer) => (envoyLog += d.toString()));
    envoy.stderr?.on("data", (d: Buffer) => (envoyLog += d.toString()));
    await until(
      `Envoy ready (log: ${envoyLog.slice(-500)})`,
      async () => ((await fetch(`${admin}/ready`)).ok ? true : undefined),
      20_000,
    );
  }, 90_000);

  afterAll(async () => {
    if (envoy) {
      envoy.kill("SIGTERM");
      await Promise.race([envoy.exited, new Promise((r) => setTimeout(r, 5000))]);
      envoy.kill("SIGKILL");
    }
    for (const s of echoSockets) s.destroy();
    if (echo) await new Promise((r) => echo!.close(r));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function tcpSamples(): Promise<ParsedSample[]> {
    const text = await (await fetch(`${admin}/stats/prometheus`)).text();
    return parseExposition(text).filter((s) => s.name.startsWith("envoy_istio_tcp_"));
  }

  test("bytes and connections through both sidecars, under Istio's 23 labels", async () => {
    // One connection at a time, each closed before the next: every count is exact.
    for (const size of PAYLOADS)
      expect(await withTimeout(`echo of ${size} bytes`, echoOnce(outboundPort, size), 15_000)).toBe(size);
    expect(echoedBytes).toBe(TOTAL);

    const value = (samples: ParsedSample[], name: string, reporter: string) =>
      samples.find((s) => s.name === `envoy_istio_tcp_${name}` && s.labels[0]![1] === reporter)?.value;
    // Envoy's side of each close (and the inbound listener's) can trail the client's: wait for it.
    const samples = await until(
      `both reporters' closes (log: ${envoyLog.slice(-500)})`,
      async () => {
        const s = await tcpSamples();
        return value(s, "connections_closed_total", "source") === PAYLOADS.length &&
          value(s, "connections_closed_total", "destination") === PAYLOADS.length
          ? s
          : undefined;
      },
      20_000,
    );

    const expectedLabels = {
      source: recorderLabels(localFixture("frontend"), "source", SERVICE_HOST),
      destination: recorderLabels(localFixture("echo"), "destination", ""),
    };
    for (const reporter of ["source", "destination"] as const) {
      // Received = what the downstream sent into the listener; sent = what the listener wrote back.
      expect(value(samples, "connections_opened_total", reporter), reporter).toBe(PAYLOADS.length);
      expect(value(samples, "connections_closed_total", reporter), reporter).toBe(PAYLOADS.length);
      expect(value(samples, "received_bytes_total", reporter), reporter).toBe(TOTAL);
      expect(value(samples, "sent_bytes_total", reporter), reporter).toBe(TOTAL);
    }
    // One series per metric and reporter, each with the 23 names in order and the recorder's values.
    expect(samples).toHaveLength(4 * 2);
    for (const s of samples) {
      expect(
        s.labels.map(([k]) => k),
        s.name,
      ).toEqual(REFERENCE_TCP_LABELS);
      const reporter = s.labels[0]![1] as "source" | "destination";
      expect(s.labels, `${s.name}/${reporter}`).toEqual(expectedLabels[reporter]);
    }
    const labels = (reporter: string) =>
      Object.fromEntries(samples.find((s) => s.labels[0]![1] === reporter)!.labels);
    // Outbound: the service comes from the Istio cluster name; the peer is unknown (no mTLS exchange).
    expect(labels("source")).toMatchObject({
      source_workload: "frontend-v1",
      destination_service: SERVICE_HOST,
      destination_service_name: "echo",
      destination_service_namespace: "demo",
      destination_workload: "unknown",
      request_protocol: "tcp",
      response_flags: "-",
      connection_security_policy: "unknown",
    });
    // Inbound: the local workload is the destination, its canonical service the destination service.
    expect(labels("destination")).toMatchObject({
      source_workload: "unknown",
      destination_workload: "echo-v1",
      destination_service: "echo",
      destination_service_namespace: "default",
      connection_security_policy: "none",
    });
  }, 60_000);

  test("Envoy shuts down cleanly: the bootstrap extension lets the shutdown complete", async () => {
    const p = envoy!;
    envoy = undefined;
    p.kill("SIGTERM");
    const exit = await Promise.race([
      p.exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000)),
    ]);
    if (exit === undefined) p.kill("SIGKILL");
    expect(exit, envoyLog.slice(-500)).toEqual({ exitCode: 0, signal: undefined });
  }, 20_000);
});
