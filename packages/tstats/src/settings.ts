/**
 * The persisted `meshctl enable|disable tstats` setting: one small JSON file the xDS control plane
 * reads when it generates sidecar listeners. It lives in meshctl's config directory
 * (`$MESHCTL_CONFIG_DIR`, else `$XDG_CONFIG_HOME/meshctl`, else `~/.config/meshctl`) so enabling
 * telemetry never edits the user's mesh YAML.
 *
 * `module` picks what sidecars get: `native` (default) offers, per proxy, Istio's own filters when
 * the proxy has them (an Istio proxy) and otherwise the tstats dynamic module (stock Envoy);
 * `wasm` offers the Wasm build of the module (for comparison); `istio` offers Istio's filters only.
 */
import { existsSync } from "node:fs";
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
import {
  TSTATS_TCP_NODE_METADATA_KEY,
  type TstatsModuleHttpFilters,
  type TstatsModuleKind,
  type TstatsProxyNode,
  tstatsBootstrapExtension,
  tstatsModuleFiles,
  tstatsModuleFiltersForNode,
} from "./module-filter.js";

export const TSTATS_SETTINGS_FILE = "tstats.json";

/** What sidecars get: see the file comment. */
export type TstatsModuleSetting = "native" | "wasm" | "istio";
export const TSTATS_MODULE_SETTINGS: readonly TstatsModuleSetting[] = ["native", "wasm", "istio"];

export interface TstatsSettings {
  readonly enabled: boolean;
  readonly module: TstatsModuleSetting;
  /**
   * The module file (`libtstats.so` or `tstats.wasm`) as the proxies' hosts see it, absolute.
   * Absent: this package's own `obj/` file (the control plane and the proxies share a host).
   */
  readonly modulePath?: string;
  /** Filter options for Istio's filters (`buildTstatsFilterSet`). */
  readonly filters: Omit<TstatsFilterOptions, "encoding">;
  readonly updatedAt: string;
}

export const DEFAULT_TSTATS_SETTINGS: TstatsSettings = Object.freeze({
  enabled: false,
  module: "native",
  filters: {},
  updatedAt: "",
});

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
    const parsed = JSON.parse(text) as Partial<Record<keyof TstatsSettings, unknown>>;
    if (typeof parsed.enabled !== "boolean") throw new Error("`enabled` must be a boolean");
    // Files written before `module` existed mean the default.
    const module = parsed.module ?? DEFAULT_TSTATS_SETTINGS.module;
    if (!TSTATS_MODULE_SETTINGS.includes(module as TstatsModuleSetting))
      throw new Error(`\`module\` must be one of ${TSTATS_MODULE_SETTINGS.join(", ")}`);
    const modulePath = parsed.modulePath;
    if (modulePath !== undefined && (typeof modulePath !== "string" || !modulePath.startsWith("/")))
      throw new Error("`modulePath` must be an absolute path");
    return {
      enabled: parsed.enabled,
      module: module as TstatsModuleSetting,
      ...(modulePath !== undefined ? { modulePath } : {}),
      filters:
        parsed.filters && typeof parsed.filters === "object"
          ? (parsed.filters as TstatsSettings["filters"])
          : {},
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
 * await writeTstatsSettings({ enabled: true, module: "native", filters: { tcpReportingSeconds: 5 } });
 */
export async function writeTstatsSettings(
  settings: {
    readonly enabled: boolean;
    readonly module?: TstatsModuleSetting;
    readonly modulePath?: string;
    readonly filters?: TstatsSettings["filters"];
  },
  configDir: string = meshctlConfigDir(),
): Promise<{ path: string; settings: TstatsSettings }> {
  const path = tstatsSettingsPath(configDir);
  const module = settings.module ?? DEFAULT_TSTATS_SETTINGS.module;
  if (!TSTATS_MODULE_SETTINGS.includes(module))
    throw new MeshctlError(
      "TSTATS_SETTINGS_INVALID",
      `Unknown tstats module "${module}" (one of ${TSTATS_MODULE_SETTINGS.join(", ")}).`,
      { kind: "usage" },
    );
  if (settings.modulePath !== undefined && !settings.modulePath.startsWith("/"))
    throw new MeshctlError(
      "TSTATS_SETTINGS_INVALID",
      `The module path must be absolute (as the proxies' hosts see it), got "${settings.modulePath}".`,
      { kind: "usage" },
    );
  const full: TstatsSettings = {
    enabled: settings.enabled,
    module,
    ...(settings.modulePath !== undefined ? { modulePath: settings.modulePath } : {}),
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

/** One way to give a proxy telemetry: a fixed filter set, or filters built for each proxy. */
export interface TstatsFilterAlternative {
  /** `istio`, `tstats-native` or `tstats-wasm` (in /debug/clients and `meshctl diagnose`). */
  readonly name: string;
  readonly filters?: EncodedTstatsFilterSet;
  /** The module filters of one proxy, from its xDS Node (the config names the proxy itself). */
  readonly perProxy?: (node: TstatsProxyNode) => TstatsModuleHttpFilters;
}

/**
 * What the control plane inserts (the shape of `@meshctl/xds`'s `EnvoyFilterExtensions`, which
 * this package does not import): Istio's filters for every proxy that has them (`istio`), or
 * alternatives in order, of which a proxy gets the first whose filters it all has.
 */
export type TstatsEnvoyFilters =
  | EncodedTstatsFilterSet
  | { readonly alternatives: readonly TstatsFilterAlternative[] };

/**
 * The filters a setting asks for, or `undefined` when tstats is disabled. `native`: Istio's own
 * filters for Istio proxies, else the dynamic module (stock Envoy); `wasm`: the Wasm module;
 * `istio`: Istio's filters, each to the proxies that have it.
 *
 * @example
 * const ext = tstatsEnvoyFilters({ ...DEFAULT_TSTATS_SETTINGS, enabled: true });
 * // { alternatives: [{ name: "istio", filters }, { name: "tstats-native", perProxy }] }
 */
export function tstatsEnvoyFilters(settings: TstatsSettings): TstatsEnvoyFilters | undefined {
  if (!settings.enabled) return undefined;
  const moduleFor =
    (kind: TstatsModuleKind) =>
    (node: TstatsProxyNode): TstatsModuleHttpFilters =>
      tstatsModuleFiltersForNode(kind, node, settings.modulePath ? { path: settings.modulePath } : {});
  switch (settings.module) {
    case "istio":
      return encodeTstatsFilterSet(buildTstatsFilterSet(settings.filters));
    case "wasm":
      return { alternatives: [{ name: "tstats-wasm", perProxy: moduleFor("wasm") }] };
    case "native":
      return {
        alternatives: [
          { name: "istio", filters: encodeTstatsFilterSet(buildTstatsFilterSet(settings.filters)) },
          { name: "tstats-native", perProxy: moduleFor("native") },
        ],
      };
  }
}

/**
 * What the xDS control plane needs from the setting: the filters when tstats is enabled,
 * `undefined` when it is not. Read it at start and whenever `tstats.json` changes.
 *
 * @example
 * const filters = await loadTstatsEnvoyFilters(); // undefined, or { alternatives: [...] }
 */
export async function loadTstatsEnvoyFilters(
  configDir: string = meshctlConfigDir(),
): Promise<TstatsEnvoyFilters | undefined> {
  return tstatsEnvoyFilters(await readTstatsSettings(configDir));
}

/** What a stock Envoy's bootstrap needs for the module's TCP telemetry (`meshctl xds bootstrap`). */
export interface TstatsEnvoyBootstrap {
  /** For the bootstrap's `bootstrap_extensions`: the module's extension, which owns the TCP counters. */
  readonly bootstrapExtensions: readonly Record<string, unknown>[];
  /** For `node.metadata`: `MESHCTL_TSTATS_TCP: "true"`, so the control plane sends the TCP filter. */
  readonly nodeMetadata: Readonly<Record<string, string>>;
}

/**
 * The bootstrap additions for TCP telemetry, or `undefined` (add nothing) unless tstats is enabled
 * with module `native` and the module file (`modulePath`, else this package's `obj/libtstats.so`)
 * exists: the extension loads that file, and Envoy refuses to start when it cannot.
 *
 * @example
 * const tcp = tstatsEnvoyBootstrap(await readTstatsSettings());
 * renderBootstrap({ ...options, ...(tcp ?? {}) });
 */
export function tstatsEnvoyBootstrap(
  settings: TstatsSettings,
  exists: (path: string) => boolean = existsSync,
): TstatsEnvoyBootstrap | undefined {
  if (!settings.enabled || settings.module !== "native") return undefined;
  const path = settings.modulePath ?? tstatsModuleFiles().native.path;
  if (!exists(path)) return undefined;
  return {
    bootstrapExtensions: [tstatsBootstrapExtension(path)],
    nodeMetadata: { [TSTATS_TCP_NODE_METADATA_KEY]: "true" },
  };
}
