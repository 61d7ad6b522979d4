import { type EbpfStatus, getEbpfStatus } from "@meshctl/ebpf";
import { MeshctlCommand } from "../../base-command.js";
import { pinDirFlag } from "../enable/ebpf.js";

export default class EbpfStatusCommand extends MeshctlCommand<EbpfStatus> {
  static override summary =
    "Show what meshctl's eBPF acceleration has attached where, map sizes and counters";
  static override description =
    `Reads the pins under --pin-dir: the programs, the cgroups the sockops program is attached to,
other sock_ops programs running for those cgroups, entries in the sockhash / pairing maps, the
policy in force, whether the sockhash hands out the sk_msg program (asked from the kernel), the learned bulk services (netns cookie, ip:port, age; new connections to an active
one stay on plain TCP) and the redirect counters (ingress = mirror-tuple pairs such as sidecar -> app;
egress = app -> sidecar after the REDIRECT to 15001). Needs root.`;
  static override examples = [
    "sudo <%= config.bin %> ebpf status",
    "sudo <%= config.bin %> ebpf status --json",
  ];
  static override flags = { "pin-dir": pinDirFlag };

  protected async execute(): Promise<EbpfStatus> {
    const { flags } = await this.parse(EbpfStatusCommand);
    return getEbpfStatus({ pinDir: flags["pin-dir"] });
  }

  protected renderText(s: EbpfStatus): string {
    if (s.state === "disabled") return `eBPF acceleration: disabled (nothing pinned in ${s.pinDir}).`;
    const lines = [`eBPF acceleration: ${s.state}`, `  pins        ${s.pinDir}`];
    lines.push(`  programs    ${s.programs.map((p) => `${p.name} (id ${p.id})`).join(", ") || "none"}`);
    lines.push(`  attached to ${s.attachments.map((a) => a.cgroupPath).join(", ") || "nothing"}`);
    if (s.verdict) {
      lines.push(
        `  sk_msg      ${s.verdict.programId === null ? "NOT attached to the sockhash: nothing is redirected (run `meshctl enable ebpf` to repair)" : `program id ${s.verdict.programId} on sockhash id ${s.verdict.mapId} (kernel view)`}`,
      );
    }
    if (s.foreignPrograms.length) {
      lines.push(
        `  foreign     ${s.foreignPrograms.map((f) => `${f.programName || "?"} (id ${f.programId}) on ${f.cgroupPath}`).join(", ")}`,
      );
    }
    lines.push(
      `  maps        ${s.maps.map((m) => `${m.name} ${m.entries ?? "-"}/${m.maxEntries}`).join(", ")}`,
    );
    if (s.config) {
      lines.push(
        `  policy      ${s.config.ports.length ? `ports ${s.config.ports.join(",")}` : "all ports"}${s.config.excludePorts.length ? ` except ${s.config.excludePorts.join(",")}` : ""}; stream limit ${s.config.maxStreamBytes || "none"}; message limit ${s.config.maxMessageBytes || "none"}; bulk learning ${s.config.bulkTtlSeconds ? `${s.config.bulkTtlSeconds} s` : "off"}; ${s.config.sidecarUid !== null ? `sidecar uid ${s.config.sidecarUid}` : "any owner"}`,
      );
    }
    if (s.bulkServices) {
      const active = s.bulkServices.filter((b) => b.active).length;
      lines.push(`  bulk        ${s.bulkServices.length} learned service(s), ${active} active`);
      for (const b of s.bulkServices.slice(0, 20)) {
        const at = b.ip.includes(":") ? `[${b.ip}]:${b.port}` : `${b.ip}:${b.port}`;
        lines.push(
          `    netns ${b.netnsCookie} ${at}  age ${b.ageSeconds.toFixed(0)} s${b.active ? "" : " (expired)"}  ${b.streams} stream(s), ${b.skippedSockets} socket(s) kept on TCP`,
        );
      }
      if (s.bulkServices.length > 20)
        lines.push(`    ... ${s.bulkServices.length - 20} more (--json lists all)`);
    }
    const c = s.counters;
    if (c) {
      lines.push(
        `  ingress     ${c.ingress.messages} msgs, ${c.ingress.bytes} bytes redirected, ${c.ingress.misses} misses`,
        `  egress      ${c.egress.messages} msgs, ${c.egress.bytes} bytes redirected, ${c.egress.misses} misses`,
        `  sockets     ${c.socketsAdded} added, ${c.socketAddErrors} refused (owned by another sk_msg program), ${c.pairsCreated} REDIRECT pairs`,
        `  on TCP      ${c.passedMessages} msgs, ${c.passedBytes} bytes; ${c.policySkips} directions moved by policy, ${c.peerFallbacks} followed their peer; ${c.coalesceFails} messages not coalesced`,
        `  released    ${c.socketsReleased} sockets back to plain TCP, ${c.releaseDeferred} checks found unread redirected bytes`,
        `  skipped     ${c.socketsSkipped} sockets (excluded port / TCP Fast Open), ${c.bulkSkips} sockets of learned bulk services, ${c.ownerSkips} by the sidecar-uid filter; ${c.bulkLearned} bulk streams learned`,
      );
    }
    return lines.join("\n");
  }
}
