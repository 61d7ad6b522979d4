import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, test } from "vitest";
import { VppApiClient } from "../src/client/api-client.js";
import { decodeApiMessage, decodeMessageTable, SOCKCLNT_CREATE_REPLY } from "../src/client/api-codec.js";
import { type FakeVppServer, loadApiFrames, startFakeVppServer } from "../src/testing/index.js";
import { fixture } from "./fixtures-path.js";

let server: FakeVppServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("VppApiClient against recorded VPP traffic", () => {
  test("basic session: sockclnt_create, show_version, cli_inband, control_ping, sockclnt_delete", async () => {
    server = await startFakeVppServer({
      mode: "api",
      script: await loadApiFrames(fixture("api", "frames_basic")),
    });
    const api = await VppApiClient.connect({
      socketPath: server.socketPath,
      clientName: "ts-fixture",
      timeoutMs: 5000,
    });
    expect(api.clientIndex).toBe(0x80000001);
    expect(api.messageTable.size).toBe(2013);
    expect(await api.showVersion()).toEqual({
      program: "vpe",
      version: "26.10-rc0~374-gb575ec2c56d",
      buildDate: "2026-11-23T02:28:06",
      buildDirectory: "",
    });
    expect(await api.cliInband("show version")).toEqual({
      command: "show version",
      retval: 0,
      reply: "vpp v26.10-rc0~374-gb575ec2c56d built by root on vm at 2026-11-23T02:28:06\n",
    });
    expect(await api.controlPing()).toEqual({ vpePid: 32104, clientIndex: 0x80000001 });
    await api.close();
    await server.idle();
    expect(server.mismatches).toEqual([]);
  });

  test("dump session: sw_interface_dump + control_ping, cli_inband ok and failing", async () => {
    server = await startFakeVppServer({
      mode: "api",
      script: await loadApiFrames(fixture("api", "frames_dump")),
    });
    const api = await VppApiClient.connect({ socketPath: server.socketPath, clientName: "ts-fixture" });
    const interfaces = await api.swInterfaceDump();
    expect(
      interfaces.map((i) => [i.swIfIndex, i.name, i.devType, i.macAddress, i.adminUp, i.linkUp, i.linkMtu]),
    ).toEqual([
      [0, "local0", "local", "00:00:00:00:00:00", false, false, 0],
      [1, "loop0", "Loopback", "de:ad:00:00:00:00", true, true, 9000],
      [2, "loop1", "Loopback", "de:ad:00:00:00:01", true, true, 9000],
    ]);
    const ok = await api.cliInband("show interface");
    expect(ok.retval).toBe(0);
    expect(ok.reply).toContain("loop1");
    const bad = await api.cliInband("show foobarbaz");
    expect(bad).toEqual({
      command: "show foobarbaz",
      retval: -1,
      reply: "show: unknown input `foobarbaz'\n",
    });
    await api.close();
    await server.idle();
    expect(server.mismatches).toEqual([]);
  });

  test("cli() throws VPP_CLI_ERROR on retval -1", async () => {
    const script = (await loadApiFrames(fixture("api", "frames_dump"))).filter((_, i) => i < 2 || i >= 8);
    server = await startFakeVppServer({ mode: "api", script });
    const api = await VppApiClient.connect({ socketPath: server.socketPath, clientName: "ts-fixture" });
    expect(await api.cli("show interface")).toContain("local0");
    await expect(api.cli("show foobarbaz")).rejects.toMatchObject({
      code: "VPP_CLI_ERROR",
      details: { retval: -1 },
    });
    await api.close();
  });

  test("the message table in sockclnt_create_reply matches message_table.json", async () => {
    const frame = await readFile(fixture("api", "frames_basic", "02_s2c_sockclnt_create_reply.bin"));
    const payload = frame.subarray(16);
    const { values, offset } = decodeApiMessage(SOCKCLNT_CREATE_REPLY, payload);
    const table = decodeMessageTable(payload, offset, values.count as number);
    const recorded = JSON.parse(await readFile(fixture("api", "message_table.json"), "utf8")) as {
      by_id: Record<string, string>;
    };
    expect(Object.fromEntries([...table].map(([name, id]) => [String(id), name]))).toEqual(recorded.by_id);
  });
});

describe("VppApiClient errors", () => {
  test("missing socket is VPP_SOCKET_MISSING", async () => {
    await expect(VppApiClient.connect({ socketPath: "/tmp/mcv-nope/api.sock" })).rejects.toMatchObject({
      code: "VPP_SOCKET_MISSING",
    });
  });

  test("no answer to sockclnt_create is VPP_API_TIMEOUT", async () => {
    server = await startFakeVppServer({
      mode: "api",
      script: [{ dir: "c2s", bytes: Buffer.alloc(100_000) }],
    });
    await expect(
      VppApiClient.connect({ socketPath: server.socketPath, timeoutMs: 300 }),
    ).rejects.toMatchObject({ code: "VPP_API_TIMEOUT" });
  });

  test("a message whose CRC changed is VPP_VERSION_MISMATCH", async () => {
    const script = await loadApiFrames(fixture("api", "frames_basic"));
    const reply = Buffer.from((script[1] as { bytes: Buffer }).bytes);
    const at = reply.indexOf(Buffer.from("show_version_51077d14\0"));
    expect(at).toBeGreaterThan(0);
    reply.write("show_version_deadbeef", at, "latin1");
    server = await startFakeVppServer({ mode: "api", script: [script[0]!, { dir: "s2c", bytes: reply }] });
    const api = await VppApiClient.connect({ socketPath: server.socketPath, clientName: "ts-fixture" });
    await expect(api.showVersion()).rejects.toMatchObject({
      code: "VPP_VERSION_MISMATCH",
      details: { found: "show_version_deadbeef" },
    });
    await server.close();
    server = undefined;
    await api.close();
  });

  test("a reply that never comes is VPP_API_TIMEOUT, and the client stays usable for close()", async () => {
    const script = (await loadApiFrames(fixture("api", "frames_basic"))).slice(0, 3);
    server = await startFakeVppServer({ mode: "api", script });
    const api = await VppApiClient.connect({
      socketPath: server.socketPath,
      clientName: "ts-fixture",
      timeoutMs: 300,
    });
    await expect(api.showVersion()).rejects.toMatchObject({ code: "VPP_API_TIMEOUT" });
    await api.close();
  });
});

describe("framing across read boundaries", () => {
  test("a reply split into small pieces and two frames in one read are both decoded", async () => {
    const frames = (await loadApiFrames(fixture("api", "frames_basic"))).flatMap((s) =>
      "bytes" in s ? [s] : [],
    );
    const createReply = frames[1]!.bytes;
    const versionReply = frames[3]!.bytes;
    const pingReply = frames[7]!.bytes;
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const net = await import("node:net");
    const dir = await mkdtemp(join(tmpdir(), "mcv-frag-"));
    const path = join(dir, "api.sock");
    const srv = net.createServer((sock) => {
      let step = 0;
      sock.on("data", async () => {
        step++;
        if (step === 1) {
          for (let i = 0; i < createReply.length; i += 997) {
            sock.write(createReply.subarray(i, i + 997));
            await new Promise((r) => setImmediate(r));
          }
        } else if (step === 2) {
          // show_version and control_ping were pipelined: answer both in one write, contexts 2 and 3.
          const v = Buffer.from(versionReply);
          v.writeUInt32BE(2, 18);
          const p = Buffer.from(pingReply);
          p.writeUInt32BE(3, 18);
          sock.write(Buffer.concat([v, p]));
        }
      });
    });
    await new Promise<void>((r) => srv.listen(path, r));
    try {
      const api = await VppApiClient.connect({ socketPath: path, timeoutMs: 1000 });
      const [version, ping] = await Promise.all([api.showVersion(), api.controlPing()]);
      expect(version.version).toBe("26.10-rc0~374-gb575ec2c56d");
      expect(ping.vpePid).toBe(32104);
      // This server never answers sockclnt_delete: close() gives up after the timeout, quietly.
      await api.close();
    } finally {
      srv.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
