import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  loadTstatsEnvoyFilters,
  meshctlConfigDir,
  readTstatsSettings,
  tstatsSettingsPath,
  writeTstatsSettings,
} from "./settings.js";

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

  test("the control plane gets encoded filters only when enabled", async () => {
    expect(await loadTstatsEnvoyFilters(dir)).toBeUndefined();
    await writeTstatsSettings({ enabled: true, filters: { tcpReportingSeconds: 9 } }, dir);
    const filters = await loadTstatsEnvoyFilters(dir);
    expect(filters?.http.outbound.map((f) => f.name)).toEqual(["istio.metadata_exchange", "istio.stats"]);
    // stats.PluginConfig{tcp_reporting_duration: 9s} = 3a 02 08 09
    expect(Buffer.from(filters!.http.outbound[1]!.typed_config.value).toString("hex")).toBe("3a020809");
    await writeTstatsSettings({ enabled: false }, dir);
    expect(await loadTstatsEnvoyFilters(dir)).toBeUndefined();
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
