import { errorMessage } from "@meshctl/core";
import type { XdsProbeResult } from "@meshctl/xds";
import { checkFactory } from "./check.js";
import type { Check, CheckGroup } from "./types.js";

const check = checkFactory("xds");

/** Pure evaluation of the xDS facts (unit-testable without a running control plane). */
export function evaluateXdsChecks(
  protos: { ok: boolean; error: string | null },
  probe: XdsProbeResult,
): Check[] {
  const checks: Check[] = [
    protos.ok
      ? check("protos", "ok", "Envoy v3 protos load (from @grpc/grpc-js-xds)", [], null)
      : check(
          "protos",
          "fail",
          "The Envoy v3 protos do not load",
          [protos.error ?? ""],
          "Reinstall meshctl so @grpc/grpc-js-xds is present.",
        ),
  ];
  if (!probe.reachable) {
    checks.push(
      check(
        "control-plane",
        "ok",
        `No control plane answering on ${probe.url} (optional)`,
        [probe.error ?? ""],
        null,
      ),
    );
    return checks;
  }
  checks.push(
    check(
      "control-plane",
      "ok",
      `Control plane on ${probe.url}: ${probe.clients.length} connected client(s)`,
      probe.clients.map((c) => `${c.protocol} ${c.nodeId}`),
      null,
    ),
  );
  const nacks = probe.clients.flatMap((c) =>
    Object.entries(c.types)
      .filter(([, t]) => t.lastNackError)
      .map(([kind, t]) => `${c.nodeId} ${kind.toUpperCase()}: ${t.lastNackError}`),
  );
  checks.push(
    nacks.length === 0
      ? check("nacks", "ok", "No client has rejected (NACKed) configuration", [], null)
      : check(
          "nacks",
          "warn",
          `${nacks.length} client type(s) rejected configuration`,
          nacks,
          "Inspect the rejected resources with meshctl xds config-dump --node-id ID.",
        ),
  );
  checks.push(
    probe.rejectedFiles.length === 0
      ? check("config", "ok", "Every mesh YAML file is accepted", [], null)
      : check(
          "config",
          "warn",
          `${probe.rejectedFiles.length} mesh file(s) rejected; their last good version is serving`,
          probe.diagnostics
            .filter((d) => d.severity === "error")
            .map((d) => `${d.file}:${d.line}:${d.column} ${d.path ? `${d.path}: ` : ""}${d.reason}`),
          "Fix the files listed; the control plane applies them as soon as they validate.",
        ),
  );
  return checks;
}

/** The xds check group: protos, and a running control plane's clients, NACKs and config errors. */
export function xdsCheckGroup(options: { readonly debugUrl?: string } = {}): CheckGroup {
  return {
    name: "xds",
    async run() {
      const { loadXdsProtos, probeXdsControlPlane } = await import("@meshctl/xds");
      let protos: { ok: boolean; error: string | null };
      try {
        loadXdsProtos();
        protos = { ok: true, error: null };
      } catch (error) {
        protos = { ok: false, error: errorMessage(error) };
      }
      const probe = await probeXdsControlPlane(options.debugUrl ? { url: options.debugUrl } : {});
      return evaluateXdsChecks(protos, probe);
    },
  };
}
