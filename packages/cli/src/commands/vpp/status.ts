import { getVppStatus, type VppStatus } from "@meshctl/vpp";
import { MeshctlCommand } from "../../base-command.js";
import { vppSocketFlags } from "./shared-flags.js";

export default class VppStatusCommand extends MeshctlCommand<VppStatus> {
  static override summary = "Show a running VPP's version, session layer, attached apps, sessions and errors";
  static override description =
    `Talks to VPP through its binary API (which reports command failures) and falls back to the CLI
socket. Never fails because VPP is absent: the result says which socket answered and why not.`;
  static override examples = [
    "<%= config.bin %> vpp status",
    "<%= config.bin %> vpp status --json",
    "<%= config.bin %> vpp status --cli-socket /run/vpp/cli.sock --api-socket /run/vpp/api.sock",
  ];
  static override flags = { ...vppSocketFlags };

  protected async execute(): Promise<VppStatus> {
    const { flags } = await this.parse(VppStatusCommand);
    return getVppStatus({
      cliSocket: flags["cli-socket"],
      apiSocket: flags["api-socket"],
      timeoutMs: flags.timeout,
    });
  }

  protected renderText(s: VppStatus): string {
    const sock = (name: string, p: VppStatus["cliSocket"]) =>
      `${name.padEnd(12)} ${p.path}: ${p.reachable ? "reachable" : `not reachable (${p.error?.code}: ${p.error?.message})`}`;
    const lines = [
      `VPP          ${s.running ? `running${s.version ? ` ${s.version}` : ""}${s.pid ? ` (pid ${s.pid})` : ""}` : "not reachable"}`,
      sock("CLI socket", s.cliSocket),
      sock("API socket", s.apiSocket),
    ];
    if (!s.running) return lines.join("\n");
    lines.push(`session layer ${s.sessionLayer}`);
    lines.push(
      `apps         ${s.apps.length ? s.apps.map((a) => `${a.name} (ns ${a.namespace})`).join(", ") : "none attached"}`,
    );
    if (s.appNamespaces.length)
      lines.push(`namespaces   ${s.appNamespaces.map((n) => `${n.id} -> ${n.socket}`).join(", ")}`);
    if (s.sessions)
      lines.push(
        `sessions     ${s.sessions.total} (${s.sessions.byThread.map((t) => `thread ${t.thread}: ${t.active}`).join(", ") || "no threads listed"})`,
      );
    if (s.interfaces)
      lines.push(
        `interfaces   ${s.interfaces.map((i) => `${i.name}${i.adminUp ? "" : " (down)"}`).join(", ")}`,
      );
    lines.push(`errors       ${s.errors.length ? "" : "none"}`);
    for (const e of s.errors)
      lines.push(`  ${String(e.count).padStart(10)}  ${e.node}  ${e.reason} [${e.severity}]`);
    if (s.transport === "cli")
      lines.push("(through the CLI socket: failures of show commands cannot be detected there)");
    return lines.join("\n");
  }
}
