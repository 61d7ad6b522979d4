/**
 * docs/xds.md §2 points users at packages/xds/examples/proxyless-client.mjs: this runs it the way
 * the doc does (meshctl xds serve, two bench echo servers, meshctl xds bootstrap,
 * GRPC_XDS_BOOTSTRAP), on the example mesh with its endpoint ports moved to free ones.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type EchoServer, startEchoServer } from "@meshctl/bench";
import { afterAll, describe, expect, it } from "vitest";
import { CLI_BIN, runMeshctl } from "../test/helpers.js";

const EXAMPLES = fileURLToPath(new URL("../../xds/examples/", import.meta.url));

describe("the proxyless client example of docs/xds.md", () => {
  let dir = "";
  let serve: ChildProcess | undefined;
  const echoes: EchoServer[] = [];
  afterAll(async () => {
    serve?.kill("SIGTERM");
    await Promise.all(echoes.map((e) => e.close()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("routes every call to an echo endpoint of the example mesh", async () => {
    dir = await mkdtemp(join(tmpdir(), "meshctl-example-"));
    const mesh = join(dir, "mesh");
    await cp(join(EXAMPLES, "default"), mesh, { recursive: true });
    for (let i = 0; i < 2; i++) echoes.push(await startEchoServer({ protocol: "grpc", port: 0 }));
    const servicePath = join(mesh, "echo-service.yaml");
    const text = await readFile(servicePath, "utf8");
    expect(text).toContain("port: 50051");
    await writeFile(
      servicePath,
      text
        .replace("port: 50051", `port: ${echoes[0]?.port}`)
        .replace("port: 50052", `port: ${echoes[1]?.port}`),
    );

    serve = spawn(
      process.execPath,
      [CLI_BIN, "xds", "serve", "--config", mesh, "--port", "0", "--debug-port", "0"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`xds serve did not start:\n${log}`)), 30_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        const m = /xDS control plane on (\S+?),/.exec(log);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      serve?.stdout?.on("data", onData);
      serve?.stderr?.on("data", onData);
    });

    const bootstrap = await runMeshctl([
      "xds",
      "bootstrap",
      "--kind",
      "grpc",
      "--name",
      "client-1",
      "--namespace",
      "demo",
      "--server",
      address,
    ]);
    expect(bootstrap.code, bootstrap.stderr).toBe(0);
    const bootstrapFile = join(dir, "bootstrap.json");
    await writeFile(bootstrapFile, bootstrap.stdout);

    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(EXAMPLES, "proxyless-client.mjs"), "xds:///echo.demo.svc.cluster.local:7070", "20"],
        { env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapFile }, timeout: 60_000 },
        (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
      );
    });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const peers = run.stdout
      .trim()
      .split("\n")
      .map((line) => line.replace(/^call \d+: /, ""));
    expect(peers).toHaveLength(20);
    const ports = new Set(echoes.map((e) => `127.0.0.1:${e.port}`));
    for (const peer of peers) expect(ports.has(peer), peer).toBe(true);
  });
});
