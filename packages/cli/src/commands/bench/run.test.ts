import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EchoServer, LOAD_RESULT_JSON_SCHEMA, startEchoServer } from "@meshctl/bench";
import { settings } from "@oclif/core";
import { runCommand } from "@oclif/test";
import { Ajv } from "ajv";
import { register } from "tsx/esm/api";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI_BIN, CLI_ROOT } from "../../../test/helpers.js";

settings.enableAutoTranspile = false;
register();
const load = { root: CLI_ROOT };

let server: EchoServer;
let dir: string;
beforeAll(async () => {
  server = await startEchoServer({ protocol: "http1", port: 0 });
  dir = await mkdtemp(join(tmpdir(), "mcb-cli-"));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const quick = ["--qps", "200", "--requests", "40", "--warmup", "0", "--connections", "2"];

describe("meshctl bench run", () => {
  test("--json prints the versioned result", async () => {
    const { stdout, stderr, error } = await runCommand(
      ["bench", "run", server.url, ...quick, "--payload", "1KiB", "--json"],
      load,
    );
    expect(error, stdout + stderr).toBeUndefined();
    const result = JSON.parse(stdout);
    const validate = new Ajv({ strict: false }).compile(LOAD_RESULT_JSON_SCHEMA);
    expect(validate(result), JSON.stringify(validate.errors)).toBe(true);
    expect(result).toMatchObject({
      schema: "meshctl.bench.load/v1",
      label: server.url,
      requests: 40,
      errors: {},
      options: { payloadBytes: 1024, qps: 200 },
    });
  });

  test("writes fortio JSON and HTML, and compares with a baseline", async () => {
    const before = join(dir, "before.json");
    const first = await runCommand(["bench", "run", server.url, ...quick, "--json"], load);
    await writeFile(before, first.stdout);
    const fortio = join(dir, "run.fortio.json");
    const html = join(dir, "run.html");
    const { stdout, error } = await runCommand(
      [
        "bench",
        "run",
        server.url,
        ...quick,
        "--label",
        "after",
        "--baseline",
        before,
        "--fortio-json",
        fortio,
        "--html",
        html,
      ],
      load,
    );
    expect(error).toBeUndefined();
    expect(stdout).toContain("Change vs baseline");
    expect(stdout).toMatch(/corrected\s+\d/);
    expect(stdout).toContain(`fortio JSON written to ${fortio}`);
    const f = JSON.parse(await readFile(fortio, "utf8"));
    expect(f).toMatchObject({ RunType: "HTTP", Labels: "after", DurationHistogram: { Count: 40 } });
    const page = await readFile(html, "utf8");
    expect(page).toContain('id="spectrum"');
    expect(page).toContain("after");
  });

  test("a baseline that is not a result is a usage error", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(bad, '{"hello":1}');
    const { error } = await runCommand(["bench", "run", server.url, ...quick, "--baseline", bad], load);
    expect(error?.oclif?.exit).toBe(2);
  });

  test("an unsupported scheme is a usage error", async () => {
    const { stdout, error } = await runCommand(["bench", "run", "ftp://127.0.0.1/", "--json"], load);
    expect(error?.oclif?.exit).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ error: { code: "BENCH_TARGET_INVALID" } });
  });

  test("--qps and --max exclude each other", async () => {
    const { stderr, error } = await runCommand(["bench", "run", server.url, "--qps", "10", "--max"], load);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toMatch(/--max/);
  });
});

const built = existsSync(CLI_BIN) && existsSync(join(CLI_ROOT, "dist", "index.js"));
if (!built) console.log("skipped meshctl bench server binary test: the CLI is not built");

describe.skipIf(!built)("meshctl bench server (built binary)", () => {
  test("serves until SIGINT and reports what it served", async () => {
    const child = spawn(
      process.execPath,
      [CLI_BIN, "bench", "server", "--protocol", "tcp", "--port", "0", "--json"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL in time: ${stderr}`)), 20_000);
      child.stderr.on("data", (d) => {
        stderr += d;
        const m = /listening on (tcp:\/\/\S+)/.exec(stderr);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const run = await runCommand(
      ["bench", "run", url, "--max", "--requests", "100", "--warmup", "0", "--connections", "1", "--json"],
      load,
    );
    expect(JSON.parse(run.stdout)).toMatchObject({ protocol: "tcp", requests: 100, errors: {} });
    const exit = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.kill("SIGINT");
    expect(await exit).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ protocol: "tcp", url });
  }, 40_000);
});
