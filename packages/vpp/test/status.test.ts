import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, test } from "vitest";
import { getVppStatus, runVppCommand } from "../src/status/get-status.js";
import {
  parseShowApp,
  parseShowAppNs,
  parseShowErrors,
  parseShowSession,
  parseShowVersion,
} from "../src/status/parse-show.js";
import {
  type FakeVppServer,
  loadApiFrames,
  loadCliRecording,
  startFakeVppServer,
} from "../src/testing/index.js";
import { fixture } from "./fixtures-path.js";

const txt = (name: string) => readFile(fixture("cli", `${name}.txt`), "utf8");

describe("show command parsers on recorded output", () => {
  test("show version", async () => {
    expect(parseShowVersion(await txt("show_version"))).toEqual({
      version: "v26.10-rc0~374-gb575ec2c56d",
      builtBy: "root",
      buildDate: "2026-11-23T02:28:06",
    });
  });

  test("show session verbose, idle and busy", async () => {
    expect(parseShowSession(await txt("show_session_verbose"))).toEqual({
      enabled: true,
      total: 0,
      byThread: [{ thread: 0, active: 0 }],
      rows: [],
    });
    const busy = parseShowSession(await txt("show_session_verbose_hoststack"));
    expect(busy.total).toBe(3);
    expect(busy.rows).toEqual([
      {
        thread: 0,
        index: 0,
        proto: "T",
        local: "127.1.0.1:11111",
        remote: "0.0.0.0:0",
        state: "LISTEN",
        rxFifo: 0,
        txFifo: 0,
      },
      {
        thread: 0,
        index: 2,
        proto: "T",
        local: "127.2.0.1:22542",
        remote: "127.1.0.1:11111",
        state: "ESTABLISHED",
        rxFifo: 14,
        txFifo: 0,
      },
      {
        thread: 0,
        index: 3,
        proto: "T",
        local: "127.1.0.1:11111",
        remote: "127.2.0.1:22542",
        state: "ESTABLISHED",
        rxFifo: 0,
        txFifo: 14,
      },
    ]);
    expect(parseShowSession("show: session layer is not enabled\n").enabled).toBe(false);
  });

  test("show app (with its NUL bytes) and show app ns (with ANSI colours)", async () => {
    expect(parseShowApp(await txt("show_app"))).toEqual([]);
    const raw = (await loadCliRecording(fixture("cli", "show_app_hoststack.json"))).flatMap((s) =>
      "bytes" in s && s.dir === "s2c" ? [s.bytes] : [],
    );
    const withNuls = Buffer.concat(raw.slice(1)).toString("latin1");
    expect(withNuls).toContain("\0");
    expect(parseShowApp(withNuls)).toEqual([
      { index: 2, name: "sockperf-ldp-32350", namespace: "1" },
      { index: 3, name: "sockperf-ldp-32353", namespace: "2" },
    ]);
    expect(parseShowAppNs(await txt("show_app_ns_hoststack"))).toEqual([
      {
        index: 0,
        secret: "0",
        interface: "DELETED (4294967295)",
        id: "default",
        socket: "/run/vpp/app_ns_sockets/default",
      },
      { index: 1, secret: "1234", interface: "loop0", id: "1", socket: "/run/vpp/app_ns_sockets/1" },
      { index: 2, secret: "5678", interface: "loop1", id: "2", socket: "/run/vpp/app_ns_sockets/2" },
    ]);
  });

  test("show errors", async () => {
    expect(parseShowErrors(await txt("show_errors"))).toEqual([]);
    const counters = parseShowErrors(await txt("show_errors_hoststack"));
    expect(counters[0]).toEqual({
      count: 165025,
      node: "session-queue",
      reason: "Packets transmitted",
      severity: "info",
    });
    expect(counters.length).toBeGreaterThan(5);
  });
});

let server: FakeVppServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("getVppStatus", () => {
  test("over the CLI socket when the API socket is absent", async () => {
    const names = [
      "show_version",
      "show_session_verbose_hoststack",
      "show_app_hoststack",
      "show_app_ns_hoststack",
      "show_errors_hoststack",
    ];
    const scripts = await Promise.all(names.map((n) => loadCliRecording(fixture("cli", `${n}.json`))));
    server = await startFakeVppServer({ mode: "cli", script: scripts });
    const status = await getVppStatus({
      cliSocket: server.socketPath,
      apiSocket: "/tmp/mcv-none/api.sock",
      timeoutMs: 3000,
    });
    expect(server.mismatches).toEqual([]);
    expect(status).toMatchObject({
      running: true,
      transport: "cli",
      version: "v26.10-rc0~374-gb575ec2c56d",
      sessionLayer: "enabled",
      apiSocket: { reachable: false, error: { code: "VPP_SOCKET_MISSING" } },
      cliSocket: { reachable: true, error: null },
      interfaces: null,
      errors: [],
    });
    expect(status.apps.map((a) => a.name)).toEqual(["sockperf-ldp-32350", "sockperf-ldp-32353"]);
    expect(status.sessions?.total).toBe(3);
    expect(status.counters.length).toBeGreaterThan(5);
  });

  test("no VPP at all: not running, both probes explain why", async () => {
    const status = await getVppStatus({
      cliSocket: "/tmp/mcv-none/cli.sock",
      apiSocket: "/tmp/mcv-none/api.sock",
    });
    expect(status).toMatchObject({ running: false, transport: null, sessionLayer: "unknown", version: null });
    expect(status.cliSocket.error?.code).toBe("VPP_SOCKET_MISSING");
  });
});

describe("runVppCommand", () => {
  test("prefers the API and reports retval -1 for an invalid command", async () => {
    const frames = await loadApiFrames(fixture("api", "frames_dump"));
    // sockclnt_create, reply, then the failing cli_inband and delete (frames 11..14).
    server = await startFakeVppServer({ mode: "api", script: [...frames.slice(0, 2), ...frames.slice(10)] });
    const r = await runVppCommand("show foobarbaz", {
      apiSocket: server.socketPath,
      cliSocket: "/tmp/mcv-none/cli.sock",
      clientName: "ts-fixture",
    });
    expect(r).toEqual({
      command: "show foobarbaz",
      output: "show: unknown input `foobarbaz'\n",
      transport: "api",
      retval: -1,
    });
  });

  test("falls back to the CLI socket, where failures are invisible", async () => {
    server = await startFakeVppServer({
      mode: "cli",
      script: await loadCliRecording(fixture("cli", "invalid_command.json")),
    });
    const r = await runVppCommand("show foobarbaz", {
      apiSocket: "/tmp/mcv-none/api.sock",
      cliSocket: server.socketPath,
    });
    expect(r).toEqual({
      command: "show foobarbaz",
      output: "show: unknown input `foobarbaz'\n",
      transport: "cli",
      retval: null,
    });
  });
});
