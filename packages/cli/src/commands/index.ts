import type { Command } from "@oclif/core";
import Bench from "./bench/index.js";
import BenchRun from "./bench/run.js";
import BenchServer from "./bench/server.js";
import Diagnose from "./diagnose.js";
import DisableEbpf from "./disable/ebpf.js";
import DisableTstats from "./disable/tstats.js";
import Disable from "./disable.js";
import EbpfStatusCommand from "./ebpf/status.js";
import EnableEbpf from "./enable/ebpf.js";
import EnableTstats from "./enable/tstats.js";
import EnableVpp from "./enable/vpp.js";
import Enable from "./enable.js";
import Install from "./install.js";
import Status from "./status.js";
import TstatsBuild from "./tstats/build.js";
import TstatsRender from "./tstats/render.js";
import TstatsServe from "./tstats/serve.js";
import Uninstall from "./uninstall.js";
import VppCli from "./vpp/cli.js";
import VppConfig from "./vpp/config.js";
import VppStatusCommand from "./vpp/status.js";
import XdsBootstrap from "./xds/bootstrap.js";
import XdsConfigDump from "./xds/config-dump.js";
import XdsLoad from "./xds/load.js";
import XdsServe from "./xds/serve.js";

/**
 * Every meshctl command, discovered explicitly (oclif "explicit" strategy) so the bundled CLI
 * works. Keys are command ids; `:` separates topic and verb (shown with a space).
 */
export const COMMANDS = {
  diagnose: Diagnose,
  status: Status,
  enable: Enable,
  "enable:ebpf": EnableEbpf,
  "enable:tstats": EnableTstats,
  "enable:vpp": EnableVpp,
  disable: Disable,
  "disable:ebpf": DisableEbpf,
  "disable:tstats": DisableTstats,
  install: Install,
  uninstall: Uninstall,
  bench: Bench,
  "bench:run": BenchRun,
  "bench:server": BenchServer,
  "xds:serve": XdsServe,
  "xds:bootstrap": XdsBootstrap,
  "xds:config-dump": XdsConfigDump,
  "xds:load": XdsLoad,
  "ebpf:status": EbpfStatusCommand,
  "vpp:status": VppStatusCommand,
  "vpp:cli": VppCli,
  "vpp:config": VppConfig,
  "tstats:build": TstatsBuild,
  "tstats:render": TstatsRender,
  "tstats:serve": TstatsServe,
} satisfies Record<string, Command.Class>;
