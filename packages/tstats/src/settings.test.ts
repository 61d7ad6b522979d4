import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  DYNAMIC_MODULE_FILTER_TYPE_URL,
  tstatsBootstrapExtension,
  WASM_FILTER_TYPE_URL,
} from "./module-filter.js";
import {
  DEFAULT_TSTATS_SETTINGS,
  loadTstatsEnvoyFilters,
  meshctlConfigDir,
  readTstatsSettings,
  type TstatsEnvoyFilters,
  type TstatsFilterAlternative,
  tstatsEnvoyBootstrap,
  tstatsSettingsPath,
  writeTstatsSettings,
} from "./settings.js";

const NODE = {
  id: "sidecar~10.0.0.7~web-1.demo~demo.svc.cluster.local",
  metadata: { NAMESPACE: "demo", NAME: "web-1", LABELS: { app: "web" } },
};

function alternativesOf(filters: TstatsEnvoyFilters | undefined): readonly TstatsFilterAlternative[] {
  if (!filters || !("alternatives" in filters)) throw new Error("expected alternatives");
  return filters.alternatives;
}

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "mct-tstats-cfg-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("tstats setting", () => {
  test("missing file = disabled; enable and disable round-trip", async () => {
    expect((await readTstatsSettings(dir)).enabled).toBe(false);
    const { path } = await writeTstatsSettings({ enabled: true, filters: { tcpReportingSeconds: 10 } }, dir);
    expect(path).toBe(tstatsSettingsPath(dir));
    expect(await readTstatsSettings(dir)).toMatchObject({
      enabled: true,
      filters: { tcpReportingSeconds: 10 },
    });
    await writeTstatsSettings({ enabled: false }, dir);
    expect((await readTstatsSettings(dir)).enabled).toBe(false);
    expect(JSON.parse(await readFile(path, "utf8")).updatedAt).toMatch(/^\d{4}-/);
  });

  test("module round-trips; a file from before `module` existed means native", async () => {
    await writeTstatsSettings({ enabled: true, module: "wasm", modulePath: "/opt/mesh/tstats.wasm" }, dir);
    expect(await readTstatsSettings(dir)).toMatchObject({
      enabled: true,
      module: "wasm",
      modulePath: "/opt/mesh/tstats.wasm",
    });
    await writeFile(tstatsSettingsPath(dir), JSON.stringify({ enabled: true, filters: {} }));
    const old = await readTstatsSettings(dir);
    expect(old.module).toBe("native");
    expect("modulePath" in old).toBe(false);
  });

  test("a bad module or a relative module path is refused, in the file and when writing", async () => {
    await writeFile(tstatsSettingsPath(dir), JSON.stringify({ enabled: true, module: "ebpf" }));
    await expect(readTstatsSettings(dir)).rejects.toMatchObject({
      code: "TSTATS_SETTINGS_INVALID",
      message: expect.stringContaining("`module` must be one of native, wasm, istio"),
    });
    await expect(
      writeTstatsSettings({ enabled: true, module: "native", modulePath: "obj/libtstats.so" }, dir),
    ).rejects.toMatchObject({ code: "TSTATS_SETTINGS_INVALID", kind: "usage" });
  });

  test("istio: the control plane gets Istio's encoded filters only when enabled", async () => {
    expect(await loadTstatsEnvoyFilters(dir)).toBeUndefined();
    await writeTstatsSettings({ enabled: true, module: "istio", filters: { tcpReportingSeconds: 9 } }, dir);
    const filters = await loadTstatsEnvoyFilters(dir);
    if (!filters || !("http" in filters)) throw new Error("expected Istio's filter set");
    expect(filters.http.outbound.map((f) => f.name)).toEqual(["istio.metadata_exchange", "istio.stats"]);
    // stats.PluginConfig{tcp_reporting_duration: 9s} = 3a 02 08 09
    expect(Buffer.from(filters.http.outbound[1]!.typed_config.value).toString("hex")).toBe("3a020809");
    await writeTstatsSettings({ enabled: false, module: "istio" }, dir);
    expect(await loadTstatsEnvoyFilters(dir)).toBeUndefined();
  });

  test("native (default): Istio's filters first, then the dynamic module built per proxy", async () => {
    await writeTstatsSettings({ enabled: true, filters: { tcpReportingSeconds: 9 } }, dir);
    const [istio, native, ...rest] = alternativesOf(await loadTstatsEnvoyFilters(dir));
    expect(rest).toEqual([]);
    expect(istio?.name).toBe("istio");
    expect(istio?.filters?.http.inbound.map((f) => f.name)).toEqual([
      "istio.metadata_exchange",
      "istio.stats",
    ]);
    expect(istio?.perProxy).toBeUndefined();
    expect(native?.name).toBe("tstats-native");
    const perProxy = native?.perProxy?.(NODE);
    expect(perProxy?.http.inbound.map((f) => f.typed_config.type_url)).toEqual([
      DYNAMIC_MODULE_FILTER_TYPE_URL,
    ]);
    expect(perProxy?.http.outbound).toHaveLength(1);
    // Same node, same bytes (the control plane's cache keys rely on it).
    expect(native?.perProxy?.(NODE)).toEqual(perProxy);
  });

  test("wasm: only the Wasm module, per proxy, from the configured path", async () => {
    await writeTstatsSettings({ enabled: true, module: "wasm", modulePath: "/opt/mesh/tstats.wasm" }, dir);
    const [wasm, ...rest] = alternativesOf(await loadTstatsEnvoyFilters(dir));
    expect(rest).toEqual([]);
    expect(wasm?.name).toBe("tstats-wasm");
    const filter = wasm?.perProxy?.(NODE).http.outbound[0];
    expect(filter?.typed_config.type_url).toBe(WASM_FILTER_TYPE_URL);
    expect(Buffer.from(filter!.typed_config.value).includes(Buffer.from("/opt/mesh/tstats.wasm"))).toBe(true);
  });

  test("a corrupt file is reported with its path", async () => {
    await writeFile(tstatsSettingsPath(dir), "{ nope");
    await expect(readTstatsSettings(dir)).rejects.toMatchObject({
      code: "TSTATS_SETTINGS_INVALID",
      message: expect.stringContaining(dir),
    });
  });

  test("config dir precedence", () => {
    expect(meshctlConfigDir({ MESHCTL_CONFIG_DIR: "/x", XDG_CONFIG_HOME: "/y" })).toBe("/x");
    expect(meshctlConfigDir({ XDG_CONFIG_HOME: "/y" })).toBe("/y/meshctl");
    expect(meshctlConfigDir({})).toMatch(/\.config\/meshctl$/);
  });
});

describe("tstatsEnvoyBootstrap (meshctl xds bootstrap's TCP additions)", () => {
  const on = { ...DEFAULT_TSTATS_SETTINGS, enabled: true, modulePath: "/opt/m/libtstats.so" };
  const exists = (path: string) => path === "/opt/m/libtstats.so";

  test("enabled, native and the module file exists: the extension and the node flag", () => {
    const tcp = tstatsEnvoyBootstrap(on, exists);
    expect(tcp?.nodeMetadata).toEqual({ MESHCTL_TSTATS_TCP: "true" });
    expect(tcp?.bootstrapExtensions).toEqual([tstatsBootstrapExtension("/opt/m/libtstats.so")]);
  });

  test("disabled, another module, or no module file: nothing", () => {
    expect(tstatsEnvoyBootstrap({ ...on, enabled: false }, exists)).toBeUndefined();
    expect(tstatsEnvoyBootstrap({ ...on, module: "wasm" }, exists)).toBeUndefined();
    expect(tstatsEnvoyBootstrap({ ...on, module: "istio" }, exists)).toBeUndefined();
    expect(tstatsEnvoyBootstrap({ ...on, modulePath: "/elsewhere/libtstats.so" }, exists)).toBeUndefined();
  });
});
