import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findProgram, MeshctlError, runCommand } from "@meshctl/core";
import { ENVOY_PINNED_VERSION, findCgroup2Root, parseEnvoyVersion } from "@meshctl/pod";
import { LAB_AGENT_SCRIPT } from "./agent-protocol.js";
import { isMeshed } from "./plan.js";
import type { ResolvedLabOptions, SidecarKind } from "./types.js";

/** Programs the lab drives directly. */
const PROGRAMS = ["ip", "iptables-restore", "nsenter", "setpriv", "ss"] as const;

/** Raised when the run was cancelled (Ctrl-C); everything was torn down before it is thrown. */
export function abortedError(): MeshctlError {
  return new MeshctlError("LAB_ABORTED", "The lab run was interrupted; everything it created was removed.", {
    kind: "usage",
  });
}

/**
 * Throws LAB_REQUIRES_ROOT unless this process is root. Both building a lab and removing one need
 * it: unprivileged, `ip netns delete` and cgroup `rmdir` fail, and a cleanup that went on would
 * only collect failures.
 */
export function requireLabRoot(message: string, suggestions: readonly string[]): void {
  if (typeof process.getuid !== "function" || process.getuid() === 0) return;
  throw new MeshctlError("LAB_REQUIRES_ROOT", message, {
    kind: "environment",
    suggestions,
    details: { uid: process.getuid() },
  });
}

/** Why meshctl's xDS control plane (proxyless gRPC, Envoy sidecars) cannot run here, or undefined. */
export function xdsUnavailableReason(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve("@meshctl/xds/package.json");
    if (!existsSync(join(dirname(pkg), "dist", "index.js")))
      return "@meshctl/xds is not built (its dist/ is missing)";
  } catch {
    return "@meshctl/xds is not installed";
  }
  return undefined;
}

/**
 * Why a telemetry scenario (the tstats module or its Wasm build in Envoy sidecars) cannot run
 * here, or undefined: it needs Envoy sidecars and the built module file.
 */
export async function telemetryUnavailableReason(
  build: "native" | "wasm",
  sidecar: SidecarKind,
): Promise<string | undefined> {
  if (sidecar !== "envoy") return "tstats telemetry runs in Envoy sidecars (the lab uses haproxy)";
  const { tstatsModuleFiles } = await import("@meshctl/tstats");
  const file = tstatsModuleFiles()[build];
  if (!file.exists)
    return `the tstats ${build} build is missing (${file.path}); run \`npm run build\` or \`meshctl tstats build --target ${build}\``;
  return undefined;
}

/**
 * The directory of the @meshctl/lab package (works from src/ under vitest and from dist/ when
 * bundled), so the pod agent script can be found next to the built library.
 */
export function labPackageDir(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "@meshctl/lab") return dir;
      } catch {
        // not ours
      }
    }
    dir = dirname(dir);
  }
  throw new Error(`@meshctl/lab package.json not found above ${from}`);
}

/**
 * Checks what the lab needs before it touches anything: root, the programs it drives, a cgroup v2
 * mount, the sidecar proxy (Envoy by default, with meshctl's xDS control plane) and the built pod
 * agent.
 *
 * @example
 * await checkLabPrerequisites({ sidecar: "envoy", scenarios: ["direct", "sidecar"] });
 */
export async function checkLabPrerequisites(
  options: Pick<ResolvedLabOptions, "sidecar" | "scenarios">,
): Promise<{ cgroupRoot: string; agentPath: string; sidecar: SidecarKind | "none"; warnings: string[] }> {
  requireLabRoot(
    "The mesh lab needs root: it creates network namespaces, veth pairs and a bridge, installs iptables capture rules inside them, creates cgroups and attaches eBPF programs.",
    [
      "Run it with sudo: `sudo meshctl bench`.",
      "Or measure an existing target without root: `meshctl bench run http://host:port/`.",
    ],
  );
  const missing: string[] = [];
  for (const program of PROGRAMS) if (!(await findProgram(program))) missing.push(program);
  const meshed = options.scenarios.some(isMeshed);
  const sidecar = meshed ? options.sidecar : "none";
  if (sidecar !== "none" && !(await findProgram(sidecar))) missing.push(sidecar);
  if (sidecar === "envoy") {
    const reason = xdsUnavailableReason();
    if (reason) {
      throw new MeshctlError(
        "LAB_SIDECAR_UNSUPPORTED",
        `The Envoy sidecar needs meshctl's xDS control plane, which cannot run here: ${reason}.`,
        {
          kind: "environment",
          suggestions: ["Build it: `npx nx run @meshctl/xds:build`.", "Or use `--sidecar haproxy`."],
        },
      );
    }
  }
  if (missing.length > 0) {
    throw new MeshctlError("LAB_MISSING_PROGRAM", `The mesh lab needs ${missing.join(", ")} on PATH.`, {
      kind: "environment",
      suggestions: [
        "On Debian/Ubuntu: `apt-get install -y iproute2 iptables util-linux haproxy`.",
        ...(missing.includes("envoy")
          ? [
              "Install the pinned Envoy: `bash scripts/install-envoy.sh` (part of `npm run lab`), or use `--sidecar haproxy`.",
            ]
          : []),
      ],
      details: { missing },
    });
  }
  const warnings: string[] = [];
  if (sidecar === "envoy") {
    const path = (await findProgram("envoy"))!;
    const out = await runCommand(path, ["--version"], { reject: false, timeoutMs: 10_000 });
    const version = parseEnvoyVersion(`${out.stdout}\n${out.stderr}`);
    if (!version) {
      throw new MeshctlError(
        "LAB_SIDECAR_UNSUPPORTED",
        `${path} does not report an Envoy version (\`envoy --version\` printed "${(out.stdout || out.stderr).trim().slice(0, 200)}"): it is not a usable Envoy.`,
        {
          kind: "environment",
          suggestions: [
            "Install the pinned Envoy: `bash scripts/install-envoy.sh`.",
            "Or use `--sidecar haproxy`.",
          ],
          details: { path },
        },
      );
    }
    if (version !== ENVOY_PINNED_VERSION)
      warnings.push(
        `Envoy ${version} at ${path}; meshctl is tested with ${ENVOY_PINNED_VERSION} (bash scripts/install-envoy.sh)`,
      );
  }
  const cgroupRoot = await findCgroup2Root();
  const agentPath = join(labPackageDir(), "dist", LAB_AGENT_SCRIPT);
  if (!existsSync(agentPath)) {
    throw new MeshctlError(
      "LAB_AGENT_MISSING",
      `The lab's pod agent ${agentPath} is missing: @meshctl/lab is not built.`,
      {
        kind: "environment",
        suggestions: ["Build it: `npx nx run @meshctl/lab:build` (or `npm run build`)."],
      },
    );
  }
  return { cgroupRoot, agentPath, sidecar, warnings };
}
