import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, runCommand as runProgram } from "@meshctl/core";
import { requirementGate } from "@meshctl/core/testing";
import { ENVOY_DEFAULT_BUCKETS, tstatsEnvoyStatsConfig } from "@meshctl/tstats";
import { connectAdsTestClient } from "@meshctl/xds/testing";
import { settings } from "@oclif/core";
import { runCommand } from "@oclif/test";
import { register } from "tsx/esm/api";
import { describe, expect, test, vi } from "vitest";
import { CLI_BIN, CLI_ROOT } from "../../../test/helpers.js";
import XdsBootstrap from "./bootstrap.js";

settings.enableAutoTranspile = false;
register();

const envoyPath = await findProgram("envoy");
const envoyGate = requirementGate(
  "envoy",
  envoyPath ? undefined : "no `envoy` binary on PATH (bash scripts/install-envoy.sh)",
  "meshctl xds bootstrap in Envoy",
);
const load = { root: CLI_ROOT };
const capture = {};

describe("meshctl xds", () => {
  test("bootstrap --kind grpc prints a bootstrap with an Istio-style node id", async () => {
    const { stdout, error } = await runCommand(
      [
        "xds",
        "bootstrap",
        "--kind",
        "grpc",
        "--name",
        "c1",
        "--namespace",
        "demo",
        "--server",
        "127.0.0.1:15999",
        "--json",
      ],
      load,
      capture,
    );
    expect(error).toBeUndefined();
    const b = JSON.parse(stdout) as {
      node: { id: string; locality: unknown };
      xds_servers: { server_uri: string }[];
    };
    expect(b.node.id).toBe("grpc~127.0.0.1~c1.demo~demo.svc.cluster.local");
    expect(b.node.locality).toEqual({});
    expect(b.xds_servers[0]?.server_uri).toBe("127.0.0.1:15999");
  });

  test("bootstrap --kind envoy: admin port 15000 unless --admin-port says otherwise", async () => {
    const adminOf = async (...extra: string[]) => {
      const { stdout, error } = await runCommand(
        ["xds", "bootstrap", "--kind", "envoy", "--name", "web-1", "--namespace", "demo", ...extra, "--json"],
        load,
        capture,
      );
      expect(error, stdout).toBeUndefined();
      return (JSON.parse(stdout) as { admin: { address: { socket_address: unknown } } }).admin.address
        .socket_address;
    };
    expect(await adminOf()).toEqual({ address: "127.0.0.1", port_value: 15000 });
    expect(await adminOf("--admin-port", "15100")).toEqual({ address: "127.0.0.1", port_value: 15100 });
  });

  test.skipIf(envoyGate.skip)(
    "bootstrap --kind envoy sets Istio's buckets for the tstats module's histograms; the real Envoy accepts it",
    { timeout: 30_000 },
    async () => {
      if (envoyGate.missing) throw new Error(envoyGate.missing);
      // Run in this module graph (not through oclif's loader) so @meshctl/* resolve to their sources.
      vi.spyOn(process.stdout, "write").mockImplementation(() => true);
      const bootstrap = (await XdsBootstrap.run(
        ["--kind", "envoy", "--name", "web-1", "--namespace", "demo", "--json"],
        load,
      )) as { stats_config?: unknown };
      vi.restoreAllMocks();
      expect(bootstrap.stats_config).toEqual(tstatsEnvoyStatsConfig());
      const { histogram_bucket_settings: buckets } = bootstrap.stats_config as {
        histogram_bucket_settings: { buckets: number[] }[];
      };
      expect(buckets.length).toBeGreaterThan(0);
      for (const b of buckets) expect(b.buckets).toEqual([...ENVOY_DEFAULT_BUCKETS]);
      const dir = await mkdtemp(join(tmpdir(), "mct-xds-bootstrap-"));
      try {
        const file = join(dir, "envoy.json");
        await writeFile(file, JSON.stringify(bootstrap));
        const result = await runProgram(
          envoyPath!,
          ["--mode", "validate", "-c", file, "--disable-hot-restart"],
          {
            reject: false,
            timeoutMs: 30_000,
          },
        );
        expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
        expect(result.stdout + result.stderr).toMatch(/OK/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  test("bootstrap --admin-port outside 1..65535 is a usage error (exit 2) naming the flag", async () => {
    for (const bad of ["0", "65536", "http"]) {
      const { stdout, error } = await runCommand(
        ["xds", "bootstrap", "--kind", "envoy", "--name", "w", "--admin-port", bad, "--json"],
        load,
        capture,
      );
      expect(error?.oclif?.exit, bad).toBe(2);
      const report = JSON.parse(stdout) as { error: { code: string; message: string } };
      expect(report.error.code).toBe("USAGE");
      expect(report.error.message).toMatch(/--admin-port/);
    }
  });

  test("config-dump of the embedded mesh lists Istio-named clusters", async () => {
    const { stdout, error } = await runCommand(
      [
        "xds",
        "config-dump",
        "--node-id",
        "grpc~127.0.0.1~c.demo~demo.svc.cluster.local",
        "--type",
        "cds",
        "--json",
      ],
      load,
      capture,
    );
    expect(error).toBeUndefined();
    const dump = JSON.parse(stdout) as { types: { cds: { resources: { name: string }[] } } };
    expect(dump.types.cds.resources.map((r) => r.name)).toContain(
      "outbound|7070|v1|echo.demo.svc.cluster.local",
    );
  });

  test("config-dump: an error-level finding exits 5 after the dump; warnings alone exit 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mct-xds-dump-"));
    try {
      const svc = `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: demo }
spec:
  clusterIP: 10.96.0.10
  ports: [{ name: http, port: 80 }]
`;
      await writeFile(join(dir, "svc.yaml"), svc);
      await writeFile(
        join(dir, "vs.yaml"),
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: demo }
spec:
  hosts: [echo]
  http:
    - match: [{ queryParams: { a: { exact: b } } }]
      route: [{ destination: { host: echo } }]
`,
      );
      const args = [
        "xds",
        "config-dump",
        "--config",
        dir,
        "--node-id",
        "sidecar~10.0.0.7~web-1.demo~demo.svc.cluster.local",
        "--type",
        "rds",
        "--json",
      ];
      const warned = await runCommand(args, load, capture);
      expect(warned.error).toBeUndefined();
      const dump = JSON.parse(warned.stdout) as { diagnostics: { severity: string; path: string }[] };
      expect(dump.diagnostics.map((d) => `${d.severity} ${d.path}`)).toContain(
        "warning spec.http[0].match[0].queryParams",
      );

      await writeFile(
        join(dir, "vs.yaml"),
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: demo }
spec:
  hosts: [echo]
  http:
    - route: [{ destination: { host: nowhere.demo.svc.cluster.local } }]
`,
      );
      const failed = await runCommand(args, load, capture);
      expect(failed.error?.oclif?.exit).toBe(5);
      const errDump = JSON.parse(failed.stdout) as {
        types: { rds?: unknown };
        diagnostics: { severity: string }[];
      };
      expect(errDump.types.rds).toBeDefined();
      expect(errDump.diagnostics.some((d) => d.severity === "error")).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("config-dump with a missing directory is a usage error (exit 2)", async () => {
    const { stdout, error } = await runCommand(
      ["xds", "config-dump", "--config", "/nonexistent/mcx", "--node-id", "x", "--json"],
      load,
      capture,
    );
    expect(error?.oclif?.exit).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ error: { code: "XDS_CONFIG_DIR_MISSING" } });
  });

  test("serve runs until SIGTERM and logs its address", { timeout: 30_000 }, async () => {
    // Started as a user starts it, through the bin's shebang.
    const child = spawn(CLI_BIN, ["xds", "serve", "--port", "0", "--debug-port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!/xDS control plane on 127\.0\.0\.1:\d+/.test(out) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(/xDS control plane on 127\.0\.0\.1:\d+/);
    const debugPort = /debug http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
    const health = await fetch(`http://127.0.0.1:${debugPort}/healthz`);
    expect(health.status).toBe(200);
    // The serving process has glibc's fixed mmap threshold (decision record 0068).
    const environ = (await readFile(`/proc/${child.pid}/environ`, "utf8")).split("\0");
    expect(environ).toContain("MALLOC_MMAP_THRESHOLD_=65536");
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).toMatch(/Stopped after \d+s: 0 pushes, 0 NACKs\./);
  });

  test("serve beyond loopback: refused without TLS or --insecure; --insecure serves with a warning", {
    timeout: 30_000,
  }, async () => {
    const refused = await runCommand(
      ["xds", "serve", "--host", "0.0.0.0", "--port", "0", "--debug-port", "0", "--json"],
      load,
      capture,
    );
    expect(refused.error?.oclif?.exit).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: "XDS_INSECURE_BIND", kind: "usage" } });
    const debugOpen = await runCommand(
      ["xds", "serve", "--debug-host", "0.0.0.0", "--port", "0", "--debug-port", "0", "--json"],
      load,
      capture,
    );
    expect(JSON.parse(debugOpen.stdout)).toMatchObject({ error: { code: "XDS_INSECURE_BIND" } });

    // In-process (the spawned bin runs the built dist): serve installs its SIGTERM handler once
    // it is listening, which is when the test stops it.
    const before = process.listenerCount("SIGTERM");
    const running = runCommand(
      ["xds", "serve", "--host", "0.0.0.0", "--insecure", "--port", "0", "--debug-port", "0"],
      load,
      capture,
    );
    const deadline = Date.now() + 20_000;
    while (process.listenerCount("SIGTERM") <= before && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    process.emit("SIGTERM");
    const { stdout, stderr, error } = await running;
    expect(error, `${stdout}\n${stderr}`).toBeUndefined();
    expect(stdout).toMatch(/xDS control plane on 0\.0\.0\.0:\d+/);
    expect(stdout).toMatch(/warning: ADS on 0\.0\.0\.0 is plaintext and unauthenticated/);
    // The debug port stayed on loopback: only ADS was asked to go beyond it.
    expect(stdout).toMatch(/debug http:\/\/127\.0\.0\.1:\d+/);
  });

  test("serve --access-log-*: a bad format is a usage error before anything starts; --access-log-format needs the file", async () => {
    const bad = await runCommand(
      [
        "xds",
        "serve",
        "--port",
        "0",
        "--debug-port",
        "0",
        "--access-log-file",
        "/tmp/mcx-al.log",
        "--access-log-encoding",
        "JSON",
        "--access-log-format",
        "{nope",
        "--json",
      ],
      load,
      capture,
    );
    expect(bad.error?.oclif?.exit).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      error: { code: "XDS_ACCESS_LOG_INVALID", kind: "usage" },
    });
    const alone = await runCommand(
      ["xds", "serve", "--access-log-format", "%DURATION%", "--json"],
      load,
      capture,
    );
    expect(alone.error?.oclif?.exit).toBe(2);
    expect(JSON.parse(alone.stdout)).toMatchObject({
      error: { code: "USAGE", message: expect.stringMatching(/--access-log-file/) },
    });
  });

  test("serve --access-log-file puts the JSON access log on a sidecar's HTTP connection managers", {
    timeout: 30_000,
  }, async () => {
    const format =
      '{"request_id":"%REQ(X-REQUEST-ID)%","duration_us":"%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%"}';
    const child = spawn(
      process.execPath,
      [
        CLI_BIN,
        "xds",
        "serve",
        "--port",
        "0",
        "--debug-port",
        "0",
        "--access-log-file",
        "/dev/stdout",
        "--access-log-encoding",
        "JSON",
        "--access-log-format",
        format,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      while (!/xDS control plane on (127\.0\.0\.1:\d+)/.test(out) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(out).toMatch(/access log \/dev\/stdout \(JSON\)/);
      const address = /xDS control plane on (127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? "";
      const ads = await connectAdsTestClient({
        address,
        protocol: "sotw",
        nodeId: "sidecar~127.0.0.1~web-1.demo~demo.svc.cluster.local",
      });
      try {
        ads.send({ type_url: "type.googleapis.com/envoy.config.listener.v3.Listener", resource_names: [] });
        const lds = await ads.next(10_000);
        type Hcm = {
          access_log?: {
            name: string;
            typed_config: {
              path: string;
              log_format: { json_format?: { fields: Record<string, { stringValue?: string }> } };
            };
          }[];
        };
        const hcms = lds.resources
          .flatMap(
            (r) =>
              (r.value.filter_chains as { filters: { name: string; typed_config: Hcm }[] }[] | undefined) ??
              [],
          )
          .flatMap((c) => c.filters)
          .filter((f) => f.name === "envoy.filters.network.http_connection_manager");
        expect(hcms.length).toBeGreaterThan(0);
        for (const hcm of hcms) {
          const [log] = hcm.typed_config.access_log ?? [];
          expect(log?.name).toBe("envoy.access_loggers.file");
          expect(log?.typed_config.path).toBe("/dev/stdout");
          expect(log?.typed_config.log_format.json_format?.fields.duration_us?.stringValue).toBe(
            "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%",
          );
        }
      } finally {
        ads.close();
      }
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
