import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, type SpawnedProgram, spawnProgram } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { VppApiClient } from "../src/client/api-client.js";
import { VppCliClient } from "../src/client/cli-client.js";
import { renderSidecarProfile } from "../src/config/sidecar-profile.js";
import { renderStartupConf } from "../src/config/startup-conf.js";
import { getVppStatus } from "../src/status/get-status.js";

// VPP is not packaged for Debian; this runs only where a `vpp` binary is on PATH.
const vppBinary = await findProgram("vpp");
if (!vppBinary)
  console.log(
    "[skip] vpp.integration: no `vpp` binary on PATH; the clients are tested against recorded VPP traffic instead.",
  );

describe.skipIf(!vppBinary)("against a real VPP started with the generated config", () => {
  let dir = "";
  let vpp: SpawnedProgram | undefined;
  const sock = (n: string) => join(dir, n);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcv-vpp-"));
    const profile = renderSidecarProfile({ runtimeDir: dir });
    const conf = renderStartupConf({
      ...profile.startupConf,
      unix: {
        nodaemon: true,
        cliListen: sock("cli.sock"),
        runtimeDir: dir,
        log: sock("vpp.log"),
        pidfile: sock("vpp.pid"),
      },
      socksvr: { socketName: sock("api.sock") },
      statseg: { socketName: sock("stats.sock"), pageSize: "4k" },
      memory: { mainHeapSize: "512M", mainHeapPageSize: "4k" },
      buffers: { buffersPerNuma: 4096, pageSize: "4k" },
    });
    await writeFile(sock("startup.conf"), conf);
    vpp = spawnProgram(vppBinary!, ["-c", sock("startup.conf")]);
    for (let i = 0; i < 100; i++) {
      const ready = await Promise.all([stat(sock("cli.sock")), stat(sock("api.sock"))]).then(
        () => true,
        () => false,
      );
      if (ready) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);

  afterAll(async () => {
    vpp?.kill("SIGTERM");
    await vpp?.exited;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("CLI socket: show version", async () => {
    const r = await new VppCliClient({ socketPath: sock("cli.sock") }).run("show version");
    expect(r.output).toMatch(/^vpp v\d+/);
    expect(r.complete).toBe(true);
  });

  test("API socket: handshake, show_version, cli_inband with retval, control_ping", async () => {
    const api = await VppApiClient.connect({ socketPath: sock("api.sock") });
    try {
      expect((await api.showVersion()).program).toBe("vpe");
      expect((await api.cliInband("show foobarbaz")).retval).toBe(-1);
      expect((await api.controlPing()).vpePid).toBe(vpp?.pid);
    } finally {
      await api.close();
    }
  });

  test("status: session layer enabled by the generated config", async () => {
    const status = await getVppStatus({ cliSocket: sock("cli.sock"), apiSocket: sock("api.sock") });
    expect(status).toMatchObject({ running: true, transport: "api", sessionLayer: "enabled" });
  });
});
