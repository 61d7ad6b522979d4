import { errorMessage, findProgram, isMeshctlError } from "@meshctl/core";
import {
  adviseVppBenefit,
  collectVppHostFacts,
  getVppStatus,
  inspectVclProcess,
  type VclProcessReport,
  type VppHostFacts,
  type VppStatus,
} from "@meshctl/vpp";
import { checkFactory } from "./check.js";
import type { Check, CheckGroup, CheckStatus } from "./types.js";

export interface VppCheckOptions {
  /** Also check whether this process runs on VCL (preload, VCL_CONFIG, LDP_SID_BIT). */
  readonly pid?: number;
  readonly cliSocket?: string;
  readonly apiSocket?: string;
}

export interface VppFacts {
  readonly binary: string | null;
  readonly status: VppStatus;
  readonly host: VppHostFacts;
  readonly process?: {
    readonly pid: number;
    readonly report: VclProcessReport | null;
    readonly error: string | null;
  };
}

/** Gathers what the VPP checks need; never throws for an absent VPP. */
export async function collectVppFacts(options: VppCheckOptions = {}): Promise<VppFacts> {
  const [binary, status, host] = await Promise.all([
    findProgram("vpp"),
    getVppStatus({
      timeoutMs: 2000,
      ...(options.cliSocket ? { cliSocket: options.cliSocket } : {}),
      ...(options.apiSocket ? { apiSocket: options.apiSocket } : {}),
    }),
    collectVppHostFacts(),
  ]);
  let process: VppFacts["process"];
  if (options.pid !== undefined) {
    try {
      process = { pid: options.pid, report: await inspectVclProcess(options.pid), error: null };
    } catch (error) {
      process = {
        pid: options.pid,
        report: null,
        error: isMeshctlError(error) ? `${error.code}: ${error.message}` : errorMessage(error),
      };
    }
  }
  return { binary: binary ?? null, status, host, ...(process ? { process } : {}) };
}

const check = checkFactory("vpp");

/**
 * Turns VPP facts into checks: VPP present, sockets reachable, session layer on, whether VPP is
 * likely to help on this host, and (with a PID) whether that process really runs on VCL.
 *
 * @example
 * const checks = evaluateVppChecks(await collectVppFacts({ pid: 4242 }));
 */
export function evaluateVppChecks(f: VppFacts): Check[] {
  const checks: Check[] = [];
  const s = f.status;
  const installed = f.binary !== null || s.running;
  checks.push(
    installed
      ? check(
          "present",
          "ok",
          s.running
            ? `VPP ${s.version ?? ""} is running`.replace("  ", " ")
            : "VPP is installed but not running",
          [
            f.binary
              ? `binary: ${f.binary}`
              : "binary: not on PATH (VPP runs elsewhere, e.g. in a container)",
          ],
          s.running
            ? null
            : "Start VPP (`systemctl start vpp`) or deploy the DaemonSet from `meshctl enable vpp`.",
        )
      : check(
          "present",
          "warn",
          "VPP is not installed (only needed for VPP sidecar acceleration)",
          ["no `vpp` on PATH", `${s.cliSocket.path}: ${s.cliSocket.error?.code ?? "?"}`],
          "To try VPP: `meshctl enable vpp` renders a DaemonSet; see docs/vpp.md.",
        ),
  );
  for (const [name, probe] of [
    ["cli-socket", s.cliSocket],
    ["api-socket", s.apiSocket],
  ] as const) {
    if (probe.reachable) checks.push(check(name, "ok", `${probe.path} answers`, [], null));
    else if (installed) {
      const denied = probe.error?.code === "VPP_PERMISSION_DENIED";
      checks.push(
        check(
          name,
          "fail",
          `${probe.path} is not reachable: ${probe.error?.code ?? "unknown"}`,
          [probe.error?.message ?? ""],
          denied
            ? "Run as root or join VPP's group (`unix { gid vpp }`)."
            : `Check startup.conf: ${name === "cli-socket" ? "unix { cli-listen }" : "socksvr { socket-name }"}, or pass the path.`,
        ),
      );
    }
  }
  if (s.running) {
    checks.push(
      s.sessionLayer === "enabled"
        ? check(
            "session-layer",
            "ok",
            `session layer enabled (${s.apps.length} app(s) attached, ${s.sessions?.total ?? 0} session(s))`,
            s.apps.map((a) => `app ${a.name} in namespace ${a.namespace}`),
            null,
          )
        : check(
            "session-layer",
            s.sessionLayer === "disabled" ? "fail" : "warn",
            `session layer ${s.sessionLayer}`,
            [],
            "Add `session { enable use-app-socket-api }` to startup.conf (or run `vppctl session enable`); VCL apps cannot attach otherwise.",
          ),
    );
  }
  const advice = adviseVppBenefit(f.host);
  checks.push(
    check(
      "benefit",
      advice.verdict === "likely-helps" ? "ok" : "warn",
      advice.verdict === "likely-helps"
        ? "VPP is likely to lower sidecar latency on this host"
        : advice.verdict === "unlikely-to-help"
          ? "VPP is unlikely to help on this host"
          : "VPP may or may not help here: measure first",
      [...advice.reasons],
      advice.verdict === "likely-helps"
        ? null
        : "Keep the kernel path unless `meshctl bench` shows a gain with VPP on your workload.",
    ),
  );
  if (f.process) {
    const p = f.process;
    if (!p.report)
      checks.push(check("process", "fail", `cannot inspect PID ${p.pid}`, [p.error ?? ""], null));
    else {
      const worst: CheckStatus = p.report.findings.some((x) => x.status === "fail")
        ? "fail"
        : p.report.findings.some((x) => x.status === "warn")
          ? "warn"
          : "ok";
      checks.push(
        check(
          "process",
          p.report.usesVcl ? worst : "fail",
          p.report.usesVcl
            ? `PID ${p.pid} runs on VCL (${p.report.vclConfig.path})`
            : `PID ${p.pid} does not run on VCL`,
          p.report.findings.map((x) => `${x.status}: ${x.message}`),
          p.report.usesVcl && worst === "ok"
            ? null
            : "Start it with the environment from `meshctl vpp config --profile sidecar` (LD_PRELOAD, VCL_CONFIG, LDP_SID_BIT).",
        ),
      );
    }
  }
  return checks;
}

/**
 * The `vpp` group of `meshctl diagnose`.
 *
 * @example
 * runDiagnose({ groups: [vppCheckGroup({ pid: 4242 })] });
 */
export function vppCheckGroup(
  options: VppCheckOptions = {},
  collect: (o: VppCheckOptions) => Promise<VppFacts> = collectVppFacts,
): CheckGroup {
  return { name: "vpp", run: async () => evaluateVppChecks(await collect(options)) };
}
