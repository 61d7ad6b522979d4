/**
 * Sidecar-hop benchmark: request/response and bulk throughput between an "app" and a "sidecar" in
 * one pod netns, with and without meshctl's acceleration, measured side by side and interleaved
 * (each round runs every mode back to back, rotating which goes first). The pod has istio-init's
 * nat rules, as every sidecar pod does, and request/response runs over both hops of the pod
 * (`--path` picks them; bulk runs over the first):
 *   egress    (default) the app dials a service address; OUTPUT REDIRECTs it to the sidecar, so every
 *             base-mode packet pays conntrack and NAT
 *   ingress   the sidecar (uid 1337, which the rules let through) dials the app on the pod IP; every
 *             base-mode packet pays conntrack
 *   loopback  127.0.0.1 on both ends and no rules in the pod (a bare netns; no sidecar pod has this;
 *             only on its own)
 *
 *   flock /tmp/meshctl-bench.lock npm run bench:ebpf -- [--rounds 7] [--seconds 1.5] [--bulk-seconds 2] [--io epoll|blocking] [--path egress,ingress | loopback] [--json out.json]
 *
 * Request/response waits for data the way sidecars and apps do, in epoll_wait before a
 * non-blocking recv (Envoy, Node, Go); `--io blocking` uses blocking recv instead.
 *
 * Four sibling cgroups share the netns, each with its own servers, so no enable/disable churn sits
 * between the measurements:
 *   base      nothing attached
 *   accel     meshctl attached, no bulk policy (maxStreamBytes 0): every byte takes the sk_msg path
 *   policy    meshctl with the default policy: 256 KiB stream limit + learned bulk services (TTL 600 s)
 *   excluded  default policy plus the opt-in `excludePorts` listing the bulk service ports
 * Every mode has an RPC service (request/response) and one bulk service port per write size, as a
 * user would have them. Round 0 opens the first bulk connection to every bulk service; in the
 * policy mode that connection still pays the stream-limit path until its service is learned, and
 * it is reported on its own. Rounds 1..N are the steady state; every bulk run is a new connection.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { findProgram, runCommand } from "@meshctl/core";
import {
  DEFAULT_BULK_TTL_SECONDS,
  DEFAULT_MAX_STREAM_BYTES,
  disableEbpfAcceleration,
  type EbpfCounters,
  enableEbpfAcceleration,
  getEbpfStatus,
} from "../src/index.js";
import { Lab, labPrerequisites, type Proc, SIDECAR_UID, SVC_IP } from "../test/lab.js";

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
    io: { type: "string", default: "epoll" },
    path: { type: "string", default: "egress,ingress" },
  },
});
const PATHS = ["egress", "ingress", "loopback"] as const;
type Path = (typeof PATHS)[number];
const paths = values.path.split(",") as Path[];
if (
  !paths.length ||
  paths.some((p) => !PATHS.includes(p)) ||
  (paths.includes("loopback") && paths.length > 1)
) {
  sayErr(
    `bench:ebpf: --path takes egress and/or ingress (comma-separated), or loopback alone (got ${values.path})`,
  );
  process.exit(2);
}
if (values.io !== "epoll" && values.io !== "blocking") {
  sayErr(`bench:ebpf: --io must be epoll or blocking (got ${values.io})`);
  process.exit(2);
}
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const bulkSeconds = Number(values["bulk-seconds"]);
const sizes = values.only === "bulk" ? [] : values.sizes.split(",").map(Number);
const bulkChunks = values.only === "rr" ? [] : values["bulk-chunks"].split(",").map(Number);
const policyMax = Number(values["policy-max-stream-bytes"]);

const MODES = ["base", "accel", "policy", "excluded"] as const;
type Mode = (typeof MODES)[number];
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
const signed = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
const sizeName = (n: number) => (n >= 1 << 20 ? `${n / (1 << 20)} MiB` : `${n / 1024} KiB`);
const perMode = <T>(make: (mode: Mode) => T): Record<Mode, T> =>
  Object.fromEntries(MODES.map((m) => [m, make(m)])) as Record<Mode, T>;

/** Ports: RPC service 70m1 (m = mode index), bulk services 7m01.. one per write size. */
const rpcPort = (mode: Mode) => 7001 + MODES.indexOf(mode);
const bulkPort = (mode: Mode, chunkIndex: number) => 7100 + 100 * MODES.indexOf(mode) + chunkIndex + 1;

async function main(): Promise<void> {
  const missing = await labPrerequisites();
  const cc = (await findProgram("cc")) ?? (await findProgram("clang"));
  if (missing || !cc) {
    sayErr(`bench:ebpf cannot run: ${missing ?? "no C compiler (cc/clang)"}`);
    process.exit(2);
  }
  const lab = new Lab(`bn${process.pid % 100}`);
  const pinDir = `/sys/fs/bpf/mce-bench-${process.pid}`;
  const pinDirs = { accel: `${pinDir}-accel`, policy: `${pinDir}-policy`, excluded: `${pinDir}-excluded` };
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
      base: await lab.cgroup("base"),
      accel: await lab.cgroup("accel"),
      policy: await lab.cgroup("policy"),
      excluded: await lab.cgroup("excluded"),
    };
    // Four "sidecars" share this netns (one per mode), so the egress REDIRECT keeps the service port
    // instead of sending everything to 15001; the per-packet work (conntrack + NAT) is the same.
    const host: Record<Path, string> = { egress: SVC_IP, ingress: pod.ip, loopback: "127.0.0.1" };
    if (!paths.includes("loopback")) {
      await lab.istioIptables(pod);
      const ipt = ["iptables", "-w", "-t", "nat", "-I", "MCE_OUTPUT", "3", "-p", "tcp", "-d", `${SVC_IP}/32`];
      await runCommand("ip", ["netns", "exec", pod.netns, ...ipt, "-j", "REDIRECT"]);
    }
    // On the ingress hop the client is the sidecar: it runs as the sidecar uid, which the rules let through.
    const asClient = (path: Path) =>
      path === "ingress"
        ? ["setpriv", `--reuid=${SIDECAR_UID}`, `--regid=${SIDECAR_UID}`, "--clear-groups"]
        : [];
    const pin = values["pin-cpus"] ? (cpu: number) => ["taskset", "-c", String(cpu)] : () => [];
    for (const mode of MODES) {
      for (const port of [rpcPort(mode), ...bulkChunks.map((_, i) => bulkPort(mode, i))]) {
        const [cmd, ...pre] = [...pin(1), binary];
        const server = lab.spawnIn(pod.netns, cgroups[mode], cmd!, [...pre, "server", String(port)]);
        await server.next();
      }
    }
    await enableEbpfAcceleration({
      cgroupPath: cgroups.accel,
      pinDir: pinDirs.accel,
      maxMessageBytes: 0,
      maxStreamBytes: 0,
    });
    // The default policy, as `meshctl enable ebpf` sets it.
    const policy = await enableEbpfAcceleration({
      cgroupPath: cgroups.policy,
      pinDir: pinDirs.policy,
      maxStreamBytes: policyMax,
    });
    // The opt-in for bulk services known up front: their ports never enter the sockhash.
    await enableEbpfAcceleration({
      cgroupPath: cgroups.excluded,
      pinDir: pinDirs.excluded,
      excludePorts: bulkChunks.map((_, i) => bulkPort("excluded", i)),
    });

    const run = async (
      mode: Mode,
      port: number,
      args: string[],
      path = paths[0]!,
    ): Promise<Record<string, number>> => {
      const [cmd, ...pre] = [...pin(0), ...asClient(path), binary];
      // rr-bench dials a new connection on every run.
      const proc: Proc = lab.spawnIn(pod.netns, cgroups[mode], cmd!, [
        ...pre,
        args[0]!,
        host[path],
        String(port),
        ...args.slice(1),
      ]);
      const result = (await proc.next(120_000)) as Record<string, number>;
      await proc.wait(10_000);
      return result;
    };
    const counters = async (mode: Exclude<Mode, "base">): Promise<EbpfCounters> => {
      const c = (await getEbpfStatus({ pinDir: pinDirs[mode] })).counters;
      if (!c) throw new Error(`no counters for ${mode}`);
      return c;
    };
    const order = (r: number): Mode[] => [
      ...MODES.slice(r % MODES.length),
      ...MODES.slice(0, r % MODES.length),
    ];
    const bulkRun = async (mode: Mode, chunkIndex: number): Promise<BulkResult> =>
      (await run(mode, bulkPort(mode, chunkIndex), [
        "bulk",
        String(bulkChunks[chunkIndex]),
        String(bulkSeconds),
      ])) as unknown as BulkResult;

    say(
      `bench:ebpf  kernel ${(await import("node:os")).release()}; round 0 (first bulk connections) + ${rounds} interleaved rounds; ` +
        `${seconds}s per request/response run (${values.io === "epoll" ? "epoll_wait + non-blocking recv, as event loops do" : "blocking recv"}), ${bulkSeconds}s per bulk run${values["pin-cpus"] ? "; client on CPU 0, server on CPU 1" : ""}`,
    );
    say(
      paths
        .map(
          (path) =>
            ({
              egress: `  egress hop: the app dials ${SVC_IP}:PORT, istio-init-style nat rules REDIRECT it to the sidecar on 127.0.0.1:PORT (conntrack + NAT on every base-mode packet)`,
              ingress: `  ingress hop: the sidecar (uid ${SIDECAR_UID}) dials the app on ${pod.ip}:PORT, istio-init-style rules in the pod (conntrack on every base-mode packet)`,
              loopback: "  loopback: 127.0.0.1 on both ends, no iptables rules in the pod",
            })[path],
        )
        .join("\n"),
    );
    say(
      `  services per mode: an RPC service (port ${rpcPort("policy")} in policy mode) for request/response and one bulk service per write size (${bulkChunks.map((_, i) => bulkPort("policy", i)).join(", ")} in policy mode)`,
    );
    say(
      `  policy = default: stream limit ${policy.config.maxStreamBytes} B, learned bulk services for ${policy.config.bulkTtlSeconds} s (default ${DEFAULT_BULK_TTL_SECONDS}); excluded = default + --exclude-ports for the bulk ports`,
    );

    // Round 0: the first connection to every bulk service (learning happens here in policy mode).
    const first: Record<string, Record<Mode, BulkResult>> = {};
    const policyBeforeFirst = await counters("policy");
    for (const [i, chunk] of bulkChunks.entries()) {
      const results: Partial<Record<Mode, BulkResult>> = {};
      for (const mode of order(i)) results[mode] = await bulkRun(mode, i);
      first[chunk] = results as Record<Mode, BulkResult>;
    }
    const policyAfterFirst = await counters("policy");
    say(
      `  round 0 done: policy learned ${policyAfterFirst.bulkLearned - policyBeforeFirst.bulkLearned} bulk stream(s) on ${bulkChunks.length} service(s)`,
    );

    // Request/response cases: every hop at every size.
    const rrCases = paths.flatMap((path) => sizes.map((size) => ({ path, size, key: `${path} ${size}` })));
    const rr: Record<string, Record<Mode, RrResult[]>> = {};
    const bulk: Record<number, Record<Mode, BulkResult[]>> = {};
    for (let r = 0; r < rounds; r++) {
      for (const { path, size, key } of rrCases) {
        rr[key] ??= perMode(() => []);
        for (const mode of order(r))
          rr[key]![mode].push(
            (await run(
              mode,
              rpcPort(mode),
              ["rr", String(size), String(seconds), values.io],
              path,
            )) as unknown as RrResult,
          );
      }
      for (const [i, chunk] of bulkChunks.entries()) {
        bulk[chunk] ??= perMode(() => []);
        for (const mode of order(r)) bulk[chunk]![mode].push(await bulkRun(mode, i));
      }
      say(`  round ${r + 1}/${rounds} done`);
      // Raw runs so far, so an interrupted run still leaves its data behind.
      if (values.json) await writeFile(`${values.json}.partial`, `${JSON.stringify({ first, rr, bulk })}\n`);
    }
    const policyEnd = await counters("policy");
    const accelEnd = await counters("accel");
    const excludedEnd = await counters("excluded");

    const rrSummary = rrCases.map(({ path, size, key }) => {
      const runs = rr[key]!;
      const m = (mode: Mode, key: keyof RrResult) => median(runs[mode].map((x) => x[key]));
      // Median over rounds of (mode p50 / base p50 of the same round - 1).
      const p50Paired = (mode: Mode) => median(runs[mode].map((x, i) => x.p50Us / runs.base[i]!.p50Us - 1));
      return {
        path,
        size,
        ...perMode((mode) => ({
          p50Us: m(mode, "p50Us"),
          p99Us: m(mode, "p99Us"),
          reqPerSec: m(mode, "reqPerSec"),
          p50VsBasePaired: mode === "base" ? 0 : p50Paired(mode),
        })),
      };
    });
    const bulkSummary = bulkChunks.map((chunk) => {
      const runs = bulk[chunk]!;
      // Per-round ratios against the base run of the same round: robust to load that drifts.
      const ratios = (mode: Mode) => runs[mode].map((x, i) => x.gbitPerSec / runs.base[i]!.gbitPerSec - 1);
      return {
        chunk,
        ...perMode((mode) => ({
          gbit: median(runs[mode].map((x) => x.gbitPerSec)),
          vsBasePaired: median(ratios(mode)),
          vsBaseQuartiles: [quantile(ratios(mode), 0.25), quantile(ratios(mode), 0.75)],
        })),
        // In steady state a learned service and an excluded port take the same kernel path (no
        // socket in the sockhash): their paired difference is the noise floor of this machine.
        policyVsExcludedPaired: median(
          runs.policy.map((x, i) => x.gbitPerSec / runs.excluded[i]!.gbitPerSec - 1),
        ),
        runs,
      };
    });
    const firstSummary = bulkChunks.map((chunk) => {
      const f = first[chunk]!;
      return {
        chunk,
        ...perMode((mode) => ({
          gbit: f[mode].gbitPerSec,
          vsBase: f[mode].gbitPerSec / f.base.gbitPerSec - 1,
        })),
      };
    });
    // Checks that the policy mode measured what it claims: RPC connections in the sockhash, every
    // steady-state bulk run a new connection whose two sockets skipped it.
    const steadyBulkRuns = rounds * bulkChunks.length;
    const rrRuns = rounds * rrCases.length;
    const checks = {
      policyBulkSkips: policyEnd.bulkSkips - policyAfterFirst.bulkSkips,
      policyBulkSkipsExpected: 2 * steadyBulkRuns,
      policySocketsAdded: policyEnd.socketsAdded - policyAfterFirst.socketsAdded,
      policySocketsAddedExpected: 2 * rrRuns,
      policyFirstConnectionsAdded: policyAfterFirst.socketsAdded - policyBeforeFirst.socketsAdded,
      excludedSocketsSkipped: excludedEnd.socketsSkipped,
    };

    const summary = {
      kernel: (await import("node:os")).release(),
      rounds,
      secondsPerRun: seconds,
      io: values.io,
      paths,
      bulkPath: paths[0],
      bulkSecondsPerRun: bulkSeconds,
      policy: policy.config,
      ports: perMode((mode) => ({ rpc: rpcPort(mode), bulk: bulkChunks.map((_, i) => bulkPort(mode, i)) })),
      requestResponse: rrSummary,
      bulk: bulkSummary,
      firstBulkConnection: firstSummary,
      checks,
      counters: { accel: accelEnd, policy: policyEnd, excluded: excludedEnd },
    };

    const us = (x: number) => x.toFixed(1);
    say("\nrequest/response to the RPC service (medians over rounds): p50 / p99 µs, req/s");
    const label = (row: { path: Path; size: number }) => `${row.path} ${sizeName(row.size)}`.padEnd(16);
    say(`  ${"hop, size".padEnd(16)} ${MODES.map((m) => m.padEnd(27)).join(" ")}`);
    for (const row of rrSummary) {
      say(
        `  ${label(row)} ${MODES.map((m) => `${us(row[m].p50Us)} / ${us(row[m].p99Us)}, ${row[m].reqPerSec.toFixed(0)}`.padEnd(27)).join(" ")}`,
      );
    }
    say("  p50 vs base, median of per-round ratios:");
    for (const row of rrSummary) {
      say(
        `  ${label(row)} accel ${signed(row.accel.p50VsBasePaired)}  policy ${signed(row.policy.p50VsBasePaired)}  excluded ${signed(row.excluded.p50VsBasePaired)}` +
          `   (medians: policy p50 ${signed(row.policy.p50Us / row.base.p50Us - 1)}, p99 ${signed(row.policy.p99Us / row.base.p99Us - 1)}, req/s ${signed(row.policy.reqPerSec / row.base.reqPerSec - 1)})`,
      );
    }
    say(
      `\nbulk over the ${paths[0]} ${paths[0] === "loopback" ? "path" : "hop"}, steady state (rounds 1..N, a new connection per run): median Gbit/s [median of per-round ratios to base, IQR]`,
    );
    for (const row of bulkSummary) {
      say(
        `  ${sizeName(row.chunk).padEnd(7)} base ${row.base.gbit.toFixed(2)}` +
          (["accel", "policy", "excluded"] as const)
            .map(
              (m) =>
                `  ${m} ${row[m].gbit.toFixed(2)} [${signed(row[m].vsBasePaired)}, ${row[m].vsBaseQuartiles.map(signed).join("..")}]`,
            )
            .join(""),
      );
    }
    say(
      `  noise floor (policy vs excluded, the same kernel path in steady state, median of per-round ratios): ${bulkSummary.map((row) => `${sizeName(row.chunk)} ${signed(row.policyVsExcludedPaired)}`).join(", ")}`,
    );
    say(
      "\nfirst bulk connection of each service (round 0; policy still pays the stream-limit path until the service is learned): Gbit/s [vs base run of round 0]",
    );
    for (const row of firstSummary) {
      say(
        `  ${sizeName(row.chunk).padEnd(7)} base ${row.base.gbit.toFixed(2)}` +
          (["accel", "policy", "excluded"] as const)
            .map((m) => `  ${m} ${row[m].gbit.toFixed(2)} [${signed(row[m].vsBase)}]`)
            .join(""),
      );
    }
    say(
      `\nchecks: policy steady-state bulk runs ${steadyBulkRuns}, sockets that skipped the sockhash ${checks.policyBulkSkips} (expected ${checks.policyBulkSkipsExpected}); ` +
        `policy RPC runs ${rrRuns}, sockets added ${checks.policySocketsAdded} (expected ${checks.policySocketsAddedExpected}); ` +
        `first bulk connections added ${checks.policyFirstConnectionsAdded} sockets (expected ${2 * bulkChunks.length})`,
    );
    say(`\n${JSON.stringify(summary)}`);
    if (values.json) await writeFile(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    for (const dir of Object.values(pinDirs))
      await disableEbpfAcceleration({ pinDir: dir, force: true, drainTimeoutMs: 0 }).catch(() => undefined);
    await lab.cleanup();
  }
}

await main();
