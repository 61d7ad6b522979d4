import { spawn } from "node:child_process";
import { settings } from "@oclif/core";
import { runCommand } from "@oclif/test";
import { register } from "tsx/esm/api";
import { describe, expect, test } from "vitest";
import { CLI_BIN, CLI_ROOT } from "../../../test/helpers.js";

settings.enableAutoTranspile = false;
register();
const load = { root: CLI_ROOT };
const capture = {};

describe("meshctl xds", () => {
  test("bootstrap --kind grpc prints a bootstrap with an Istio-style node id", async () => {
    const { stdout, error } = await runCommand(
      [
        "xds",
        "bootstrap",
        "--kind",
        "grpc",
        "--name",
        "c1",
        "--namespace",
        "demo",
        "--server",
        "127.0.0.1:15999",
        "--json",
      ],
      load,
      capture,
    );
    expect(error).toBeUndefined();
    const b = JSON.parse(stdout) as {
      node: { id: string; locality: unknown };
      xds_servers: { server_uri: string }[];
    };
    expect(b.node.id).toBe("grpc~127.0.0.1~c1.demo~demo.svc.cluster.local");
    expect(b.node.locality).toEqual({});
    expect(b.xds_servers[0]?.server_uri).toBe("127.0.0.1:15999");
  });

  test("config-dump of the embedded mesh lists Istio-named clusters", async () => {
    const { stdout, error } = await runCommand(
      [
        "xds",
        "config-dump",
        "--node-id",
        "grpc~127.0.0.1~c.demo~demo.svc.cluster.local",
        "--type",
        "cds",
        "--json",
      ],
      load,
      capture,
    );
    expect(error).toBeUndefined();
    const dump = JSON.parse(stdout) as { types: { cds: { resources: { name: string }[] } } };
    expect(dump.types.cds.resources.map((r) => r.name)).toContain(
      "outbound|7070|v1|echo.demo.svc.cluster.local",
    );
  });

  test("config-dump with a missing directory is a usage error (exit 2)", async () => {
    const { stdout, error } = await runCommand(
      ["xds", "config-dump", "--config", "/nonexistent/mcx", "--node-id", "x", "--json"],
      load,
      capture,
    );
    expect(error?.oclif?.exit).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ error: { code: "XDS_CONFIG_DIR_MISSING" } });
  });

  test("serve runs until SIGTERM and logs its address", { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, [CLI_BIN, "xds", "serve", "--port", "0", "--debug-port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!/xDS control plane on 127\.0\.0\.1:\d+/.test(out) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(/xDS control plane on 127\.0\.0\.1:\d+/);
    const debugPort = /debug http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
    const health = await fetch(`http://127.0.0.1:${debugPort}/healthz`);
    expect(health.status).toBe(200);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).toMatch(/Stopped after \d+s: 0 pushes, 0 NACKs\./);
  });
});
