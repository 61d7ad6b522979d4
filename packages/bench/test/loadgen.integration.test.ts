import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runLoad } from "../src/engine/run-load.js";
import type { EchoServer, LoadResult } from "../src/engine/types.js";
import { startEchoServer } from "../src/servers/echo-server.js";

// The standalone generator and the worker threads run built JavaScript (dist/), as the lab and
// the CLI do. Build first: `npx tsup` in packages/bench.
const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const built = existsSync(`${dist}loadgen-main.js`) && existsSync(`${dist}load-worker.js`);
if (!built)
  console.warn(
    `skipping dist tests: ${dist} has no loadgen-main.js/load-worker.js (run npx tsup in packages/bench)`,
  );

let server: EchoServer;
beforeAll(async () => {
  server = await startEchoServer({ protocol: "http1", port: 0 });
});
afterAll(async () => {
  await server.close();
});

function loadgen(arg: string | undefined, stdin?: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [`${dist}loadgen-main.js`, ...(arg === undefined ? [] : [arg])],
      { timeout: 20_000 },
      (err, stdout) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

describe.skipIf(!built)("dist/loadgen-main.js", () => {
  test("reads LoadOptions from argv and prints one LoadResult", async () => {
    const opts = {
      target: server.url,
      qps: 200,
      connections: 2,
      requests: 50,
      payloadBytes: 32,
      warmupMs: 0,
    };
    const { code, stdout } = await loadgen(JSON.stringify(opts));
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as LoadResult;
    expect(result.schema).toBe("meshctl.bench.load/v1");
    expect(result.requests).toBe(50);
    expect(result.errors).toEqual({});
  });

  test("reads stdin when argv is '-'", async () => {
    const { code, stdout } = await loadgen(
      "-",
      JSON.stringify({
        target: server.url,
        max: true,
        connections: 1,
        requests: 10,
        payloadBytes: 0,
        warmupMs: 0,
      }),
    );
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as LoadResult).requests).toBe(10);
  });

  test("reports errors as JSON with exit code 1", async () => {
    const { code, stdout } = await loadgen(
      JSON.stringify({ target: "ftp://x", connections: 1, payloadBytes: 0, warmupMs: 0 }),
    );
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ error: { code: "BENCH_TARGET_INVALID" } });
  });
});

describe.skipIf(!built)("worker threads", () => {
  test("two workers split the load and merge their histograms", async () => {
    const r = await runLoad({
      target: server.url,
      qps: 400,
      connections: 4,
      requests: 200,
      payloadBytes: 16,
      warmupMs: 0,
      workers: 2,
    });
    expect(r.options.workers).toBe(2);
    expect(r.warnings.filter((w) => !/achieved/.test(w))).toEqual([]);
    expect(r.requests).toBe(200);
    expect(r.corrected.count).toBe(200);
    expect(r.errors).toEqual({});
  });
});
