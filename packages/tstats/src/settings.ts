/**
 * The persisted `meshctl enable|disable tstats` setting: one small JSON file the xDS control plane
 * reads when it generates sidecar listeners. It lives in meshctl's config directory
 * (`$MESHCTL_CONFIG_DIR`, else `$XDG_CONFIG_HOME/meshctl`, else `~/.config/meshctl`) so enabling
 * telemetry never edits the user's mesh YAML.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { MeshctlError } from "@meshctl/core";
import {
  buildTstatsFilterSet,
  type EncodedTstatsFilterSet,
  encodeTstatsFilterSet,
  type TstatsFilterOptions,
} from "./envoy-config.js";

export const TSTATS_SETTINGS_FILE = "tstats.json";

export interface TstatsSettings {
  readonly enabled: boolean;
  /** Filter options the control plane passes to `buildTstatsFilterSet`. */
  readonly filters: Omit<TstatsFilterOptions, "encoding">;
  readonly updatedAt: string;
}

export const DEFAULT_TSTATS_SETTINGS: TstatsSettings = { enabled: false, filters: {}, updatedAt: "" };

/**
 * meshctl's config directory.
 *
 * @example
 * meshctlConfigDir({ MESHCTL_CONFIG_DIR: "/etc/meshctl" }); // "/etc/meshctl"
 */
export function meshctlConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MESHCTL_CONFIG_DIR) return env.MESHCTL_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "meshctl");
  return join(homedir(), ".config", "meshctl");
}

export function tstatsSettingsPath(configDir: string = meshctlConfigDir()): string {
  return join(configDir, TSTATS_SETTINGS_FILE);
}

/**
 * Reads the setting; a missing file means disabled. A corrupt file throws `TSTATS_SETTINGS_INVALID`
 * with the path, so the caller can keep its last good state.
 *
 * @example
 * const { enabled, filters } = await readTstatsSettings();
 */
export async function readTstatsSettings(configDir: string = meshctlConfigDir()): Promise<TstatsSettings> {
  const path = tstatsSettingsPath(configDir);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return DEFAULT_TSTATS_SETTINGS;
    throw new MeshctlError("TSTATS_SETTINGS_UNREADABLE", `Cannot read ${path}.`, {
      kind: "environment",
      cause: error,
    });
  }
  try {
    const parsed = JSON.parse(text) as Partial<TstatsSettings>;
    if (typeof parsed.enabled !== "boolean") throw new Error("`enabled` must be a boolean");
    return {
      enabled: parsed.enabled,
      filters: parsed.filters && typeof parsed.filters === "object" ? parsed.filters : {},
      updatedAt: typeof parsed.updatedAt === "string" ? parsed.updatedAt : "",
    };
  } catch (cause) {
    throw new MeshctlError(
      "TSTATS_SETTINGS_INVALID",
      `${path} is not a valid tstats setting: ${(cause as Error).message}.`,
      {
        kind: "usage",
        cause,
        suggestions: [`Fix or delete ${path}, then run \`meshctl enable tstats\` again.`],
      },
    );
  }
}

/**
 * Writes the setting atomically (temp file + rename), so a reader never sees half a file.
 *
 * @example
 * await writeTstatsSettings({ enabled: true, filters: { tcpReportingSeconds: 5 } });
 */
export async function writeTstatsSettings(
  settings: { readonly enabled: boolean; readonly filters?: TstatsSettings["filters"] },
  configDir: string = meshctlConfigDir(),
): Promise<{ path: string; settings: TstatsSettings }> {
  const path = tstatsSettingsPath(configDir);
  const full: TstatsSettings = {
    enabled: settings.enabled,
    filters: settings.filters ?? {},
    updatedAt: new Date().toISOString(),
  };
  try {
    await mkdir(configDir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(full, null, 2)}\n`);
    await rename(tmp, path);
  } catch (cause) {
    throw new MeshctlError("TSTATS_SETTINGS_UNWRITABLE", `Cannot write ${path}.`, {
      kind: "environment",
      cause,
      suggestions: ["Set MESHCTL_CONFIG_DIR to a writable directory."],
    });
  }
  return { path, settings: full };
}

/**
 * What the xDS control plane needs from the setting: the encoded filters when tstats is enabled,
 * `undefined` when it is not. Read it at start and whenever `tstats.json` changes.
 *
 * @example
 * const filters = await loadTstatsEnvoyFilters(); // undefined, or { http, network, cluster }
 */
export async function loadTstatsEnvoyFilters(
  configDir: string = meshctlConfigDir(),
): Promise<EncodedTstatsFilterSet | undefined> {
  const settings = await readTstatsSettings(configDir);
  if (!settings.enabled) return undefined;
  return encodeTstatsFilterSet(buildTstatsFilterSet(settings.filters));
}
