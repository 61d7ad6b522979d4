// `meshctl enable tstats` end to end with the control plane: the setting written by the command is
// read by the same code path `meshctl xds serve` uses, and a sidecar receives the filters over ADS:
// an Istio proxy Istio's own filters, a stock Envoy the tstats module built from its own Node.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, runCommand as runProgram, spawnProgram } from "@meshctl/core";
import { requirementGate } from "@meshctl/core/testing";
import {
  buildTstatsModules,
  DYNAMIC_MODULE_NETWORK_FILTER_TYPE_URL,
  decodePeerMetadataHeader,
  envoyModuleProtoRoot,
  loadTstatsEnvoyFilters,
  type TstatsModuleSetting,
  writeTstatsSettings,
} from "@meshctl/tstats";
import { startXdsServer, staticMeshSource, type XdsServerHandle } from "@meshctl/xds";
import { connectAdsTestClient, waitFor } from "@meshctl/xds/testing";
import { settings } from "@oclif/core";
import { register } from "tsx/esm/api";
import { afterEach, describe, expect, test, vi } from "vitest";
import { CLI_ROOT } from "../../../test/helpers.js";
import XdsBootstrap from "../xds/bootstrap.js";

settings.enableAutoTranspile = false;
register();

const envoyPath = await findProgram("envoy");
const clangPath = await findProgram("clang");
const envoyGate = requirementGate(
  "envoy",
  !envoyPath
    ? "no `envoy` binary on PATH (bash scripts/install-envoy.sh)"
    : !clangPath
      ? "no clang to build the module (apt-get install clang)"
      : undefined,
  "tstats TCP filter in a stock Envoy over ADS",
);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Filter = {
  name: string;
  typed_config: { type_url?: string; value?: string; http_filters?: Filter[] };
};

const ISTIO_EXTENSIONS = [
  {
    name: "istio.metadata_exchange",
    category: "envoy.filters.http",
    type_urls: ["io.istio.http.peer_metadata.Config"],
  },
  { name: "istio.stats", category: "envoy.filters.http", type_urls: ["stats.PluginConfig"] },
  {
    name: "istio.metadata_exchange",
    category: "envoy.filters.network",
    type_urls: ["envoy.tcp.metadataexchange.config.MetadataExchange"],
  },
  { name: "istio.stats", category: "envoy.filters.network", type_urls: ["stats.PluginConfig"] },
  {
    name: "istio.metadata_exchange",
    category: "envoy.filters.upstream_network",
    type_urls: ["envoy.tcp.metadataexchange.config.MetadataExchange"],
  },
];
/** The HTTP-filter entries stock Envoy 1.40.0 reports for its module hosts (xds/test/fixtures/envoy-1.40-node.json). */
const STOCK_MODULE_EXTENSIONS = [
  {
    name: "envoy.extensions.filters.http.dynamic_modules",
    category: "envoy.filters.http",
    type_urls: [
      "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
      "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute",
    ],
  },
  {
    name: "envoy.filters.http.wasm",
    category: "envoy.filters.http",
    type_urls: ["envoy.extensions.filters.http.wasm.v3.Wasm"],
  },
];
const NODE_ID = "sidecar~127.0.0.1~web-1.default~default.svc.cluster.local";
// What `meshctl xds bootstrap --kind envoy` puts in node.metadata, as a Struct on the wire.
const METADATA = {
  fields: {
    NAMESPACE: { stringValue: "default" },
    NAME: { stringValue: "web-1" },
    WORKLOAD_NAME: { stringValue: "web" },
    LABELS: { structValue: { fields: { app: { stringValue: "web" }, version: { stringValue: "v1" } } } },
  },
};

async function serve(module: TstatsModuleSetting, modulePath?: string): Promise<XdsServerHandle> {
  const dir = await mkdtemp(join(tmpdir(), "mct-tstats-xds-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeTstatsSettings(
    { enabled: true, module, ...(modulePath ? { modulePath } : {}), filters: { tcpReportingSeconds: 5 } },
    dir,
  );
  const envoyFilters = await loadTstatsEnvoyFilters(dir);
  expect(envoyFilters).toBeDefined();
  const xds = await startXdsServer({ port: 0, debugPort: false, ...(envoyFilters ? { envoyFilters } : {}) });
  cleanups.push(() => xds.close());
  return xds;
}

async function hcmsOf(xds: XdsServerHandle, node: Record<string, unknown>): Promise<Filter[]> {
  const client = await connectAdsTestClient({
    address: xds.address,
    protocol: "sotw",
    nodeId: NODE_ID,
    node,
  });
  cleanups.push(() => client.close());
  client.send({ type_url: "type.googleapis.com/envoy.config.listener.v3.Listener", resource_names: [] });
  const lds = await client.next(10_000);
  const hcms = lds.resources
    .flatMap((r) => (r.value.filter_chains as { filters: Filter[] }[] | undefined) ?? [])
    .flatMap((c) => c.filters)
    .filter((f) => f.name === "envoy.filters.network.http_connection_manager");
  expect(hcms.length).toBeGreaterThan(0);
  return hcms;
}

/** The module's configuration text inside an encoded DynamicModuleFilter or Wasm filter. */
function moduleConfigText(filter: Filter): Record<string, string> {
  const root = envoyModuleProtoRoot();
  const bytes = Buffer.from(filter.typed_config.value ?? "", "base64");
  let config: { type_url: string; value: Uint8Array };
  if (filter.typed_config.type_url?.endsWith("DynamicModuleFilter")) {
    const type = root.lookupType("envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter");
    config = (type.toObject(type.decode(bytes)) as { filter_config: typeof config }).filter_config;
  } else {
    const type = root.lookupType("envoy.extensions.filters.http.wasm.v3.Wasm");
    config = (type.toObject(type.decode(bytes)) as { config: { configuration: typeof config } }).config
      .configuration;
  }
  const StringValue = root.lookupType("google.protobuf.StringValue");
  const text = (StringValue.toObject(StringValue.decode(config.value)) as { value: string }).value;
  return Object.fromEntries(
    text
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

describe("tstats through meshctl's xDS control plane", () => {
  test("native (default): an Istio proxy gets Istio's filters over ADS, and no module", {
    timeout: 30_000,
  }, async () => {
    const xds = await serve("native");
    for (const hcm of await hcmsOf(xds, {
      user_agent_name: "envoy",
      extensions: ISTIO_EXTENSIONS,
      metadata: METADATA,
    })) {
      const names = (hcm.typed_config.http_filters ?? []).map((f) => f.name);
      expect(names.slice(-3)).toEqual([
        "istio.metadata_exchange",
        "istio.stats",
        "envoy.filters.http.router",
      ]);
      expect(names).not.toContain("tstats");
    }
  });

  test("native: a stock Envoy gets the dynamic module, configured with its own Node's identity", {
    timeout: 30_000,
  }, async () => {
    const xds = await serve("native", "/opt/meshctl/libtstats.so");
    const hcms = await hcmsOf(xds, {
      user_agent_name: "envoy",
      extensions: STOCK_MODULE_EXTENSIONS,
      metadata: METADATA,
    });
    const reporters = new Set<string>();
    for (const hcm of hcms) {
      const filters = hcm.typed_config.http_filters ?? [];
      expect(filters.map((f) => f.name).slice(-2)).toEqual(["tstats", "envoy.filters.http.router"]);
      const module = filters.at(-2)!;
      expect(module.typed_config.type_url).toBe(
        "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
      );
      const config = moduleConfigText(module);
      reporters.add(config.reporter!);
      expect(config.id).toBe(NODE_ID);
      expect(decodePeerMetadataHeader(config.metadata!)).toMatchObject({
        namespace: "default",
        instanceName: "web-1",
        workloadName: "web",
        app: "web",
        version: "v1",
      });
    }
    // Outbound listeners report as source, the inbound one as destination.
    expect([...reporters].sort()).toEqual(["destination", "source"]);
    expect(xds.clients()[0]?.skippedFilters).toEqual([]);
  });

  test("wasm: a stock Envoy gets the Wasm filter; a proxy that reports nothing gets none and is told why", {
    timeout: 30_000,
  }, async () => {
    const xds = await serve("wasm", "/opt/meshctl/tstats.wasm");
    for (const hcm of await hcmsOf(xds, {
      user_agent_name: "envoy",
      extensions: STOCK_MODULE_EXTENSIONS,
      metadata: METADATA,
    })) {
      const module = (hcm.typed_config.http_filters ?? []).at(-2)!;
      expect(module.name).toBe("tstats.wasm");
      expect(moduleConfigText(module).id).toBe(NODE_ID);
    }
    const bare = await hcmsOf(xds, { metadata: METADATA });
    for (const hcm of bare)
      expect((hcm.typed_config.http_filters ?? []).map((f) => f.name)).not.toContain("tstats.wasm");
    const skipped = xds.clients().flatMap((c) => c.skippedFilters);
    expect(skipped).toEqual([
      expect.objectContaining({
        name: "tstats.wasm",
        alternative: "tstats-wasm",
        type: "envoy.extensions.filters.http.wasm.v3.Wasm",
        at: ["http/inbound", "http/outbound"],
      }),
    ]);
  });
});

/** Runs `meshctl xds bootstrap` in this module graph, with meshctl's config dir at `configDir`. */
async function cliBootstrap(configDir: string, args: string[]): Promise<Record<string, unknown>> {
  vi.stubEnv("MESHCTL_CONFIG_DIR", configDir);
  vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  try {
    return (await XdsBootstrap.run(["--kind", "envoy", ...args, "--json"], { root: CLI_ROOT })) as Record<
      string,
      unknown
    >;
  } finally {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  }
}

describe("TCP telemetry: meshctl xds bootstrap marks the Envoy, the control plane sends it the TCP filter", () => {
  test("no bootstrap extension nor flag when tstats is disabled, wasm, or the module file is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mct-tstats-boot-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const args = ["--name", "web-1", "--namespace", "demo"];
    const plain = async () => {
      const b = await cliBootstrap(dir, args);
      expect(b).not.toHaveProperty("bootstrap_extensions");
      expect((b.node as { metadata: Record<string, unknown> }).metadata).not.toHaveProperty(
        "MESHCTL_TSTATS_TCP",
      );
    };
    await plain();
    await writeTstatsSettings({ enabled: true, module: "native", modulePath: join(dir, "nope.so") }, dir);
    await plain();
    const so = join(dir, "libtstats.so");
    await writeFile(so, "");
    await writeTstatsSettings({ enabled: false, module: "native", modulePath: so }, dir);
    await plain();
    await writeTstatsSettings({ enabled: true, module: "wasm", modulePath: so }, dir);
    await plain();
    await writeTstatsSettings({ enabled: true, module: "native", modulePath: so }, dir);
    const b = await cliBootstrap(dir, args);
    expect((b.node as { metadata: Record<string, unknown> }).metadata.MESHCTL_TSTATS_TCP).toBe("true");
    expect(b.bootstrap_extensions).toEqual([
      expect.objectContaining({
        name: "envoy.bootstrap.dynamic_modules",
        typed_config: expect.objectContaining({
          dynamic_module_config: expect.objectContaining({ module: { local: { filename: so } } }),
        }),
      }),
    ]);
  });

  test.skipIf(envoyGate.skip)(
    "a stock Envoy with that bootstrap validates, connects, and ACKs listeners with the TCP filter before tcp_proxy",
    { timeout: 120_000 },
    async () => {
      if (envoyGate.missing) throw new Error(envoyGate.missing);
      const dir = await mkdtemp(join(tmpdir(), "mct-tstats-tcp-ads-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const built = await buildTstatsModules({ outDir: join(dir, "obj"), target: "native" });
      const so = built.files[0]!.path;
      await writeTstatsSettings({ enabled: true, module: "native", modulePath: so }, dir);
      const envoyFilters = await loadTstatsEnvoyFilters(dir);
      // A TCP service (outbound chain) with an endpoint on the Envoy's own IP (inbound chain).
      const source = staticMeshSource([
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "db", namespace: "demo" },
          spec: { ports: [{ name: "tcp-db", port: 5432, protocol: "TCP" }] },
        },
        {
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: { name: "db-0", namespace: "demo", labels: { "kubernetes.io/service-name": "db" } },
          addressType: "IPv4",
          ports: [{ name: "tcp-db", port: 5432 }],
          endpoints: [{ addresses: ["10.11.0.98"] }],
        },
      ]);
      const xds = await startXdsServer({
        source,
        port: 0,
        debugPort: false,
        ...(envoyFilters ? { envoyFilters } : {}),
      });
      cleanups.push(() => xds.close());
      const bootstrap = await cliBootstrap(dir, [
        "--name",
        "db-1",
        "--namespace",
        "demo",
        "--ip",
        "10.11.0.98",
        "--server",
        xds.address,
      ]);
      // The admin port: Envoy picks one (written to --admin-address-path).
      expect(bootstrap.bootstrap_extensions).toBeDefined();
      const file = join(dir, "envoy.json");
      await writeFile(
        file,
        JSON.stringify({
          ...bootstrap,
          admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
        }),
      );
      // 1. Envoy's own validation loads the module's bootstrap extension from module.local.filename.
      const validated = await runProgram(
        envoyPath!,
        ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"],
        { reject: false, timeoutMs: 60_000 },
      );
      expect(validated.exitCode, `${validated.stdout}\n${validated.stderr}`).toBe(0);

      // 2. Over ADS: the Envoy ACKs listeners whose TCP chains carry the module's network filter.
      let log = "";
      const envoy = spawnProgram(envoyPath!, [
        "-c",
        file,
        "--disable-hot-restart",
        "--log-level",
        "warn",
        "--admin-address-path",
        join(dir, "admin-address"),
        "--base-id",
        String(10_000 + (process.pid % 50_000)),
      ]);
      envoy.stdout?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
      envoy.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
      cleanups.push(async () => {
        envoy.kill("SIGTERM");
        await Promise.race([envoy.exited, new Promise((r) => setTimeout(r, 5000))]);
        envoy.kill("SIGKILL");
      });
      const client = await waitFor(
        () => {
          const c = xds.clients().find((s) => s.nodeId.startsWith("sidecar~10.11.0.98~db-1.demo"));
          const lds = c?.types.lds;
          if (lds && lds.nacks > 0) throw new Error(`Envoy NACKed LDS: ${JSON.stringify(c)}`);
          return c && lds?.ackedVersion !== undefined && lds.ackedVersion === lds.lastVersionSent ? c : false;
        },
        { timeoutMs: 30_000, what: "Envoy to ACK LDS" },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\nclients: ${JSON.stringify(xds.clients())}\nEnvoy log:\n${log}`);
      });
      expect(client.skippedFilters).toEqual([]);
      const admin = `http://${(await readFile(join(dir, "admin-address"), "utf8")).trim()}`;
      const dump = (await (await fetch(`${admin}/config_dump?resource=dynamic_listeners`)).json()) as {
        configs: { active_state?: { listener?: Record<string, unknown> } }[];
      };
      type Chain = { filters: { name: string; typed_config: { "@type": string } }[] };
      const tcpChains = dump.configs
        .map((c) => c.active_state?.listener as { name: string; filter_chains?: Chain[] } | undefined)
        .flatMap((l) => (l?.filter_chains ?? []).map((chain) => ({ listener: l!.name, chain })))
        .filter(({ chain }) => chain.filters.some((f) => f.name === "envoy.filters.network.tcp_proxy"))
        .filter(({ chain }) => chain.filters.length > 1);
      const withModule = tcpChains.filter(({ chain }) =>
        chain.filters.some(
          (f) =>
            `type.googleapis.com/${f.typed_config["@type"]?.replace(/^type\.googleapis\.com\//, "")}` ===
            DYNAMIC_MODULE_NETWORK_FILTER_TYPE_URL,
        ),
      );
      // The outbound 0.0.0.0_5432 chain and the inbound 5432 chain, the filter right before tcp_proxy.
      expect(new Set(withModule.map((w) => w.listener))).toEqual(new Set(["0.0.0.0_5432", "virtualInbound"]));
      for (const { chain } of withModule)
        expect(chain.filters.map((f) => f.name).slice(-2)).toEqual([
          "tstats",
          "envoy.filters.network.tcp_proxy",
        ]);
      const stats = await (await fetch(`${admin}/stats?filter=listener_manager.lds`)).text();
      expect(stats).toMatch(/listener_manager\.lds\.update_rejected: 0/);
    },
  );
});
