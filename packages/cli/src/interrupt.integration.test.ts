/**
 * The built `meshctl` as a user runs it: long-running commands stop within a few seconds of
 * SIGINT/SIGTERM with the documented exit code and no stack trace, and the load generator's bad
 * inputs (issue 17) are usage errors, also as `--json`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EchoServer, startEchoServer } from "@meshctl/bench";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI_BIN, CLI_ROOT, runMeshctl } from "../test/helpers.js";

const built = existsSync(CLI_BIN) && existsSync(join(CLI_ROOT, "dist", "index.js"));
if (!built) console.log("skipped the interrupt tests: the CLI is not built");

/** A generous bound for "within a second or two" on a loaded 2-CPU CI machine. */
const STOP_WITHIN_MS = 3000;

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly output: () => { stdout: string; stderr: string };
  /** Resolves when stdout or stderr matches `re` (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Sends `signal`; resolves with the exit code and how long the exit took. */
  stop(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

function startMeshctl(args: readonly string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "";
  let stderr = "";
  const waiters: (() => void)[] = [];
  const poke = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.on("data", (d) => {
    stdout += d;
    poke();
  });
  child.stderr.on("data", (d) => {
    stderr += d;
    poke();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => ({ stdout, stderr }),
    waitFor: (re, ms = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${re} within ${ms} ms:\n${stdout}\n${stderr}`)),
          ms,
        );
        const check = (): void => {
          if (re.test(stdout) || re.test(stderr)) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
    async stop(signal) {
      const sent = performance.now();
      child.kill(signal);
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const r = await exited;
      clearTimeout(killer);
      return { ...r, ms: performance.now() - sent };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NO_STACK = /^\s+at .+\(.+:\d+:\d+\)$|Internal error/m;

/** Pids whose parent is `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Running (a zombie waiting for a reaper counts as gone). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
};

/** Polls `ok` every 50 ms until it holds (rejects after `ms`). */
async function until(ok: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(50);
  }
}

let http1: EchoServer;
let dir: string;
/** An HTTP/1.1 target that counts requests, so a test signals once the load is flowing. */
let counting: http.Server;
let countingUrl = "";
let hits = 0;
beforeAll(async () => {
  http1 = await startEchoServer({ protocol: "http1", port: 0 });
  dir = await mkdtemp(join(tmpdir(), "mc-interrupt-"));
  counting = http.createServer((req, res) => {
    hits++;
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  await new Promise<void>((resolve) => counting.listen(0, "127.0.0.1", resolve));
  countingUrl = `http://127.0.0.1:${(counting.address() as net.AddressInfo).port}/`;
});
afterAll(async () => {
  counting?.closeAllConnections();
  counting?.close();
  await http1?.close();
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!built)("SIGINT/SIGTERM stop long-running commands promptly", () => {
  test("bench run: SIGTERM prints the partial result as JSON and exits 143", async () => {
    const before = hits;
    const run = startMeshctl([
      "bench",
      "run",
      countingUrl,
      "-d",
      "60s",
      "--warmup",
      "0",
      "--qps",
      "200",
      "--json",
    ]);
    await until(() => hits > before + 50, "load reaching the target");
    const { code, ms } = await run.stop("SIGTERM");
    const { stdout, stderr } = run.output();
    expect(code, stderr).toBe(143);
    expect(ms).toBeLessThan(STOP_WITHIN_MS);
    const result = JSON.parse(stdout) as { requests: number; warnings: string[] };
    expect(result.requests).toBeGreaterThan(0);
    expect(result.warnings.join("\n")).toMatch(/interrupted/);
    expect(stderr).toMatch(/^interrupted: stopped early/m);
    expect(stderr).not.toMatch(NO_STACK);
  }, 30_000);

  test("bench run with worker threads: SIGINT prints the partial text report and exits 130", async () => {
    const before = hits;
    const run = startMeshctl(["bench", "run", countingUrl, "-d", "60s", "--warmup", "0", "--workers", "2"]);
    await until(() => hits > before + 200, "load reaching the target");
    const { code, ms } = await run.stop("SIGINT");
    const { stdout, stderr } = run.output();
    expect(code, stderr).toBe(130);
    expect(ms).toBeLessThan(STOP_WITHIN_MS);
    expect(stdout).toMatch(/requests in/);
    expect(stderr).not.toMatch(NO_STACK);
  }, 30_000);

  test("bench run while still connecting (the target never answers h2c): exits at once", async () => {
    let connections = 0;
    const silent = net.createServer(() => {
      connections++;
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const run = startMeshctl(["bench", "run", `h2c://127.0.0.1:${port}/`, "-d", "60s", "--json"]);
      await until(() => connections >= 4, "the load generator connecting");
      const { code, ms } = await run.stop("SIGTERM");
      expect(code, run.output().stderr).toBe(143);
      expect(ms).toBeLessThan(STOP_WITHIN_MS);
      expect(JSON.parse(run.output().stdout)).toMatchObject({ requests: 0 });
    } finally {
      silent.close();
    }
  }, 30_000);

  test("bench server: SIGTERM with a client connected stops it (exit 0)", async () => {
    const run = startMeshctl(["bench", "server", "--protocol", "http1", "--port", "0", "--json"]);
    await run.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/);
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(run.output().stderr)?.[1]);
    const client = net.connect(port, "127.0.0.1");
    client.on("error", () => {});
    await new Promise((resolve) => client.once("connect", resolve));
    const { code, ms } = await run.stop("SIGTERM");
    client.destroy();
    expect(code, run.output().stderr).toBe(0);
    expect(ms).toBeLessThan(STOP_WITHIN_MS);
    expect(JSON.parse(run.output().stdout)).toMatchObject({ protocol: "http1", port });
  }, 30_000);

  test("tstats serve with demo traffic: SIGTERM stops it (exit 0)", async () => {
    const run = startMeshctl(["tstats", "serve", "--port", "0", "--demo-traffic", "20"]);
    await run.waitFor(/tstats exporter at http/);
    const { code, ms } = await run.stop("SIGTERM");
    expect(code, run.output().stderr).toBe(0);
    expect(ms).toBeLessThan(STOP_WITHIN_MS);
    expect(run.output().stdout).toMatch(/Stopped the exporter/);
    expect(run.output().stderr).not.toMatch(NO_STACK);
  }, 30_000);

  test("xds load: SIGTERM exits 143 with the JSON error and stops the control plane it started", async () => {
    const run = startMeshctl(
      [
        "xds",
        "load",
        "--proxies",
        "20",
        "--services",
        "20",
        "--namespaces",
        "2",
        "--churn-seconds",
        "60",
        "--json",
      ],
      { TMPDIR: dir },
    ); // runXdsLoad cannot be cancelled and leaves its temp mesh: keep it in ours
    // The harness spawns the control plane: wait for it.
    const deadline = Date.now() + 20_000;
    let children: number[] = [];
    while (Date.now() < deadline && children.length === 0) {
      await sleep(200);
      children = childPids(run.child.pid as number);
    }
    expect(children.length).toBeGreaterThan(0);
    const { code, ms } = await run.stop("SIGTERM");
    expect(code, run.output().stderr).toBe(143);
    expect(ms).toBeLessThan(STOP_WITHIN_MS);
    expect(JSON.parse(run.output().stdout)).toMatchObject({
      error: { code: "INTERRUPTED", kind: "usage", details: { signal: "SIGTERM" } },
    });
    // The process runner's exit hook kills the control plane as the CLI exits.
    await until(() => !children.some(alive), "the control plane stopping", STOP_WITHIN_MS);
  }, 40_000);
});

describe.skipIf(!built)("bench run: bad input is a usage error before any load", () => {
  test("--protocol grpc against an HTTP/1.1 server: the --json error object, no stack", async () => {
    const r = await runMeshctl(["bench", "run", http1.url, "--protocol", "grpc", "-d", "2s", "--json"]);
    expect(r.code, r.stderr).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      error: {
        code: "BENCH_PROTOCOL_MISMATCH",
        kind: "usage",
        message: expect.stringMatching(/did not speak HTTP\/2 \(h2c/),
      },
    });
    expect(r.stderr).not.toMatch(/ERR_HTTP2_INVALID_SESSION/);
    expect(r.stderr).not.toMatch(NO_STACK);
  });

  test("an unwritable --html is refused before a 60 s run starts", async () => {
    const html = join(dir, "missing-dir", "report.html");
    const started = Date.now();
    const r = await runMeshctl(["bench", "run", http1.url, "-d", "60s", "--html", html, "--json"]);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      error: { code: "BENCH_OUTPUT_UNWRITABLE", kind: "usage", details: { flag: "html", path: html } },
    });
  });

  test.each([
    [["-c", "100000000"], /--connections 100,000,000 is out of range: allowed 1 to 10,000/],
    [["--workers", "100000"], /--workers 100,000 is out of range/],
    [["-d", "99999999999h"], /--duration .* is out of range/],
    [["-H", "x: a\r\nInjected: 1"], /--header "x" has a value with a control character/],
    [["-H", "bad name: v"], /is not "Name: value"/],
  ])("%j: exit 2 with one clear line", async (args, message) => {
    const r = await runMeshctl(["bench", "run", http1.url, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error \[BENCH_OPTIONS_INVALID\]: /);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/TimeoutOverflowWarning/);
    expect(r.stderr).not.toMatch(NO_STACK);
  });
});
