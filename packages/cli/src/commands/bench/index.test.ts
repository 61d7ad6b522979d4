import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBytes, parseDurationMs } from "@meshctl/bench";
import { findProgram, isMeshctlError, runCommand } from "@meshctl/core";
import { LAB_SCENARIOS } from "@meshctl/lab";
import { Parser } from "@oclif/core";
import { afterEach, describe, expect, test, vi } from "vitest";
import { type BinResult, CLI_BIN, runMeshctl } from "../../../test/helpers.js";
import Bench, { labOptionsFromFlags } from "./index.js";
import BenchRun from "./run.js";

const isRoot = process.getuid?.() === 0;
const envoy = await findProgram("envoy");
const built = existsSync(fileURLToPath(new URL("../../../dist/index.js", import.meta.url)));
const labReason = !built
  ? "the CLI is not built"
  : !isRoot
    ? "the lab needs root"
    : !envoy
      ? "envoy (the default sidecar) is not installed"
      : "";
if (labReason) console.log(`skipped meshctl bench lab run: ${labReason}`);

async function mclNamespaces(): Promise<string[]> {
  const entries = await readdir("/run/netns").catch(() => [] as string[]);
  return entries.filter((e) => e.startsWith("mcl-"));
}

/** A lab id no namespace or work directory of this machine uses. */
async function unusedLabId(): Promise<string> {
  const namespaces = await mclNamespaces();
  for (;;) {
    const id = randomBytes(2).toString("hex");
    if (!namespaces.some((n) => n.startsWith(`mcl-${id}-`)) && !existsSync(`/tmp/mcl-lab-${id}`)) return id;
  }
}

/** Runs the built binary as `nobody` (uid/gid 65534, no groups), as an unprivileged user would. */
function runMeshctlAsNobody(args: readonly string[]): Promise<BinResult> {
  return new Promise((resolve) => {
    execFile(
      "setpriv",
      ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, CLI_BIN, ...args],
      // root's HOME is unreadable for nobody: oclif would warn about its data dir.
      { env: { ...process.env, HOME: "/nonexistent" }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `meshctl bench` flags as oclif parses them (argv and MESHCTL_* env twins), mapped to lab options. */
async function labOptionsOf(argv: string[]) {
  const { flags } = await Parser.parse(argv, { flags: Bench.flags, strict: true });
  return labOptionsFromFlags(flags);
}

/** What `meshctl bench run` makes of the same flags: its duration (ms) and payload (bytes). */
async function runOptionsOf(argv: string[]) {
  const { flags } = await Parser.parse(["http://127.0.0.1:1/", ...argv], {
    flags: BenchRun.flags,
    args: BenchRun.args,
    strict: true,
  });
  return {
    durationMs: flags.duration === undefined ? undefined : parseDurationMs(flags.duration),
    payloadBytes: parseBytes(flags.payload),
  };
}

describe("meshctl bench flags", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  test.each([
    ["10", "1024"],
    ["10s", "1KiB"],
    ["500ms", "64k"],
    ["1.5m", "0"],
  ])("--duration %s --payload %s mean the same as in `bench run`", async (duration, payload) => {
    const argv = ["--duration", duration, "--payload", payload];
    const lab = await labOptionsOf(argv);
    const run = await runOptionsOf(argv);
    expect((lab.durationSeconds ?? 0) * 1000).toBe(run.durationMs);
    expect(lab.payloadBytes).toBe(run.payloadBytes);
  });

  test("the env twins have the same names and meaning in both commands", async () => {
    for (const name of ["duration", "payload", "qps", "connections"] as const) {
      expect(Bench.flags[name].env, name).toBeDefined();
      expect(Bench.flags[name].env, name).toBe(BenchRun.flags[name].env);
    }
    vi.stubEnv("MESHCTL_DURATION", "750ms");
    vi.stubEnv("MESHCTL_PAYLOAD", "2KiB");
    const lab = await labOptionsOf([]);
    const run = await runOptionsOf([]);
    expect(lab).toMatchObject({ durationSeconds: 0.75, payloadBytes: 2048 });
    expect(run).toEqual({ durationMs: 750, payloadBytes: 2048 });
  });

  test("--warmup takes a duration too, and a bad one is a usage error naming the flag", async () => {
    expect((await labOptionsOf(["--warmup", "250ms"])).warmupSeconds).toBe(0.25);
    const error = await labOptionsOf(["--duration", "10 sec"]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMeshctlError(error) && { code: error.code, kind: error.kind }).toEqual({
      code: "BENCH_OPTIONS_INVALID",
      kind: "usage",
    });
    expect((error as Error).message).toContain("--duration");
  });

  test("--qps takes one rate or a sweep with max (closed loop); MESHCTL_QPS too", async () => {
    expect((await labOptionsOf([])).rates).toEqual([1000]);
    expect((await labOptionsOf(["--qps", "5000,500,2000,max"])).rates).toEqual([500, 2000, 5000, "max"]);
    vi.stubEnv("MESHCTL_QPS", "750");
    expect((await labOptionsOf([])).rates).toEqual([750]);
    const error = await labOptionsOf(["--qps", "500,fast"]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMeshctlError(error) && error.code).toBe("LAB_OPTION_INVALID");
  });

  test("the lab has bench run's bounds, checked before anything is built", async () => {
    const fails = (argv: string[]) =>
      labOptionsOf(argv).then(
        () => undefined,
        (e: unknown) => (isMeshctlError(e) ? `${e.code}: ${e.message}` : String(e)),
      );
    expect(await fails(["--connections", "10000"])).toBeUndefined();
    expect(await fails(["--connections", "10001"])).toMatch(
      /^BENCH_OPTIONS_INVALID: --connections 10,001 is out/,
    );
    expect(await fails(["--qps", "500,2000000"])).toMatch(/--qps 2,000,000 is out of range/);
    expect(await fails(["--duration", "8d"])).toMatch(/--duration/); // not a duration unit
    expect(await fails(["--duration", "169h"])).toMatch(/--duration .* at most 604,800,000 ms/);
    expect(await fails(["--warmup", "2h"])).toMatch(/--warmup/);
    expect(await fails(["--payload", "32MiB"])).toMatch(/--payload 33,554,432 is out of range/);
    expect(await fails(["--rounds", "1000"])).toBeUndefined();
    expect(await fails(["--rounds", "1001"])).toMatch(/1000/);
  });

  test("defaults: every scenario (listed in the help), Envoy sidecars in L7 mode", async () => {
    for (const scenario of LAB_SCENARIOS) expect(Bench.flags.scenarios.description).toContain(scenario);
    expect(Bench.description).toContain("direct-grpc");
    expect(Bench.description).toContain("sidecar-grpc");
    expect(await labOptionsOf([])).toMatchObject({
      scenarios: [...LAB_SCENARIOS],
      sidecar: "envoy",
      sidecarMode: "http",
      payloadBytes: 1024,
      durationSeconds: 3,
      warmupSeconds: 1,
    });
  });
});

describe.skipIf(!built)("meshctl bench (the lab) through the built binary", () => {
  test("an unknown scenario is a usage error naming the valid ones", async () => {
    const { code, stdout } = await runMeshctl(["bench", "--scenarios", "direct,warp", "--json"]);
    expect(code).toBe(2);
    const { error } = JSON.parse(stdout) as { error: { code: string; suggestions: string[] } };
    expect(error.code).toBe("LAB_OPTION_INVALID");
    expect(error.suggestions.join(" ")).toContain("sidecar-ebpf");
  });

  test("--sidecar accepts only envoy and haproxy", async () => {
    const { code, stdout, stderr } = await runMeshctl(["bench", "--sidecar", "nginx", "--json"]);
    expect(code).toBe(2);
    expect(`${stdout}${stderr}`).toMatch(/envoy, haproxy/);
  });

  test.skipIf(!isRoot)(
    "without an envoy binary the default (Envoy) sidecar names the missing program and how to install it",
    { timeout: 30_000 },
    async () => {
      // A PATH holding every program the lab drives except envoy.
      const bin = await mkdtemp(join(tmpdir(), "mcl-test-path-"));
      try {
        for (const p of ["ip", "iptables-restore", "nsenter", "setpriv", "ss"]) {
          const found = await findProgram(p);
          if (found) await symlink(found, join(bin, p));
        }
        const { code, stdout } = await runMeshctl(["bench", "--scenarios", "sidecar", "--json"], {
          PATH: bin,
        });
        expect(code).not.toBe(0);
        const { error } = JSON.parse(stdout) as {
          error: { code: string; details: { missing: string[] }; suggestions: string[] };
        };
        expect(error.code).toBe("LAB_MISSING_PROGRAM");
        expect(error.details.missing).toEqual(["envoy"]);
        expect(error.suggestions.join(" ")).toMatch(/install-envoy\.sh/);
      } finally {
        await rm(bin, { recursive: true, force: true });
      }
    },
  );

  test.skipIf(Boolean(labReason))("--cleanup --json reports what it removed", async () => {
    // A lab Envoy's hot-restart file (uid 1337, base id lab × 16 + pod + 1, name base id × 10)
    // and the same name scheme owned by root, as another Envoy on the host would leave it.
    const shmOf = (id: string) => `/dev/shm/envoy_shared_memory_${(Number.parseInt(id, 16) * 16 + 1) * 10}`;
    const leftover = shmOf(await unusedLabId());
    let foreign = shmOf(await unusedLabId());
    while (foreign === leftover) foreign = shmOf(await unusedLabId());
    const planted: string[] = [];
    try {
      for (const [file, uid] of [
        [leftover, 1337],
        [foreign, 0],
      ] as const) {
        await writeFile(file, "", { flag: "wx", mode: 0o600 });
        planted.push(file);
        await chown(file, uid, uid);
      }
      const { code, stdout } = await runMeshctl(["bench", "--cleanup", "--json"]);
      const report = JSON.parse(stdout) as { kind: string; removed: string[]; problems: string[] };
      expect(code, stdout).toBe(report.problems.length > 0 ? 3 : 0);
      expect(report).toMatchObject({
        kind: "cleanup",
        removed: expect.any(Array),
        active: expect.any(Array),
      });
      expect(report.removed).toContain(`envoy shared memory ${leftover}`);
      expect(existsSync(leftover)).toBe(false);
      expect(existsSync(foreign)).toBe(true);
      expect(report.removed.join("\n")).not.toContain(foreign);
    } finally {
      for (const file of planted) await rm(file, { force: true });
    }
  });

  test.skipIf(!isRoot)(
    "--cleanup as a non-root user says it needs root, exits 3 and removes nothing",
    { timeout: 60_000 },
    async () => {
      // A real leftover of a crashed lab, named as the lab names its pods.
      const netns = `mcl-${await unusedLabId()}-direct-client`;
      await runCommand("ip", ["netns", "add", netns]);
      try {
        const json = await runMeshctlAsNobody(["bench", "--cleanup", "--json"]);
        expect(json.code, json.stderr).toBe(3);
        const { error, removed } = JSON.parse(json.stdout) as {
          error: { code: string; kind: string; message: string; suggestions: string[] };
          removed?: unknown;
        };
        expect(removed).toBeUndefined();
        expect(error).toMatchObject({ code: "LAB_REQUIRES_ROOT", kind: "environment" });
        expect(error.message).toMatch(/needs root.*Nothing was removed/s);
        expect(error.suggestions.join(" ")).toContain("sudo meshctl bench --cleanup");

        const text = await runMeshctlAsNobody(["bench", "--cleanup"]);
        expect(text.code).toBe(3);
        expect(text.stderr).toMatch(/LAB_REQUIRES_ROOT/);
        expect(text.stdout).not.toMatch(/removed/);

        expect(await mclNamespaces()).toContain(netns);
      } finally {
        await runCommand("ip", ["netns", "delete", netns], { reject: false });
      }
    },
  );

  test.skipIf(Boolean(labReason))(
    "a short lab run prints the versioned JSON result and leaves nothing behind",
    { timeout: 90_000 },
    async () => {
      const before = await mclNamespaces();
      const args = [
        "bench",
        "--scenarios",
        "direct,sidecar",
        "--duration",
        "1",
        "--warmup",
        "0.5",
        "--rounds",
        "1",
        "--qps",
        "200",
        "--json",
      ];
      const { code, stdout, stderr } = await runMeshctl(args, {}, 80_000);
      expect(code, stderr).toBe(0);
      const result = JSON.parse(stdout) as {
        kind: string;
        schema: string;
        summaries: { scenario: string }[];
        comparisons: { id: string }[];
      };
      expect(result.kind).toBe("lab");
      expect(result.schema).toBe("meshctl.bench.lab/v2");
      expect(result.summaries.map((s) => s.scenario)).toEqual(["direct", "sidecar"]);
      expect(result.comparisons.map((c) => c.id)).toContain("sidecar-overhead");
      expect(await mclNamespaces()).toEqual(before);
    },
  );
});
