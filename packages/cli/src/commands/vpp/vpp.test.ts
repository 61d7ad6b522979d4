import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadApiFrames, loadCliRecording, startFakeVppServer } from "@meshctl/vpp/testing";
import { settings } from "@oclif/core";
import { register } from "tsx/esm/api";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { CLI_ROOT } from "../../../test/helpers.js";
import { evaluateVppChecks, type VppFacts } from "../../services/diagnose/vpp-checks.js";
import EnableVpp from "../enable/vpp.js";
import VppCli from "./cli.js";
import VppConfig from "./config.js";
import VppStatusCommand from "./status.js";

// Recorded real VPP traffic, shared with @meshctl/vpp's own tests.
const FIXTURES = join(CLI_ROOT, "..", "vpp", "test", "fixtures");
const opts = { root: CLI_ROOT };
// As in commands.test.ts: oclif loads the built CLI, whose sibling imports resolve to .ts sources.
settings.enableAutoTranspile = false;
register();

let dir: string;
let out: string[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mcv-cli-"));
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
});
afterAll(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});
const takeOut = () => {
  const text = out.join("");
  out = [];
  return text;
};

describe("meshctl vpp config", () => {
  test("--profile sidecar --out writes a pair that `--check` accepts", async () => {
    const result = await VppConfig.run(["--profile", "sidecar", "--out", dir, "--json"], opts);
    expect(result).toMatchObject({
      kind: "profile",
      written: [join(dir, "startup.conf"), join(dir, "vcl.conf")],
      issues: [],
    });
    expect(await readFile(join(dir, "vcl.conf"), "utf8")).toContain("use-mq-eventfd");
    takeOut();
    const check = await VppConfig.run(
      ["--check", join(dir, "startup.conf"), "--check", join(dir, "vcl.conf"), "--json"],
      opts,
    );
    expect(check).toMatchObject({
      kind: "check",
      files: [
        { type: "startup.conf", valid: true },
        { type: "vcl.conf", valid: true },
      ],
    });
    takeOut();
  });

  test("--check reports file:line: reason", async () => {
    await writeFile(join(dir, "bad-vcl.conf"), "vcl {\n  rx-fifo-size 4m\n}\n");
    const result = (await VppConfig.run(["--check", join(dir, "bad-vcl.conf")], opts).catch((e) => e)) as {
      oclif?: { exit: number };
    };
    expect(result.oclif?.exit).toBe(5);
    expect(takeOut()).toContain(`${join(dir, "bad-vcl.conf")}:2: error: vcl.rx-fifo-size`);
  });

  test("--check on a file that does not exist is a usage error naming it, not a bug", async () => {
    const missing = join(dir, "no-such-startup.conf");
    const result = (await VppConfig.run(["--check", missing, "--json"], opts).catch((e) => e)) as {
      oclif?: { exit: number };
    };
    expect(result.oclif?.exit).toBe(2);
    const { error } = JSON.parse(takeOut()) as { error: Record<string, unknown> };
    expect(error).toMatchObject({
      code: "VPP_CONFIG_NOT_FOUND",
      kind: "usage",
      message: `--check ${missing}: the file does not exist.`,
      details: { path: missing },
    });
    expect(JSON.stringify(error)).not.toMatch(/Internal error|stack/);
  });

  test("--check on a directory, and --out where nothing can be written: usage errors", async () => {
    const onDir = (await VppConfig.run(["--check", dir, "--json"], opts).catch((e) => e)) as {
      oclif?: { exit: number };
    };
    expect(onDir.oclif?.exit).toBe(2);
    expect(JSON.parse(takeOut())).toMatchObject({
      error: { code: "VPP_CONFIG_UNREADABLE", message: expect.stringMatching(/EISDIR/) },
    });
    await writeFile(join(dir, "a-file"), "x");
    const out = join(dir, "a-file", "vpp");
    const write = (await VppConfig.run(["--out", out, "--json"], opts).catch((e) => e)) as {
      oclif?: { exit: number };
    };
    expect(write.oclif?.exit).toBe(2);
    expect(JSON.parse(takeOut())).toMatchObject({
      error: { code: "VPP_CONFIG_WRITE_FAILED", kind: "usage", message: expect.stringContaining(out) },
    });
  });
});

describe("meshctl vpp status --timeout", () => {
  test("is bounded (1 to 600000 ms): beyond, a usage error instead of a timer overflow", async () => {
    for (const [value, ok] of [
      ["0", false],
      ["1", true],
      ["600000", true],
      ["600001", false],
    ] as const) {
      const result = (await VppStatusCommand.run(
        [
          "--timeout",
          value,
          "--cli-socket",
          join(dir, "none.sock"),
          "--api-socket",
          join(dir, "none.sock"),
          "--json",
        ],
        opts,
      ).catch((e) => e)) as { oclif?: { exit: number } };
      const printed = takeOut();
      if (ok) expect(result?.oclif?.exit, value).not.toBe(2);
      else {
        expect(result.oclif?.exit, value).toBe(2);
        expect(JSON.parse(printed)).toMatchObject({
          error: { code: "USAGE", kind: "usage", message: expect.stringMatching(/timeout/) },
        });
      }
    }
  });
});

describe("meshctl vpp status / cli against a replayed VPP", () => {
  test("status over the CLI socket", async () => {
    const names = [
      "show_version",
      "show_session_verbose_hoststack",
      "show_app_hoststack",
      "show_app_ns_hoststack",
      "show_errors_hoststack",
    ];
    const server = await startFakeVppServer({
      mode: "cli",
      script: await Promise.all(names.map((n) => loadCliRecording(join(FIXTURES, "cli", `${n}.json`)))),
    });
    try {
      const status = await VppStatusCommand.run(
        ["--cli-socket", server.socketPath, "--api-socket", join(dir, "none.sock")],
        opts,
      );
      expect(status).toMatchObject({ running: true, transport: "cli", sessionLayer: "enabled" });
      const text = takeOut();
      expect(text).toContain("session layer enabled");
      expect(text).toContain("sockperf-ldp-32350 (ns 1)");
    } finally {
      await server.close();
    }
  });

  test("cli: an invalid command through the API exits non-zero with VPP_CLI_ERROR", async () => {
    const frames = await loadApiFrames(join(FIXTURES, "api", "frames_dump"));
    // The recording's client was named "ts-fixture", the command's is "meshctl".
    const server = await startFakeVppServer({
      mode: "api",
      ignoreClientName: true,
      script: [...frames.slice(0, 2), ...frames.slice(10)],
    });
    try {
      const error = (await VppCli.run(
        ["show", "foobarbaz", "--api-socket", server.socketPath, "--cli-socket", join(dir, "none.sock")],
        opts,
      ).catch((e) => e)) as {
        oclif?: { exit: number };
      };
      expect(error.oclif?.exit).toBe(2);
      expect(server.mismatches).toEqual([]);
    } finally {
      await server.close();
      takeOut();
    }
  });

  test("cli over the CLI socket prints VPP's output", async () => {
    const server = await startFakeVppServer({
      mode: "cli",
      script: await loadCliRecording(join(FIXTURES, "cli", "show_version.json")),
    });
    try {
      const r = await VppCli.run(["show version", "--via", "cli", "--cli-socket", server.socketPath], opts);
      expect(r).toMatchObject({ transport: "cli", retval: null });
      expect(takeOut()).toContain("vpp v26.10-rc0~374-gb575ec2c56d built by root");
    } finally {
      await server.close();
    }
  });
});

describe("meshctl enable vpp", () => {
  test("renders the Kubernetes pieces and leaves the host alone without VPP", async () => {
    const outDir = join(dir, "k8s");
    const r = await EnableVpp.run(
      ["--out", outDir, "--no-host", "--image", "registry.example/vpp:26.06", "--json"],
      opts,
    );
    expect(r.manifests.map((m) => m.slice(outDir.length + 1)).sort()).toEqual([
      "sidecar-patch.yaml",
      "vcl-configmap.yaml",
      "vpp-daemonset.yaml",
    ]);
    expect(r.host).toBeNull();
    expect(await readFile(join(outDir, "vpp-daemonset.yaml"), "utf8")).toContain(
      "registry.example/vpp:26.06",
    );
    takeOut();
  });

  test("--host --dry-run reports the host files without writing", async () => {
    const configDir = join(dir, "etc-vpp");
    const r = await EnableVpp.run(
      ["--out", join(dir, "k8s2"), "--host", "--dry-run", "--config-dir", configDir, "--json"],
      opts,
    );
    expect(r.host?.files.map((f) => f.action)).toEqual(["would-write", "would-write"]);
    await expect(readFile(join(configDir, "startup.conf"))).rejects.toThrow();
    takeOut();
  });
});

describe("diagnose vpp checks", () => {
  const absent: VppFacts = {
    binary: null,
    host: { cpus: 2, nics: [] },
    status: {
      running: false,
      transport: null,
      cliSocket: {
        path: "/run/vpp/cli.sock",
        reachable: false,
        error: { code: "VPP_SOCKET_MISSING", message: "missing" },
      },
      apiSocket: {
        path: "/run/vpp/api.sock",
        reachable: false,
        error: { code: "VPP_SOCKET_MISSING", message: "missing" },
      },
      version: null,
      pid: null,
      sessionLayer: "unknown",
      apps: [],
      appNamespaces: [],
      sessions: null,
      errors: [],
      counters: [],
      interfaces: null,
    },
  };

  test("no VPP: a warning, no failures, and the 2-core caution", () => {
    const checks = evaluateVppChecks(absent);
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["vpp.present", "warn"],
      ["vpp.benefit", "warn"],
    ]);
    expect(checks[1]!.evidence.join(" ")).toMatch(/13.9 µs vs 11.2 µs/);
  });

  test("VPP running with the session layer off fails that check", () => {
    const running: VppFacts = {
      ...absent,
      binary: "/usr/bin/vpp",
      status: {
        ...absent.status,
        running: true,
        transport: "cli",
        sessionLayer: "disabled",
        cliSocket: { ...absent.status.cliSocket, reachable: true, error: null },
      },
    };
    const byId = Object.fromEntries(evaluateVppChecks(running).map((c) => [c.id, c.status]));
    expect(byId).toMatchObject({
      "vpp.present": "ok",
      "vpp.cli-socket": "ok",
      "vpp.api-socket": "fail",
      "vpp.session-layer": "fail",
    });
  });

  test("a PID that is not on VCL fails the process check", () => {
    const checks = evaluateVppChecks({
      ...absent,
      process: {
        pid: 42,
        error: null,
        report: {
          pid: 42,
          command: "envoy",
          usesVcl: false,
          ldPreload: null,
          mappedVclLibraries: [],
          vclConfig: { path: "/etc/vpp/vcl.conf", fromEnv: false, exists: false, valid: false, issues: [] },
          ldpSidBit: null,
          maxKernelFd: 12,
          findings: [{ id: "preload", status: "fail", message: "LD_PRELOAD is not set" }],
        },
      },
    });
    expect(checks.find((c) => c.id === "vpp.process")).toMatchObject({
      status: "fail",
      summary: "PID 42 does not run on VCL",
    });
  });
});

describe("meshctl status provider for vpp", () => {
  test("reports unavailable (or disabled) when no VPP answers on the default sockets", async () => {
    const { vppFeatureStatus } = await import("../../services/vpp-feature.js");
    const { findProgram } = await import("@meshctl/core");
    const status = await vppFeatureStatus();
    expect(status.feature).toBe("vpp");
    expect(status.state).toBe((await findProgram("vpp")) ? "disabled" : "unavailable");
  });
});
