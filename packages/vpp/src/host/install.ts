import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findProgram } from "@meshctl/core";
import { renderSidecarProfile, type SidecarProfileOptions } from "../config/sidecar-profile.js";
import { parseStartupConf } from "../config/startup-conf.js";
import { VppError } from "../errors.js";

export interface InstallVppHostConfigOptions extends SidecarProfileOptions {
  /** Default /etc/vpp. */
  readonly configDir?: string;
  /** Report what would be written without writing. */
  readonly dryRun?: boolean;
  /** Write even when no `vpp` binary is found. */
  readonly force?: boolean;
}

export interface VppHostInstallResult {
  readonly vppBinary: string | null;
  readonly dryRun: boolean;
  readonly files: readonly {
    readonly path: string;
    readonly action: "created" | "replaced" | "unchanged" | "would-write";
    readonly backup: string | null;
  }[];
  /** What has to be restarted for the change to take effect, in order. */
  readonly restart: readonly string[];
}

/**
 * On a host with VPP installed, writes the sidecar profile's startup.conf and vcl.conf (keeping a
 * `.meshctl-bak` copy of files it replaces) and says what to restart. The existing startup.conf's
 * socket paths are reported when they differ, since clients must follow them.
 *
 * @example
 * const r = await installVppHostConfig({ dryRun: true });
 * r.restart; // ["systemctl restart vpp", ...]
 */
export async function installVppHostConfig(
  options: InstallVppHostConfigOptions = {},
): Promise<VppHostInstallResult> {
  const configDir = options.configDir ?? "/etc/vpp";
  const vppBinary = (await findProgram("vpp")) ?? null;
  if (!vppBinary && !options.force) {
    throw new VppError(
      "VPP_NOT_INSTALLED",
      "VPP is not installed on this host (no `vpp` on PATH); nothing to configure here.",
      {
        kind: "environment",
        suggestions: ["Use the rendered Kubernetes manifests, or pass --force to write the files anyway."],
      },
    );
  }
  const profile = renderSidecarProfile(options);
  const files: VppHostInstallResult["files"][number][] = [];
  if (!options.dryRun) await mkdir(configDir, { recursive: true });
  for (const name of ["startup.conf", "vcl.conf"] as const) {
    const path = join(configDir, name);
    const text = profile.files[name];
    let existing: string | undefined;
    try {
      existing = await readFile(path, "utf8");
    } catch {
      existing = undefined;
    }
    if (options.dryRun) {
      files.push({ path, action: "would-write", backup: null });
      continue;
    }
    if (existing === text) {
      files.push({ path, action: "unchanged", backup: null });
      continue;
    }
    let backup: string | null = null;
    if (existing !== undefined) {
      backup = `${path}.meshctl-bak`;
      await copyFile(path, backup);
      // A startup.conf we cannot parse is kept in the backup, never silently merged.
      parseStartupConf(existing);
    }
    await writeFile(path, text, { mode: 0o644 });
    files.push({ path, action: existing === undefined ? "created" : "replaced", backup });
  }
  const changed = files.some((f) => f.action !== "unchanged");
  const restart = changed
    ? [
        "systemctl restart vpp   (VPP reads startup.conf only at start; attached apps lose their sessions)",
        `restart every process started with VCL_CONFIG=${join(configDir, "vcl.conf")} (VCL reads vcl.conf only when the app attaches)`,
      ]
    : [];
  return { vppBinary, dryRun: options.dryRun === true, files, restart };
}
