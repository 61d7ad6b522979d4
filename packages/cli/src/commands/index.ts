import type { Command } from "@oclif/core";
import Diagnose from "./diagnose.js";
import Disable from "./disable.js";
import Enable from "./enable.js";
import { notYetCommand } from "./not-yet.js";
import Status from "./status.js";

/**
 * Every meshctl command, discovered explicitly (oclif "explicit" strategy) so the bundled CLI
 * works. Keys are command ids; `:` separates topic and verb (shown with a space).
 */
export const COMMANDS = {
  diagnose: Diagnose,
  status: Status,
  enable: Enable,
  disable: Disable,
  install: notYetCommand(
    "install",
    "Install meshctl's components into a Kubernetes cluster",
    "the Kubernetes installer arrives in a later release",
  ),
  uninstall: notYetCommand(
    "uninstall",
    "Remove meshctl's components from a Kubernetes cluster",
    "the Kubernetes installer arrives in a later release",
  ),
  bench: notYetCommand(
    "bench",
    "Build a local mesh lab and compare scenarios",
    "the lab is being built (bench issue)",
  ),
  "bench:run": notYetCommand(
    "bench run",
    "Measure latency of a target",
    "the load engine is being built (bench issue)",
  ),
  "bench:server": notYetCommand(
    "bench server",
    "Start an echo server",
    "the load engine is being built (bench issue)",
  ),
  "xds:serve": notYetCommand(
    "xds serve",
    "Run the xDS control plane",
    "the control plane is being built (xDS issue)",
  ),
  "xds:bootstrap": notYetCommand(
    "xds bootstrap",
    "Print a bootstrap for a gRPC client or Envoy",
    "the control plane is being built (xDS issue)",
  ),
  "xds:config-dump": notYetCommand(
    "xds config-dump",
    "Show what a proxy would receive",
    "the control plane is being built (xDS issue)",
  ),
  "ebpf:status": notYetCommand(
    "ebpf status",
    "Show eBPF acceleration status",
    "the eBPF loader is being built (eBPF issue)",
  ),
  "vpp:status": notYetCommand(
    "vpp status",
    "Show a running VPP's state",
    "the VPP client is being built (VPP issue)",
  ),
  "vpp:cli": notYetCommand("vpp cli", "Run a VPP CLI command", "the VPP client is being built (VPP issue)"),
  "vpp:config": notYetCommand(
    "vpp config",
    "Render startup.conf and vcl.conf",
    "the VPP config renderer is being built (VPP issue)",
  ),
  "tstats:build": notYetCommand(
    "tstats build",
    "Render the telemetry filter configuration",
    "tstats is being built (telemetry issue)",
  ),
} satisfies Record<string, Command.Class>;
