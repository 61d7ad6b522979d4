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
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const bulkSeconds = Number(values["bulk-seconds"]);
const sizes = values.sizes.split(",").map(Number);
const bulkChunks = values["bulk-chunks"].split(",").map(Number);
const policyMax = Number(values["policy-max-stream-bytes"]);

type Mode = "base" | "accel" | "policy";
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
    const cgroups: Record<Mode, string> = {
      accel: await lab.cgroup("accel"),
      base: await lab.cgroup("base"),
      policy: await lab.cgroup("accel"),
    };
    const ports: Record<Mode, number> = { accel: 7001, base: 7002, policy: 7001 };
    for (const mode of ["accel", "base"] as const) {
      const server = lab.spawnIn(pod.netns, cgroups[mode], binary, ["server", String(ports[mode])]);
      await server.next();
    }
    // Phase 1: every message redirected (no bulk policy), to see the raw sk_msg path.
    await enableEbpfAcceleration({
      cgroupPath: cgroups.accel,
      pinDir,
      maxMessageBytes: 0,
      maxStreamBytes: 0,
    });

    const run = async (mode: Mode, args: string[]): Promise<Record<string, number>> => {
      const proc: Proc = lab.spawnIn(pod.netns, cgroups[mode], binary, [
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
    const order = (r: number): Mode[] => (r % 2 ? ["accel", "base"] : ["base", "accel"]);
    say(
      `bench:ebpf  ${rounds} interleaved rounds, ${seconds}s per request/response run, ${bulkSeconds}s per bulk run`,
    );
    for (let r = 0; r < rounds; r++) {
      for (const size of sizes) {
        rr[size] ??= { base: [], accel: [], policy: [] };
        for (const mode of order(r))
          rr[size]![mode].push(
            (await run(mode, ["rr", String(size), String(seconds)])) as unknown as RrResult,
          );
      }
      for (const chunk of bulkChunks) {
        bulk[chunk] ??= { base: [], accel: [], policy: [] };
        for (const mode of order(r))
          bulk[chunk]![mode].push(
            (await run(mode, ["bulk", String(chunk), String(bulkSeconds)])) as unknown as BulkResult,
          );
      }
      process.stdout.write(`  round ${r + 1}/${rounds} done\n`);
    }
    const accelCounters = (await getEbpfStatus({ pinDir })).counters;

    // Phase 2: the default policy, a direction streaming more than policyMax bytes without a reply
    // goes to TCP for good. Measured the same way, against fresh baseline runs.
    await enableEbpfAcceleration({
      cgroupPath: cgroups.accel,
      pinDir,
      maxMessageBytes: 0,
      maxStreamBytes: policyMax,
    });
    for (let r = 0; r < rounds; r++) {
      for (const size of sizes) {
        for (const mode of (r % 2 ? ["policy", "base"] : ["base", "policy"]) as Mode[]) {
          const result = (await run(mode, ["rr", String(size), String(seconds)])) as unknown as RrResult;
          if (mode === "policy") rr[size]!.policy.push(result);
        }
      }
      for (const chunk of bulkChunks) {
        for (const mode of (r % 2 ? ["policy", "base"] : ["base", "policy"]) as Mode[]) {
          const result = (await run(mode, [
            "bulk",
            String(chunk),
            String(bulkSeconds),
          ])) as unknown as BulkResult;
          bulk[chunk]![mode === "policy" ? "policy" : "base"].push(result);
        }
      }
      process.stdout.write(`  policy round ${r + 1}/${rounds} done\n`);
    }
    const policyCounters = (await getEbpfStatus({ pinDir })).counters;

    const summary = {
      kernel: (await import("node:os")).release(),
      rounds,
      secondsPerRun: seconds,
      bulkSecondsPerRun: bulkSeconds,
      policyMaxStreamBytes: policyMax,
      requestResponse: sizes.map((size) => {
        const m = (mode: Mode, key: keyof RrResult) => median(rr[size]![mode].map((x) => x[key]));
        return {
          size,
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
        };
      }),
      bulk: bulkChunks.map((chunk) => ({
        chunk,
        baseGbit: median(bulk[chunk]!.base.map((x) => x.gbitPerSec)),
        accelGbit: median(bulk[chunk]!.accel.map((x) => x.gbitPerSec)),
        policyGbit: median(bulk[chunk]!.policy.map((x) => x.gbitPerSec)),
        runs: bulk[chunk],
      })),
      countersAfterAccelRuns: accelCounters,
      countersAfterPolicyRuns: policyCounters,
    };

    say("\nrequest/response (medians over rounds)     p50 µs            p99 µs            req/s");
    for (const row of summary.requestResponse) {
      say(
        `  ${String(row.size).padStart(6)} B  base ${row.base.p50Us.toFixed(1).padStart(7)}  accel ${row.accel.p50Us.toFixed(1).padStart(7)} (${pct(row.base.p50Us, row.accel.p50Us)})` +
          `  p99 ${row.base.p99Us.toFixed(1)} -> ${row.accel.p99Us.toFixed(1)} (${pct(row.base.p99Us, row.accel.p99Us)})` +
          `  req/s ${row.base.reqPerSec.toFixed(0)} -> ${row.accel.reqPerSec.toFixed(0)} (${pct(row.base.reqPerSec, row.accel.reqPerSec)})` +
          `  | policy p50 ${row.policy.p50Us.toFixed(1)} req/s ${row.policy.reqPerSec.toFixed(0)}`,
      );
    }
    say("\nbulk throughput (medians)");
    for (const row of summary.bulk) {
      say(
        `  writes of ${String(row.chunk).padStart(8)} B  base ${row.baseGbit.toFixed(2)} Gbit/s  accel ${row.accelGbit.toFixed(2)} (${pct(row.baseGbit, row.accelGbit)})  policy ${row.policyGbit.toFixed(2)} (${pct(row.baseGbit, row.policyGbit)})`,
      );
    }
    say(`\ncounters after accelerated runs: ${JSON.stringify(accelCounters)}`);
    say(`\n${JSON.stringify(summary)}`);
    if (values.json) await writeFile(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await disableEbpfAcceleration({ pinDir, force: true, drainTimeoutMs: 0 }).catch(() => undefined);
    await lab.cleanup();
  }
}

await main();
