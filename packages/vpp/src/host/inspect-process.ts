import { readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { VppConfigIssue } from "../config/engine.js";
import { parseVclConf } from "../config/vcl-conf.js";
import { VppError } from "../errors.js";

export interface InspectVclProcessOptions {
  /** Where procfs is mounted; tests point this at a fixture tree. Default /proc. */
  readonly procRoot?: string;
}

export type FindingStatus = "ok" | "warn" | "fail";

export interface VclProcessFinding {
  readonly id: "preload" | "loaded" | "vcl-config" | "sid-bit" | "app-name" | "native-vcl";
  readonly status: FindingStatus;
  readonly message: string;
}

export interface VclProcessReport {
  readonly pid: number;
  readonly command: string;
  /** True when the process runs on VCL: preloaded (or natively linked) and a valid VCL_CONFIG. */
  readonly usesVcl: boolean;
  readonly ldPreload: string | null;
  /** libvcl_ldpreload.so / libvppcom.so as mapped in /proc/PID/maps. */
  readonly mappedVclLibraries: readonly string[];
  readonly vclConfig: {
    readonly path: string;
    readonly fromEnv: boolean;
    readonly exists: boolean;
    readonly valid: boolean;
    readonly issues: readonly VppConfigIssue[];
  };
  readonly ldpSidBit: number | null;
  /** The highest kernel fd number the process holds now. */
  readonly maxKernelFd: number | null;
  readonly findings: readonly VclProcessFinding[];
}

async function readProc(procRoot: string, pid: number, file: string): Promise<string> {
  try {
    return await readFile(join(procRoot, String(pid), file), "latin1");
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === "ENOENT" || e.code === "ESRCH") {
      throw new VppError("VPP_PROCESS_NOT_FOUND", `No process with PID ${pid}.`, {
        kind: "usage",
        cause: error,
        details: { pid },
      });
    }
    if (e.code === "EACCES" || e.code === "EPERM") {
      throw new VppError(
        "VPP_PERMISSION_DENIED",
        `Reading /proc/${pid}/${file} needs root or the same user as PID ${pid}.`,
        {
          kind: "environment",
          cause: error,
          suggestions: ["Run with sudo."],
          details: { pid, file },
        },
      );
    }
    throw error;
  }
}

/**
 * Checks whether a process (an Envoy sidecar, say) really runs on VPP's host stack: LD_PRELOAD
 * names libvcl_ldpreload.so and the library is mapped, VCL_CONFIG points at a vcl.conf that
 * parses (read through /proc/PID/root, so container paths work), and LDP_SID_BIT is above the
 * kernel fds the process holds.
 *
 * @example
 * const report = await inspectVclProcess(4242);
 * report.findings.filter((f) => f.status !== "ok");
 */
export async function inspectVclProcess(
  pid: number,
  options: InspectVclProcessOptions = {},
): Promise<VclProcessReport> {
  if (!Number.isInteger(pid) || pid <= 0)
    throw new VppError("VPP_PROCESS_NOT_FOUND", `Not a PID: ${pid}.`, { kind: "usage" });
  const procRoot = options.procRoot ?? "/proc";
  const environ = await readProc(procRoot, pid, "environ");
  const maps = await readProc(procRoot, pid, "maps");
  const cmdline = await readProc(procRoot, pid, "cmdline").catch(() => "");
  const env = new Map<string, string>();
  for (const entry of environ.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  const command = cmdline.split("\0").filter(Boolean).join(" ");
  const mapped = [
    ...new Set(
      maps
        .split("\n")
        .map((l) => l.trim().split(/\s+/)[5] ?? "")
        .filter((p) => /lib(vcl_ldpreload|vppcom)\.so/.test(p)),
    ),
  ];
  const findings: VclProcessFinding[] = [];
  const ldPreload = env.get("LD_PRELOAD") ?? null;
  const preloadNamesVcl = ldPreload !== null && /libvcl_ldpreload\.so/.test(ldPreload);
  const preloadMapped = mapped.some((p) => p.includes("libvcl_ldpreload.so"));
  const vppcomMapped = mapped.some((p) => p.includes("libvppcom.so"));
  // Envoy's contrib VCL interface links VCL statically: no library shows up in maps.
  const nativeVcl = /envoy/.test(command) && !preloadNamesVcl;

  if (preloadNamesVcl) findings.push({ id: "preload", status: "ok", message: `LD_PRELOAD=${ldPreload}` });
  else if (nativeVcl)
    findings.push({
      id: "native-vcl",
      status: "warn",
      message:
        "no VCL preload; if this Envoy is a contrib build with the VCL socket interface, check its bootstrap (default_socket_interface)",
    });
  else
    findings.push({
      id: "preload",
      status: "fail",
      message: ldPreload
        ? `LD_PRELOAD=${ldPreload} does not include libvcl_ldpreload.so`
        : "LD_PRELOAD is not set: the process uses the kernel's TCP stack",
    });

  if (preloadNamesVcl) {
    findings.push(
      preloadMapped
        ? { id: "loaded", status: "ok", message: `mapped: ${mapped.join(", ")}` }
        : {
            id: "loaded",
            status: "fail",
            message:
              "libvcl_ldpreload.so is named in LD_PRELOAD but not mapped: the dynamic loader could not load it (wrong path, or a static binary)",
          },
    );
  }

  const fromEnv = env.has("VCL_CONFIG");
  const configPath = env.get("VCL_CONFIG") ?? "/etc/vpp/vcl.conf";
  let exists = false;
  let valid = false;
  let issues: VppConfigIssue[] = [];
  try {
    const text = await readFile(join(procRoot, String(pid), "root", configPath), "utf8");
    exists = true;
    const parsed = parseVclConf(text, { file: configPath });
    valid = parsed.valid;
    issues = [...parsed.issues];
  } catch {
    exists = false;
  }
  if (!exists) {
    findings.push({
      id: "vcl-config",
      status: preloadNamesVcl ? "fail" : "warn",
      message: fromEnv
        ? `VCL_CONFIG=${configPath} does not exist in the process's mount namespace`
        : `VCL_CONFIG is not set and ${configPath} does not exist: VCL would run with defaults`,
    });
  } else if (!valid) {
    findings.push({
      id: "vcl-config",
      status: "fail",
      message: `${configPath} has errors: ${issues
        .filter((i) => i.severity === "error")
        .map((i) => `line ${i.line ?? "?"}: ${i.message}`)
        .join("; ")}`,
    });
  } else {
    const warnings = issues.filter((i) => i.severity === "warning");
    findings.push({
      id: "vcl-config",
      status: warnings.length ? "warn" : "ok",
      message: warnings.length
        ? `${configPath}: ${warnings.map((w) => w.message).join("; ")}`
        : `${configPath} is valid`,
    });
  }

  const sidBitText = env.get("LDP_SID_BIT");
  const ldpSidBit = sidBitText === undefined ? (preloadNamesVcl ? 5 : null) : Number(sidBitText);
  let maxKernelFd: number | null = null;
  try {
    const fds = (await readdir(join(procRoot, String(pid), "fd")))
      .map(Number)
      .filter((n) => Number.isInteger(n));
    maxKernelFd = fds.length ? Math.max(...fds) : null;
  } catch {
    maxKernelFd = null;
  }
  if (preloadNamesVcl && ldpSidBit !== null) {
    const line = 2 ** ldpSidBit;
    if (!Number.isInteger(ldpSidBit) || ldpSidBit < 5 || ldpSidBit > 30) {
      findings.push({ id: "sid-bit", status: "fail", message: `LDP_SID_BIT=${sidBitText} is outside 5..30` });
    } else if (maxKernelFd !== null && maxKernelFd >= line) {
      findings.push({
        id: "sid-bit",
        status: "fail",
        message: `kernel fd ${maxKernelFd} is at or above 1<<LDP_SID_BIT (${line}): LDP will treat it as a VCL session; raise LDP_SID_BIT`,
      });
    } else {
      findings.push({
        id: "sid-bit",
        status: sidBitText === undefined ? "warn" : "ok",
        message: `${sidBitText === undefined ? "LDP_SID_BIT unset (default 5: only 32 kernel fds)" : `LDP_SID_BIT=${ldpSidBit}`}; highest kernel fd now ${maxKernelFd ?? "unknown"}, limit ${line - 1}`,
      });
    }
  }
  if (preloadNamesVcl) {
    const name = env.get("LDP_APP_NAME");
    findings.push({
      id: "app-name",
      status: "ok",
      message: name
        ? `VPP lists it as ${name}-ldp-${pid}`
        : `LDP_APP_NAME unset; VPP lists it as <program>-ldp-${pid}`,
    });
  }

  const usesVcl = exists && valid && ((preloadNamesVcl && preloadMapped) || vppcomMapped);
  return {
    pid,
    command,
    usesVcl,
    ldPreload,
    mappedVclLibraries: mapped,
    vclConfig: { path: configPath, fromEnv, exists, valid, issues },
    ldpSidBit,
    maxKernelFd,
    findings,
  };
}

/** Reads a symlink, or undefined. */
export async function readlinkSafe(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch {
    return undefined;
  }
}
