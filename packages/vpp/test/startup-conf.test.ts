import { readFile } from "node:fs/promises";
import { describe, expect, test } from "vitest";
import {
  formatConfigIssue,
  parseStartupConf,
  renderStartupConf,
  type StartupConf,
  validateStartupConf,
} from "../src/config/startup-conf.js";
import { fixture } from "./fixtures-path.js";

// Envoy's docs/root/configuration/other_features/vcl.rst (commit 6e70f43), quoted exactly.
const ENVOY_VCL_RST_STARTUP = `unix { nodaemon  interactive  cli-listen /run/vpp/cli.sock  gid vpp }
cpu { skip-cores 0  main-core 1  corelist-workers 2 }
buffers { buffers-per-numa 16384 }
dpdk { dev 0000:18:00.0 { num-tx-desc 256  num-rx-desc 256  num-rx-queues 1 } }
session { use-app-socket-api  event-queue-length 100000 }
`;

// VPP's src/vpp/conf/startup.conf (abridged to its active lines, with its comment style).
const VPP_DEFAULT_STARTUP = `
unix {
  nodaemon
  log /var/log/vpp/vpp.log
  full-coredump
  cli-listen /run/vpp/cli.sock
  gid vpp

  ## run vpp in the interactive mode
  # interactive
}

api-trace {
## This stanza controls binary API tracing. Unless there is a very strong reason,
## please leave this feature enabled.
  on
}

api-segment {
  gid vpp
}

socksvr {
  default
}

cpu {
	## In the VPP there is one main thread and optionally the user can create worker(s)
	# main-core 1
	# corelist-workers 2-3,18-19
}
`;

// VPP's hs-test Envoy suite and perf scripts (reference A1, anchors 2 and 3).
const HS_TEST_SESSION = "session { enable use-app-socket-api evt_qs_memfd_seg event-queue-length 100000 }";
const PERF_SCRIPTS = `
session { event-queue-length 100000 use-app-socket-api }
tcp { max-rx-fifo 128m }
socksvr { socket-name /run/vpp-api.sock }
unix { nodaemon cli-listen /run/vpp/cli.sock poll-sleep-usec 0 }
memory { main-heap-size 4g }
api-segment { global-size 2000M api-size 1G gid vpp }
`;

function errors(text: string) {
  return parseStartupConf(text, { file: "startup.conf" }).issues.filter((i) => i.severity === "error");
}

describe("parseStartupConf on VPP's documented examples", () => {
  test("Envoy's vcl.rst startup.conf", () => {
    const { config, issues } = parseStartupConf(ENVOY_VCL_RST_STARTUP);
    expect(issues.filter((i) => i.severity === "error")).toEqual([]);
    expect(config).toEqual({
      unix: { nodaemon: true, interactive: true, cliListen: "/run/vpp/cli.sock", gid: "vpp" },
      cpu: { skipCores: 0, mainCore: 1, corelistWorkers: "2" },
      buffers: { buffersPerNuma: 16384 },
      dpdk: { dev: { "0000:18:00.0": { numTxDesc: 256, numRxDesc: 256, numRxQueues: 1 } } },
      session: { useAppSocketApi: true, eventQueueLength: 100000 },
    });
    // It does not enable the session layer at startup: worth a warning, not an error.
    expect(issues.map((i) => i.path)).toContain("session");
  });

  test("VPP's default startup.conf with comments and tabs", () => {
    const { config, valid } = parseStartupConf(VPP_DEFAULT_STARTUP);
    expect(valid).toBe(true);
    expect(config).toEqual({
      unix: {
        nodaemon: true,
        log: "/var/log/vpp/vpp.log",
        fullCoredump: true,
        cliListen: "/run/vpp/cli.sock",
        gid: "vpp",
      },
      apiTrace: { on: true },
      apiSegment: { gid: "vpp" },
      socksvr: { default: true },
      cpu: {},
    });
  });

  test("VPP's hs-test Envoy session stanza and perf scripts", () => {
    expect(errors(HS_TEST_SESSION)).toEqual([]);
    expect(parseStartupConf(HS_TEST_SESSION).config.session).toEqual({
      enable: true,
      useAppSocketApi: true,
      evtQsMemfdSeg: true,
      eventQueueLength: 100000,
    });
    const perf = parseStartupConf(PERF_SCRIPTS);
    expect(perf.issues.filter((i) => i.severity === "error")).toEqual([]);
    expect(perf.config.tcp).toEqual({ maxRxFifo: "128m" });
    expect(perf.config.apiSegment).toEqual({ globalSize: "2000M", apiSize: "1G", gid: "vpp" });
    expect(perf.config.memory).toEqual({ mainHeapSize: "4g" });
  });

  test("the startup.conf of the recorded VPP", async () => {
    const { config, issues } = parseStartupConf(await readFile(fixture("config", "startup.conf"), "utf8"));
    expect(issues).toEqual([]);
    expect(config.plugins).toEqual({ plugin: { "dpdk_plugin.so": { disable: true } } });
    expect(config.statseg).toEqual({ socketName: "/run/vpp/stats.sock", pageSize: "4k" });
    expect(config.memory).toEqual({ mainHeapSize: "1G", mainHeapPageSize: "4k" });
  });
});

describe("round trip", () => {
  const models: [string, StartupConf][] = [
    ["Envoy's example", parseStartupConf(ENVOY_VCL_RST_STARTUP).config],
    ["VPP default", parseStartupConf(VPP_DEFAULT_STARTUP).config],
    ["perf", parseStartupConf(PERF_SCRIPTS).config],
    [
      "everything at once",
      {
        unix: {
          nodaemon: true,
          cliListen: "/run/vpp/cli.sock",
          pollSleepUsec: 100,
          coredumpSize: "unlimited",
        },
        heapsize: "2G",
        pluginPath: "/usr/lib/vpp_plugins",
        cpu: { mainCore: 0, corelistWorkers: "1-3,5", schedulerPolicy: "fifo" },
        buffers: { buffersPerNuma: 4096, defaultDataSize: 2048, pageSize: "4k" },
        session: {
          enable: true,
          rtBackend: "sdl",
          wrkMqLength: 4096,
          v4SessionTableMemory: "64m",
          minSrcPort: 1024,
          maxSrcPort: 60000,
        },
        tcp: { ccAlgo: "newreno", tso: true, cleanupTime: 100, bufferFailFraction: 0.5 },
        plugins: {
          path: "/usr/lib/vpp_plugins",
          plugin: { default: { disable: true }, "af_packet_plugin.so": { enable: true } },
        },
        dpdk: {
          dev: { "0000:01:00.0": {}, "0000:01:00.1": { name: "eth1", numRxQueues: 2 } },
          noMultiSeg: true,
        },
        extraSections: [{ name: "nat", body: "endpoint-dependent { a b }" }],
      },
    ],
  ];
  test.each(models)("%s: parse(render(x)) = x", (_, model) => {
    const text = renderStartupConf(model);
    const back = parseStartupConf(text);
    expect(back.config).toEqual(model);
    expect(back.issues.filter((i) => i.severity === "error")).toEqual([]);
    expect(renderStartupConf(back.config)).toBe(text);
  });
});

describe("validation with file, line and reason", () => {
  test("unknown keyword, with a suggestion", () => {
    const issues = errors("unix {\n  nodaemon\n  cli-lisen /run/vpp/cli.sock\n}\n");
    expect(issues.map(formatConfigIssue)).toEqual([
      "startup.conf:3: error: unix: unknown keyword `cli-lisen` in `unix` (did you mean `cli-listen`?)",
      "startup.conf:3: error: unix: unknown keyword `/run/vpp/cli.sock` in `unix`",
    ]);
  });

  test("bad values", () => {
    const text =
      "session {\n  enable\n  max-src-port 70000\n  v4-session-table-memory 8g\n  preallocated-sessions lots\n}\ntcp { mtu 9000 cc-algo BBR! }\n";
    const issues = errors(text);
    expect(issues.map((i) => [i.line, i.path])).toEqual([
      [3, "session.max-src-port"],
      [4, "session.v4-session-table-memory"],
      [5, "session.preallocated-sessions"],
      [7, "tcp.cc-algo"],
    ]);
    expect(issues[1]!.message).toMatch(/too large/);
  });

  test("a size suffix where VPP reads a plain integer", () => {
    const [issue] = errors("buffers { buffers-per-numa 16k }");
    expect(issue?.message).toMatch(/plain integer/);
  });

  test("unbalanced braces", () => {
    expect(errors("unix {\n nodaemon\n").map((i) => i.message)).toEqual(["`{` is never closed"]);
    expect(errors("unix { nodaemon } }").map((i) => i.message)).toEqual(["unmatched `}`"]);
  });

  test("unknown sections are kept and warned about, not rejected", () => {
    const { config, issues, valid } = parseStartupConf("nat { endpoint-dependent }\nunix { nodaemon }");
    expect(valid).toBe(true);
    expect(config.extraSections).toEqual([{ name: "nat", body: "endpoint-dependent" }]);
    expect(issues).toMatchObject([{ severity: "warning", line: 1, path: "nat" }]);
  });

  test("semantic checks point at the line of the field", () => {
    const { issues } = parseStartupConf(
      "cpu {\n  main-core 2\n  corelist-workers 1-3\n}\nsession {\n  enable\n  event-queue-length 100\n}\n",
      { file: "s.conf" },
    );
    expect(issues.map(formatConfigIssue)).toEqual([
      "s.conf:3: error: cpu.corelist-workers: main-core 2 is also in corelist-workers; the main thread and a worker would share a polling core",
      's.conf:7: warning: session.event-queue-length: 100 is below 2048; VPP ignores it ("event queue length too small") and keeps its default',
    ]);
  });

  test("strict mode throws VPP_CONFIG_INVALID with every error", () => {
    expect(() => parseStartupConf("unix { bogus }", { file: "x.conf", strict: true })).toThrow(
      /x.conf:1: error: unix: unknown keyword `bogus`/,
    );
    try {
      parseStartupConf("unix { bogus }", { strict: true });
    } catch (error) {
      expect(error).toMatchObject({ code: "VPP_CONFIG_INVALID", kind: "usage" });
    }
  });

  test("validateStartupConf checks models built in code", () => {
    const issues = validateStartupConf({
      cpu: { corelistWorkers: "two" },
      session: { enable: true, minSrcPort: 5000, maxSrcPort: 4000 },
      unix: { cliListen: "a b" },
    } as StartupConf);
    expect(issues.map((i) => i.path).sort()).toEqual([
      "cpu.corelist-workers",
      "session.min-src-port",
      "unix.cli-listen",
    ]);
  });
});
