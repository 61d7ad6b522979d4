import { errorMessage } from "@meshctl/core";
import type { ClientStatus, ConfigDiagnostic, XdsProbeResult } from "@meshctl/xds";
import { checkFactory } from "./check.js";
import type { Check, CheckGroup } from "./types.js";

const check = checkFactory("xds");

/** Proxies named one by one; past this, one finding counts the rest. */
const MAX_PROXY_FINDINGS = 20;

function capabilityLine(c: ClientStatus): string {
  const caps = c.capabilities;
  const who = [caps?.userAgent ?? "unknown proxy", caps?.buildVersion].filter(Boolean).join(" ");
  return `${c.nodeId}: ${who}, ${caps?.extensionCount ?? 0} extensions reported`;
}

/**
 * One finding per proxy that was not sent some configured extension filters because its Node did
 * not list them (e.g. tstats' Istio filters on a stock Envoy): its config is otherwise served and
 * accepted, but the feature those filters carry is missing there.
 */
function filterChecks(clients: readonly ClientStatus[]): Check[] {
  // A control plane from before capability checks has no skippedFilters: nothing to say.
  const lacking = clients
    .filter((c) => (c.skippedFilters ?? []).length > 0)
    .sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  if (lacking.length === 0)
    return clients.length === 0
      ? []
      : [
          check(
            "filters",
            "ok",
            "No connected proxy lacks an extension filter it is configured for",
            [],
            null,
          ),
        ];
  const recommendation =
    "These filters come from a meshctl feature (meshctl enable tstats sends Istio's istio.stats and istio.metadata_exchange to proxies that have them, which only Istio's proxy build does, and otherwise the tstats dynamic module, which needs Envoy 1.40+). The rest of the proxy's config is served without them. To have the feature there, run a proxy build with these extensions; otherwise turn the feature off (meshctl disable tstats).";
  const checks = lacking.slice(0, MAX_PROXY_FINDINGS).map((c) => {
    const names = [...new Set(c.skippedFilters.map((f) => f.name))];
    return check(
      `filters.${c.nodeId}`,
      "warn",
      `${c.nodeId}: ${names.length === 1 ? "1 extension filter" : `${names.length} extension filters`} not sent, the proxy lacks ${names.length === 1 ? "it" : "them"}: ${names.join(", ")}`,
      [
        capabilityLine(c),
        ...c.skippedFilters.map((f) =>
          // An entry without a category is a per-proxy build that failed, not a missing extension.
          f.category
            ? `${f.name} (${f.category}, type ${f.type}${f.alternative ? `, alternative ${f.alternative}` : ""}) for ${f.at.join(", ")}: ${f.reason}`
            : `${f.name}: ${f.reason}`,
        ),
      ],
      recommendation,
    );
  });
  const rest = lacking.slice(MAX_PROXY_FINDINGS);
  if (rest.length > 0)
    checks.push(
      check(
        "filters.more",
        "warn",
        `${rest.length} more proxies lack extension filters they are configured for`,
        rest.map((c) => `${c.nodeId}: ${[...new Set(c.skippedFilters.map((f) => f.name))].join(", ")}`),
        recommendation,
      ),
    );
  return checks;
}

/** Diagnostics named one by one; past this, one line counts the rest. */
const MAX_DIAGNOSTIC_LINES = 50;

// biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `file:line:column path: reason`, with control characters escaped: diagnostics echo file
 * content (field names, values), which must not be able to drive the terminal.
 */
function diagnosticLine(d: ConfigDiagnostic): string {
  const text = `${d.file}:${d.line}:${d.column} ${d.path ? `${d.path}: ` : ""}${d.reason}`;
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function diagnosticLines(list: readonly ConfigDiagnostic[]): string[] {
  const lines = list.slice(0, MAX_DIAGNOSTIC_LINES).map(diagnosticLine);
  if (list.length > MAX_DIAGNOSTIC_LINES)
    lines.push(`... and ${list.length - MAX_DIAGNOSTIC_LINES} more (curl the control plane's /debug/mesh)`);
  return lines;
}

/**
 * The control plane's config findings: rejected files (their last good version serves), errors
 * in what is served (a route to a host that does not exist: its traffic fails), and warnings
 * (fields meshctl ignores, conflicts it resolved).
 */
function configChecks(probe: XdsProbeResult): Check[] {
  const rejected = new Set(probe.rejectedFiles);
  const errors = probe.diagnostics.filter((d) => d.severity === "error");
  const rejectedErrors = errors.filter((d) => rejected.has(d.file));
  const servedErrors = errors.filter((d) => !rejected.has(d.file));
  const warnings = probe.diagnostics.filter((d) => d.severity !== "error");
  return [
    probe.rejectedFiles.length === 0
      ? check("config", "ok", "Every mesh YAML file is accepted", [], null)
      : check(
          "config",
          "warn",
          `${probe.rejectedFiles.length} mesh file(s) rejected; their last good version is serving`,
          diagnosticLines(rejectedErrors),
          "Fix the files listed; the control plane applies them as soon as they validate.",
        ),
    servedErrors.length === 0
      ? check("config-errors", "ok", "No errors in the mesh config being served", [], null)
      : check(
          "config-errors",
          "fail",
          `${servedErrors.length} error(s) in the mesh config being served`,
          diagnosticLines(servedErrors),
          "These objects are applied (as Istio applies them) but cannot work: a route to a host no Service or ServiceEntry defines fails all its traffic. Define the host or fix the route.",
        ),
    warnings.length === 0
      ? check("config-warnings", "ok", "No warnings about the mesh config", [], null)
      : check(
          "config-warnings",
          "warn",
          `${warnings.length} warning(s) about the mesh config`,
          diagnosticLines(warnings),
          "Fields meshctl ignores are named with their path (a typo gets a did-you-mean); conflicts name the object that wins.",
        ),
  ];
}

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
  checks.push(...filterChecks(probe.clients));
  checks.push(...configChecks(probe));
  return checks;
}

/**
 * The xds check group: protos, and a running control plane's clients, NACKs, extension filters
 * its proxies lack, and config errors. `debugUrl` is the control plane's debug endpoint
 * (`meshctl diagnose --control-plane URL`; default http://127.0.0.1:15014).
 */
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
