import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, test } from "vitest";
import { decodeCliOutput, stripAnsi, TelnetDecoder, VppCliClient } from "../src/client/cli-client.js";
import { type FakeVppServer, loadCliRecording, startFakeVppServer } from "../src/testing/index.js";
import { fixture } from "./fixtures-path.js";

let server: FakeVppServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function replayCli(name: string, command: string) {
  server = await startFakeVppServer({
    mode: "cli",
    script: await loadCliRecording(fixture("cli", `${name}.json`)),
  });
  const result = await new VppCliClient({ socketPath: server.socketPath, timeoutMs: 5000 }).run(command);
  await server.idle();
  return { result, mismatches: server.mismatches };
}

describe("VppCliClient against recorded VPP traffic", () => {
  const cases = [
    ["show_version", "show version"],
    ["show_errors", "show errors"],
    ["show_errors_hoststack", "show errors"],
    ["show_interface", "show interface"],
    ["show_interface_hoststack", "show interface"],
    ["show_session_verbose", "show session verbose"],
    ["show_session_verbose_hoststack", "show session verbose"],
    ["show_app", "show app"],
    ["show_app_hoststack", "show app"],
    ["show_app_ns_hoststack", "show app ns"],
    ["invalid_command", "show foobarbaz"],
  ] as const;

  test.each(cases)("%s: sends vppctl's bytes and reads the whole output", async (name, command) => {
    const { result, mismatches } = await replayCli(name, command);
    expect(mismatches).toEqual([]);
    const expected = await readFile(fixture("cli", `${name}.txt`), "utf8");
    expect(result.rawText).toBe(expected);
    expect(result.output).toBe(stripAnsi(expected).replaceAll("\r\n", "\n"));
    expect(result.complete).toBe(true);
  });

  test("show version output is the version line", async () => {
    const { result } = await replayCli("show_version", "show version");
    expect(result.output).toBe(
      "vpp v26.10-rc0~374-gb575ec2c56d built by root on vm at 2026-11-23T02:28:06\n",
    );
  });

  test("NULs inside `show app` output do not end the read early", async () => {
    const { result } = await replayCli("show_app_hoststack", "show app");
    expect(result.output.split("\n").filter(Boolean)).toHaveLength(3);
    expect(result.output).toContain("sockperf-ldp-32353");
  });

  test("ANSI colours of `show app ns` are stripped from output but kept in rawText", async () => {
    const { result } = await replayCli("show_app_ns_hoststack", "show app ns");
    expect(result.rawText).toContain("\u001b[33m");
    expect(result.output).not.toContain("\u001b");
    expect(result.output).toContain("/run/vpp/app_ns_sockets/default");
  });

  test("a different command than recorded is detected by the replay server", async () => {
    server = await startFakeVppServer({
      mode: "cli",
      script: await loadCliRecording(fixture("cli", "show_version.json")),
    });
    await new VppCliClient({ socketPath: server.socketPath, timeoutMs: 2000 })
      .run("show vers")
      .catch(() => undefined);
    await server.idle();
    expect(server.mismatches.length).toBe(1);
  });
});

describe("VppCliClient errors", () => {
  test("missing socket is VPP_SOCKET_MISSING", async () => {
    await expect(
      new VppCliClient({ socketPath: "/tmp/mcv-does-not-exist/cli.sock" }).run("show version"),
    ).rejects.toMatchObject({ code: "VPP_SOCKET_MISSING" });
  });

  test("a server that never answers times out with VPP_CLI_TIMEOUT", async () => {
    server = await startFakeVppServer({ mode: "cli", script: [{ dir: "c2s", bytes: Buffer.alloc(1000) }] });
    await expect(
      new VppCliClient({ socketPath: server.socketPath, timeoutMs: 300 }).run("show version"),
    ).rejects.toMatchObject({ code: "VPP_CLI_TIMEOUT" });
  });

  test("commands with newlines are refused before connecting", async () => {
    await expect(
      new VppCliClient({ socketPath: "/nonexistent" }).run("show version\nquit"),
    ).rejects.toMatchObject({ code: "VPP_CLI_ERROR" });
  });
});

describe("telnet decoding", () => {
  test("IAC sequences split across reads are removed and TTYPE SEND is seen", () => {
    const d = new TelnetDecoder();
    const stream = Buffer.from(
      "fffc22fffe22fffb03fffd03fffb01fffe01fffd18fffa1801fff0fffd1ffffa1f01fff0",
      "hex",
    );
    const out = Buffer.concat([
      d.push(stream.subarray(0, 20)),
      d.push(stream.subarray(20)),
      d.push(Buffer.from("ok\r\n")),
    ]);
    expect(out.toString()).toBe("ok\r\n");
    expect(d.subnegotiations.map((s) => s.toString("hex"))).toEqual(["1801", "1f01"]);
  });

  test("IAC IAC is a literal 0xff", () => {
    expect(new TelnetDecoder().push(Buffer.from([0x41, 0xff, 0xff, 0x42]))).toEqual(
      Buffer.from([0x41, 0xff, 0x42]),
    );
  });

  test("a cut stream is reported incomplete", () => {
    expect(decodeCliOutput("x", Buffer.from("partial\r\n")).complete).toBe(false);
  });
});
