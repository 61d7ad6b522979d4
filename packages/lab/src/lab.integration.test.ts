import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HTML_CHART_IDS } from "@meshctl/bench";
import { findProgram, isMeshctlError, runCommand } from "@meshctl/core";
import { isRequired } from "@meshctl/core/testing";
import { findCgroup2Root, listNetns, SIDECAR_UID, spawnInPod } from "@meshctl/pod";
import { Ajv } from "ajv";
import { beforeAll, describe, expect, test } from "vitest";
import { LAB_AGENT_SCRIPT } from "./agent-protocol.js";
import { renderLabHtmlReport } from "./html-report.js";
import { cleanupLabLeftovers, runLab } from "./index.js";
import { labPackageDir } from "./preflight.js";
import { LAB_RESULT_JSON_SCHEMA } from "./schema.js";
import { ENVOY_SHM_DIR } from "./sidecar.js";
import { LAB_SCENARIOS, type LabProgressEvent } from "./types.js";

const isRoot = process.getuid?.() === 0;
const envoy = await findProgram("envoy");
// CI sets MESHCTL_REQUIRE=envoy: there a missing Envoy fails these tests instead of skipping them.
const reason = !isRoot
  ? "the lab needs root"
  : !envoy && !isRequired("envoy")
    ? "envoy is not installed (bash scripts/install-envoy.sh)"
    : "";
if (reason) console.log(`skipped lab integration tests: ${reason}`);

const pkgDir = labPackageDir();
const agent = join(pkgDir, "dist", LAB_AGENT_SCRIPT);

/** Everything named mcl-lab-<id> / mcl-<id>- on the machine, for "nothing is left" assertions. */
async function leftoversOf(id: string): Promise<string[]> {
  const found = (await listNetns()).filter((n) => n.startsWith(`mcl-${id}-`));
  const cg = await findCgroup2Root();
  for (const dir of [cg, "/sys/fs/bpf", "/tmp"]) {
    const entries = await readdir(dir).catch(() => [] as string[]);
    found.push(...entries.filter((e) => e === `mcl-lab-${id}`).map((e) => join(dir, e)));
  }
  return found;
}

function labIdOf(events: readonly LabProgressEvent[]): string {
  const setup = events.find((e) => e.type === "phase" && e.phase === "setup");
  const id = setup && setup.type === "phase" ? /lab ([0-9a-f]{4})/.exec(setup.message)?.[1] : undefined;
  if (!id) throw new Error("no lab id in the progress events");
  return id;
}

describe.skipIf(Boolean(reason))("mesh lab (real namespaces, iptables, Envoy sidecars, load engine)", () => {
  beforeAll(async () => {
    // The pod agent is a built script (it runs in other namespaces, outside vitest).
    if (!existsSync(agent)) await runCommand("npx", ["tsup"], { cwd: pkgDir, timeoutMs: 180_000 });
  }, 200_000);

  test("a short run builds, measures and tears down every scenario", { timeout: 180_000 }, async () => {
    const events: LabProgressEvent[] = [];
    const result = await runLab({
      scenarios: LAB_SCENARIOS,
      durationSeconds: 1,
      warmupSeconds: 0.5,
      rounds: 2,
      rates: [200],
      connections: 2,
      onProgress: (e) => events.push(e),
    });
    for (const s of result.skipped) console.log(`skipped scenario ${s.scenario}: ${s.reason}`);
    const measured = LAB_SCENARIOS.filter((s) => !result.skipped.some((k) => k.scenario === s));
    expect(measured).toContain("direct");
    expect(measured).toContain("sidecar");
    // The telemetry scenarios get their filter over xDS: the sidecars only start once Envoy has
    // accepted listeners that carry the native module (or its Wasm build).
    expect(measured).toContain("sidecar-tstats");
    expect(measured).toContain("sidecar-tstats-wasm");
    // Interleaved: A B C A B C.
    expect(result.measurements.map((m) => `${m.scenario}#${m.round}`)).toEqual([
      ...measured.map((s) => `${s}#1`),
      ...measured.map((s) => `${s}#2`),
    ]);
    expect(result.environment.sidecar).toMatch(/^envoy/);
    for (const m of result.measurements) {
      expect(m.requests, m.scenario).toBeGreaterThan(100);
      expect(m.errors, m.scenario).toBe(0);
      expect(m.latencyUs.p50).toBeGreaterThan(0);
      expect(m.latencyUs.p99).toBeGreaterThanOrEqual(m.latencyUs.p50);
      // CPU of each part during the measured phase, from the pods' cgroups.
      const meshed = m.scenario.startsWith("sidecar");
      expect(Object.keys(m.cpu?.parts ?? {}).sort(), m.scenario).toEqual(
        meshed
          ? ["client-app", "client-sidecar", "server-app", "server-sidecar"]
          : ["client-app", "server-app"],
      );
      expect(m.cpu!.requests, m.scenario).toBeGreaterThan(50);
      const serverPart = m.cpu!.parts[meshed ? "server-sidecar" : "server-app"]!;
      expect(serverPart.userUs + serverPart.systemUs, m.scenario).toBeGreaterThan(0);
      // Per-hop breakdown for Envoy sidecars: every traced request joined with both access logs,
      // and the segments add up to the client's latency.
      if (!meshed) {
        expect(m.breakdown, m.scenario).toBeUndefined();
        continue;
      }
      const b = m.breakdown!;
      expect(b.unmatched, m.scenario).toBe(0);
      expect(b.joined, m.scenario).toBe(m.requests);
      const trace = (m.raw as { trace: { requests: [string, number, number, number][] } }).trace.requests;
      const meanLatency = trace.reduce((a, t) => a + t[2], 0) / trace.length;
      const sumOfMeans = Object.values(b.segments).reduce((a, x) => a + x.mean, 0);
      expect(Math.abs(sumOfMeans - meanLatency), m.scenario).toBeLessThan(1);
      expect(b.segments["client-sidecar"].p50, m.scenario).toBeGreaterThan(0);
      expect(b.segments["server-sidecar"].p50, m.scenario).toBeGreaterThan(0);
      expect(b.timeline.length, m.scenario).toBe(Math.min(2000, b.joined));
    }
    expect(result.summaries.map((s) => s.scenario)).toEqual(measured);
    const overhead = result.comparisons.find((c) => c.id === "sidecar-overhead");
    expect(overhead?.deltas.map((d) => d.metric)).toEqual(["p50", "p90", "p99", "total-cpu"]);
    for (const id of [
      "sidecar-grpc-overhead",
      "grpc-proxyless-overhead",
      "grpc-proxyless-vs-sidecar",
      "tstats-native-vs-wasm",
      "tstats-native-cost",
      "tstats-wasm-cost",
    ])
      expect(result.comparisons.map((c) => c.id)).toContain(id);
    expect(result.curves.map((c) => c.scenario)).toEqual(measured);
    if (measured.includes("sidecar-ebpf"))
      expect(result.comparisons.some((c) => c.id === "ebpf-gain")).toBe(true);
    expect(events.filter((e) => e.type === "measurement-done")).toHaveLength(result.measurements.length);
    // The --json payload is the versioned public shape.
    const validate = new Ajv({ strict: false }).compile(LAB_RESULT_JSON_SCHEMA);
    expect(validate(JSON.parse(JSON.stringify(result))), JSON.stringify(validate.errors)).toBe(true);
    // The HTML report draws every measured scenario with the engine's charts.
    const html = renderLabHtmlReport(result);
    for (const id of HTML_CHART_IDS) expect(html).toContain(`id="${id}"`);
    for (const s of measured) expect(html).toContain(s);
    expect(html).toContain("Sidecar overhead over direct");
    expect(events.at(-1)).toMatchObject({ type: "phase", phase: "teardown" });
    expect(await leftoversOf(labIdOf(events))).toEqual([]);
  });

  test("aborting mid-run tears everything down and says so", { timeout: 60_000 }, async () => {
    const controller = new AbortController();
    const events: LabProgressEvent[] = [];
    const run = runLab({
      scenarios: ["direct", "sidecar"],
      durationSeconds: 5,
      rounds: 1,
      rates: [100],
      signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        if (e.type === "measurement-tick" && e.elapsedSeconds > 0.5) controller.abort();
      },
    });
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMeshctlError(error) && error.code).toBe("LAB_ABORTED");
    expect(await leftoversOf(labIdOf(events))).toEqual([]);
  });

  test("cleanupLabLeftovers removes what a crashed run left and spares live labs", {
    timeout: 30_000,
  }, async () => {
    const id = randomBytes(2).toString("hex");
    const netns = `mcl-${id}-direct-client`;
    const cgroup = join(await findCgroup2Root(), `mcl-lab-${id}`, "direct", "client");
    await runCommand("ip", ["netns", "add", netns]);
    await mkdir(cgroup, { recursive: true });
    await mkdir(`/tmp/mcl-lab-${id}`, { recursive: true });
    // A process of the crashed run still sitting in its pod.
    const orphan = spawnInPod({ netns, cgroup }, ["sleep", "60"]);
    // Wait until the orphan really sits in its pod (netns entered), else cleanup could race it.
    for (let i = 0; i < 100; i++) {
      const pids = await runCommand("ip", ["netns", "pids", netns], { reject: false });
      if (pids.stdout.trim() !== "") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Owner pid 2^22+1 cannot exist (pid_max is at most 2^22): the owner is dead.
    await writeFile(`/tmp/mcl-lab-${id}/owner.pid`, "4194305\n");

    const live = randomBytes(2).toString("hex");
    await mkdir(`/tmp/mcl-lab-${live}`, { recursive: true });
    await writeFile(`/tmp/mcl-lab-${live}/owner.pid`, `${process.pid}\n`);
    try {
      const report = await cleanupLabLeftovers();
      expect(report.removed).toEqual(
        expect.arrayContaining([`netns ${netns}`, `workdir /tmp/mcl-lab-${id}`]),
      );
      expect(report.active).toContain(live);
      expect(await leftoversOf(id)).toEqual([]);
      expect((await orphan.exited).signal).toBe("SIGKILL");
      expect(existsSync(`/tmp/mcl-lab-${live}`)).toBe(true);
    } finally {
      await rm(`/tmp/mcl-lab-${live}`, { recursive: true, force: true });
    }
  });

  test("without root the lab refuses with LAB_REQUIRES_ROOT and says what it needs", {
    timeout: 30_000,
  }, async () => {
    const script = `import(${JSON.stringify(join(pkgDir, "dist", "index.js"))}).then((m) => m.runLab()).then(() => console.log("RAN"), (e) => console.log(JSON.stringify({ code: e.code, message: e.message, suggestions: e.suggestions })))`;
    const r = await runCommand("setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      process.execPath,
      "-e",
      script,
    ]);
    const out = JSON.parse(r.stdout) as { code: string; message: string; suggestions: string[] };
    expect(out.code).toBe("LAB_REQUIRES_ROOT");
    expect(out.message).toMatch(/network namespaces/);
    expect(out.suggestions.join(" ")).toMatch(/sudo/);
  });
});

// In this file, not a file of its own: vitest runs files in parallel, and two cleanups at once
// would each remove (and report) the other's planted leftovers.
describe.skipIf(!isRoot)("cleanupLabLeftovers and Envoy shared memory (real /dev/shm)", () => {
  /** A lab id with no work directory, so no lab of this machine uses it. */
  function unusedLabId(taken: readonly string[]): string {
    for (;;) {
      const id = randomBytes(2).toString("hex");
      if (!taken.includes(id) && !existsSync(`/tmp/mcl-lab-${id}`)) return id;
    }
  }
  /** The file an Envoy of lab `id`, pod `pod`, made before hot restart was disabled (base id × 10). */
  const shmOf = (id: string, pod: number) =>
    join(ENVOY_SHM_DIR, `envoy_shared_memory_${(Number.parseInt(id, 16) * 16 + pod + 1) * 10}`);

  test("removes lab Envoys' leftovers, spares live labs, other owners and other base ids", async () => {
    const dead = unusedLabId([]);
    const live = unusedLabId([dead]);
    const foreign = unusedLabId([dead, live]);
    const planted: string[] = [];
    const plant = async (file: string, uid: number) => {
      await writeFile(file, "", { flag: "wx", mode: 0o600 }); // wx: never take over a real file
      planted.push(file);
      await chown(file, uid, uid);
    };
    try {
      await plant(shmOf(dead, 0), SIDECAR_UID);
      await plant(shmOf(dead, 1), SIDECAR_UID);
      await plant(shmOf(live, 0), SIDECAR_UID);
      // Same name scheme, but root's: another Envoy on the host (the xds tests run Envoy as root).
      await plant(shmOf(foreign, 0), 0);
      // The sidecar uid's, but past the lab's base-id range.
      const outside = join(
        ENVOY_SHM_DIR,
        `envoy_shared_memory_${(0x10000 * 16 + 1 + Number.parseInt(dead, 16)) * 10}`,
      );
      await plant(outside, SIDECAR_UID);
      await mkdir(`/tmp/mcl-lab-${live}`, { recursive: true });
      await writeFile(`/tmp/mcl-lab-${live}/owner.pid`, `${process.pid}\n`);

      const report = await cleanupLabLeftovers();

      expect(report.removed).toEqual(
        expect.arrayContaining([
          `envoy shared memory ${shmOf(dead, 0)}`,
          `envoy shared memory ${shmOf(dead, 1)}`,
        ]),
      );
      expect(existsSync(shmOf(dead, 0))).toBe(false);
      expect(existsSync(shmOf(dead, 1))).toBe(false);
      expect(report.active).toContain(live);
      for (const kept of [shmOf(live, 0), shmOf(foreign, 0), outside]) {
        expect(existsSync(kept), kept).toBe(true);
        expect(report.removed.join("\n")).not.toContain(kept);
      }
      expect(report.problems.filter((p) => planted.some((f) => p.includes(f)))).toEqual([]);
    } finally {
      for (const file of planted) await rm(file, { force: true });
      await rm(`/tmp/mcl-lab-${live}`, { recursive: true, force: true });
    }
  });
});
