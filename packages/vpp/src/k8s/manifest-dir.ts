import { homedir, userInfo } from "node:os";
import { isAbsolute, join } from "node:path";
import { VppError } from "../errors.js";

/** Inputs of {@link defaultVppManifestDir}; each defaults to this process's own. */
export interface VppManifestDirContext {
  readonly env?: NodeJS.ProcessEnv;
  /** Effective uid; root gets the system state directory. */
  readonly uid?: number;
  /** Home directory; default $HOME, else the passwd entry's. */
  readonly home?: string;
}

/**
 * Default directory for the manifests `meshctl enable vpp` writes: meshctl's state directory
 * plus `vpp`, never the working directory. Rendered manifests are output meshctl can produce
 * again, not configuration the user edits, hence the XDG *state* directory:
 * `$XDG_STATE_HOME/meshctl/vpp`, else `/var/lib/meshctl/vpp` for root, else
 * `~/.local/state/meshctl/vpp`. Relative paths (an XDG_STATE_HOME of "state", an empty HOME)
 * are ignored, as the XDG spec asks: they would resolve against the cwd.
 *
 * @example
 * defaultVppManifestDir({ env: {}, uid: 1000, home: "/home/ada" }); // "/home/ada/.local/state/meshctl/vpp"
 */
export function defaultVppManifestDir(context: VppManifestDirContext = {}): string {
  const env = context.env ?? process.env;
  const xdg = env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "meshctl", "vpp");
  if ((context.uid ?? process.getuid?.()) === 0) return "/var/lib/meshctl/vpp";
  // HOME first (what the user set), then the passwd entry when HOME is empty or relative.
  const candidates = context.home !== undefined ? [context.home] : [homedir(), passwdHome()];
  const home = candidates.find((h) => h !== undefined && isAbsolute(h));
  if (home === undefined) {
    throw new VppError(
      "VPP_STATE_DIR_UNKNOWN",
      "No directory for the VPP manifests: XDG_STATE_HOME is unset and there is no absolute home directory.",
      { kind: "usage", suggestions: ["Pass --out DIR, or set XDG_STATE_HOME to an absolute path."] },
    );
  }
  return join(home, ".local", "state", "meshctl", "vpp");
}

function passwdHome(): string | undefined {
  try {
    return userInfo().homedir;
  } catch {
    return undefined; // no passwd entry for this uid (e.g. an arbitrary container uid)
  }
}
