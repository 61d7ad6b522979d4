/**
 * Sidecar-hop benchmark: request/response between an "app" and a "sidecar" on 127.0.0.1 in one
 * pod netns, with and without meshctl's acceleration, measured side by side and interleaved
 * (round r runs base/accel for every size, alternating which goes first). Plus bulk throughput.
 *
 *   flock /tmp/meshctl-bench.lock npx tsx --conditions=@meshctl/source packages/ebpf/scripts/bench.ts [--rounds 5] [--seconds 2] [--json out.json]
 *
 * Two cgroups share the netns: `accel` (programs attached) and `base` (nothing attached), each with
 * its own server, so no enable/disable churn sits between the measurements.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { findProgram } from "@meshctl/core";
import {
  DEFAULT_MAX_STREAM_BYTES,
  disableEbpfAcceleration,
  enableEbpfAcceleration,
  getEbpfStatus,
} from "../src/index.js";
import { Lab, labPrerequisites, type Proc } from "../test/lab.js";

const say = (text: string) => process.stdout.write(`${text}\n`);
const sayErr = (text: string) => process.stderr.write(`${text}\n`);

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "2" },
    "bulk-seconds": { type: "string", default: "3" },
    sizes: { type: "string", default: "1024,16384,65536" },
    "bulk-chunks": { type: "string", default: "16384,65536,1048576" },
    "policy-max-stream-bytes": { type: "string", default: String(DEFAULT_MAX_STREAM_BYTES) },
    json: { type: "string" },
    "pin-cpus": { type: "boolean", default: false },
    only: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const bulkSeconds = Number(values["bulk-seconds"]);
const sizes = values.only === "bulk" ? [] : values.sizes.split(",").map(Number);
const bulkChunks = values.only === "rr" ? [] : values["bulk-chunks"].split(",").map(Number);
const policyMax = Number(values["policy-max-stream-bytes"]);

type Mode = "base" | "accel" | "policy" | "excluded";
interface RrResult {
  size: number;
  requests: number;
  p50Us: number;
  p99Us: number;
  reqPerSec: number;
}
interface BulkResult {
  chunk: number;
  bytes: number;
  gbitPerSec: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
};
const pct = (a: number, b: number) => `${(((b - a) / a) * 100).toFixed(1)}%`;

async function main(): Promise<void> {
  const missing = await labPrerequisites();
  const cc = (await findProgram("cc")) ?? (await findProgram("clang"));
  if (missing || !cc) {
    sayErr(`bench:ebpf cannot run: ${missing ?? "no C compiler (cc/clang)"}`);
    process.exit(2);
  }
  const lab = new Lab(`bn${process.pid % 100}`);
  const pinDir = `/sys/fs/bpf/mce-bench-${process.pid}`;
  const cleanupPins: string[] = [];
  try {
    const dir = await lab.tempDir("bench");
    const binary = join(dir, "rr-bench");
    await promisify(execFile)(cc, [
      "-O2",
      "-o",
      binary,
      join(dirname(fileURLToPath(import.meta.url)), "rr-bench.c"),
    ]);
    const pod = await lab.pod("b");
    // Three sibling cgroups, one server each: nothing attached (base), acceleration without the
    // bulk policy (accel), acceleration with the default policy (policy). Every round runs all
    // three back to back in a rotating order, so they share the machine's conditions.
    const modes: Mode[] = ["base", "accel", "policy", "excluded"];
    const cgroups: Record<Mode, string> = {
      base: await lab.cgroup("base"),
      accel: await lab.cgroup("accel"),
      policy: await lab.cgroup("policy"),
      excluded: await lab.cgroup("excluded"),
    };
    const ports: Record<Mode, number> = { base: 7001, accel: 7002, policy: 7003, excluded: 7004 };
    const pinDirs = { accel: `${pinDir}-accel`, policy: `${pinDir}-policy`, excluded: `${pinDir}-excluded` };
    cleanupPins.push(pinDirs.accel, pinDirs.policy, pinDirs.excluded);
    const pin = values["pin-cpus"] ? (cpu: number) => ["taskset", "-c", String(cpu)] : () => [];
    for (const mode of modes) {
      const [cmd, ...pre] = [...pin(1), binary];
      const server = lab.spawnIn(pod.netns, cgroups[mode], cmd!, [...pre, "server", String(ports[mode])]);
      await server.next();
    }
    await enableEbpfAcceleration({
      cgroupPath: cgroups.accel,
      pinDir: pinDirs.accel,
      maxMessageBytes: 0,
      maxStreamBytes: 0,
    });
    await enableEbpfAcceleration({
      cgroupPath: cgroups.policy,
      pinDir: pinDirs.policy,
      maxStreamBytes: policyMax,
    });
    // The opt-out for bulk services: the server's port is excluded, its sockets never enter the sockhash.
    await enableEbpfAcceleration({
      cgroupPath: cgroups.excluded,
      pinDir: pinDirs.excluded,
      excludePorts: [ports.excluded],
    });

    const run = async (mode: Mode, args: string[]): Promise<Record<string, number>> => {
      const [cmd, ...pre] = [...pin(0), binary];
      const proc: Proc = lab.spawnIn(pod.netns, cgroups[mode], cmd!, [
        ...pre,
        args[0]!,
        "127.0.0.1",
        String(ports[mode]),
        ...args.slice(1),
      ]);
      const result = (await proc.next(120_000)) as Record<string, number>;
      await proc.wait(10_000);
      return result;
    };

    const rr: Record<string, Record<Mode, RrResult[]>> = {};
    const bulk: Record<string, Record<Mode, BulkResult[]>> = {};
    const order = (r: number): Mode[] => [
      ...modes.slice(r % modes.length),
      ...modes.slice(0, r % modes.length),
    ];
    say(
      `bench:ebpf  ${rounds} interleaved rounds, ${seconds}s per request/response run, ${bulkSeconds}s per bulk run${values["pin-cpus"] ? ", client on CPU 0, server on CPU 1" : ""}`,
    );
    for (let r = 0; r < rounds; r++) {
      for (const size of sizes) {
        rr[size] ??= { base: [], accel: [], policy: [], excluded: [] };
        for (const mode of order(r))
          rr[size]![mode].push(
            (await run(mode, ["rr", String(size), String(seconds)])) as unknown as RrResult,
          );
      }
      for (const chunk of bulkChunks) {
        bulk[chunk] ??= { base: [], accel: [], policy: [], excluded: [] };
        for (const mode of order(r))
          bulk[chunk]![mode].push(
            (await run(mode, ["bulk", String(chunk), String(bulkSeconds)])) as unknown as BulkResult,
          );
      }
      process.stdout.write(`  round ${r + 1}/${rounds} done\n`);
      // Raw runs so far, so an interrupted run still leaves its data behind.
      if (values.json) await writeFile(`${values.json}.partial`, `${JSON.stringify({ rr, bulk })}\n`);
    }
    const accelCounters = (await getEbpfStatus({ pinDir: pinDirs.accel })).counters;
    const policyCounters = (await getEbpfStatus({ pinDir: pinDirs.policy })).counters;

    const summary = {
      kernel: (await import("node:os")).release(),
      rounds,
      secondsPerRun: seconds,
      bulkSecondsPerRun: bulkSeconds,
      policyMaxStreamBytes: policyMax,
      requestResponse: sizes.map((size) => {
        const m = (mode: Mode, key: keyof RrResult) => median(rr[size]![mode].map((x) => x[key]));
        // Median over rounds of (mode p50 / base p50 of the same round - 1).
        const p50Paired = (mode: Mode) =>
          median(rr[size]![mode].map((x, i) => x.p50Us / rr[size]!.base[i]!.p50Us - 1));
        return {
          size,
          p50VsBasePaired: {
            accel: p50Paired("accel"),
            policy: p50Paired("policy"),
            excluded: p50Paired("excluded"),
          },
          base: { p50Us: m("base", "p50Us"), p99Us: m("base", "p99Us"), reqPerSec: m("base", "reqPerSec") },
          accel: {
            p50Us: m("accel", "p50Us"),
            p99Us: m("accel", "p99Us"),
            reqPerSec: m("accel", "reqPerSec"),
          },
          policy: {
            p50Us: m("policy", "p50Us"),
            p99Us: m("policy", "p99Us"),
            reqPerSec: m("policy", "reqPerSec"),
          },
          excluded: {
            p50Us: m("excluded", "p50Us"),
            p99Us: m("excluded", "p99Us"),
            reqPerSec: m("excluded", "reqPerSec"),
          },
        };
      }),
      bulk: bulkChunks.map((chunk) => {
        const runs = bulk[chunk]!;
        // Per-round ratios against the base run of the same round: robust to load that drifts.
        const ratios = (mode: Mode) => runs[mode].map((x, i) => x.gbitPerSec / runs.base[i]!.gbitPerSec - 1);
        const paired = (mode: Mode) => median(ratios(mode));
        const spread = (mode: Mode) => [quantile(ratios(mode), 0.25), quantile(ratios(mode), 0.75)];
        return {
          chunk,
          baseGbit: median(runs.base.map((x) => x.gbitPerSec)),
          accelGbit: median(runs.accel.map((x) => x.gbitPerSec)),
          policyGbit: median(runs.policy.map((x) => x.gbitPerSec)),
          accelVsBasePaired: paired("accel"),
          policyVsBasePaired: paired("policy"),
          accelVsBaseQuartiles: spread("accel"),
          policyVsBaseQuartiles: spread("policy"),
          excludedGbit: median(runs.excluded.map((x) => x.gbitPerSec)),
          excludedVsBasePaired: paired("excluded"),
          excludedVsBaseQuartiles: spread("excluded"),
          runs,
        };
      }),
      countersAfterAccelRuns: accelCounters,
      countersAfterPolicyRuns: policyCounters,
    };

    say("\nrequest/response (medians over rounds)     p50 µs            p99 µs            req/s");
    for (const row of summary.requestResponse) {
      say(
        `  ${String(row.size).padStart(6)} B  base ${row.base.p50Us.toFixed(1).padStart(7)}  accel ${row.accel.p50Us.toFixed(1).padStart(7)} (${pct(row.base.p50Us, row.accel.p50Us)})` +
          `  p99 ${row.base.p99Us.toFixed(1)} -> ${row.accel.p99Us.toFixed(1)} (${pct(row.base.p99Us, row.accel.p99Us)})` +
          `  req/s ${row.base.reqPerSec.toFixed(0)} -> ${row.accel.reqPerSec.toFixed(0)} (${pct(row.base.reqPerSec, row.accel.reqPerSec)})` +
          `  | policy p50 ${row.policy.p50Us.toFixed(1)} (${pct(row.base.p50Us, row.policy.p50Us)}) req/s ${row.policy.reqPerSec.toFixed(0)}`,
      );
    }
    say("\nbulk throughput (medians; in brackets the median of per-round ratios to base)");
    const ratio = (x: number) => `${(x * 100).toFixed(1)}%`;
    for (const row of summary.bulk) {
      say(
        `  writes of ${String(row.chunk).padStart(8)} B  base ${row.baseGbit.toFixed(2)} Gbit/s  accel ${row.accelGbit.toFixed(2)} [${ratio(row.accelVsBasePaired)}, IQR ${row.accelVsBaseQuartiles.map(ratio).join("..")}]  policy ${row.policyGbit.toFixed(2)} [${ratio(row.policyVsBasePaired)}, IQR ${row.policyVsBaseQuartiles.map(ratio).join("..")}]` +
          `  excluded ${row.excludedGbit.toFixed(2)} [${ratio(row.excludedVsBasePaired)}, IQR ${row.excludedVsBaseQuartiles.map(ratio).join("..")}]`,
      );
    }
    say(`\ncounters after accelerated runs: ${JSON.stringify(accelCounters)}`);
    say(`\n${JSON.stringify(summary)}`);
    if (values.json) await writeFile(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    for (const dir of cleanupPins)
      await disableEbpfAcceleration({ pinDir: dir, force: true, drainTimeoutMs: 0 }).catch(() => undefined);
    await lab.cleanup();
  }
}

await main();
