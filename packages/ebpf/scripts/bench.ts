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
 *   flock /tmp/meshctl-bench.lock npm run bench:ebpf -- [--rounds 7] [--seconds 1.5] [--bulk-seconds 2] [--io epoll|blocking] [--path egress,ingress | loopback] [--only rr|bulk|fallback] [--json out.json]
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
 *
 * Then the fallback rows (issue 16; `--only fallback` runs them alone): request/response on
 * connections that went back to TCP (after the stream limit, after a disable) next to a plain one,
 * with and without TCP_NODELAY; see benchFallback.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { release } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { findProgram, runCommand } from "@meshctl/core";
import { captureChainNames, SIDECAR_UID } from "@meshctl/pod";
// Internal on purpose: the fallback rows read counters by map id after the disable has removed the pins.
import { runBpftoolJson } from "../src/bpftool.js";
import {
  DEFAULT_BULK_TTL_SECONDS,
  DEFAULT_MAX_STREAM_BYTES,
  disableEbpfAcceleration,
  type EbpfCounters,
  type EnableEbpfResult,
  enableEbpfAcceleration,
  getEbpfStatus,
} from "../src/index.js";
import { decodeCounters } from "../src/maps.js";
import { Lab, labPrerequisites, type Proc, SVC_IP } from "../test/lab.js";

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
const ONLY = ["rr", "bulk", "fallback"] as const;
if (values.only !== undefined && !ONLY.includes(values.only as (typeof ONLY)[number])) {
  sayErr(`bench:ebpf: --only takes rr, bulk or fallback (got ${values.only})`);
  process.exit(2);
}
const runHops = values.only !== "fallback";
const runFallback = values.only === undefined || values.only === "fallback";
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

type HopPinDirs = Record<Exclude<Mode, "base">, string>;

/** Ports: RPC service 70m1 (m = mode index), bulk services 7m01.. one per write size. */
const rpcPort = (mode: Mode) => 7001 + MODES.indexOf(mode);
const bulkPort = (mode: Mode, chunkIndex: number) => 7100 + 100 * MODES.indexOf(mode) + chunkIndex + 1;

/** Request/response and bulk over the pod's hops, four modes side by side (see the header). */
async function benchSidecarHops(lab: Lab, cc: string, dir: string, pinDirs: HopPinDirs) {
  const binary = join(dir, "rr-bench");
  await promisify(execFile)(cc, [
    "-O2",
    "-o",
    binary,
    join(dirname(fileURLToPath(import.meta.url)), "rr-bench.c"),
  ]);
  const cgroups: Record<Mode, string> = {
    base: await lab.cgroup("base"),
    accel: await lab.cgroup("accel"),
    policy: await lab.cgroup("policy"),
    excluded: await lab.cgroup("excluded"),
  };
  // Meshed: istio-init's capture rules (@meshctl/pod), except on the bare loopback path.
  const pod = await lab.pod("b", cgroups.base, { meshed: !paths.includes("loopback") });
  const host: Record<Path, string> = { egress: SVC_IP, ingress: pod.ip, loopback: "127.0.0.1" };
  if (!paths.includes("loopback")) {
    const chains = captureChainNames();
    const ipt = (...rule: string[]) =>
      runCommand("ip", ["netns", "exec", pod.netns, "iptables", "-w", "-t", "nat", "-I", ...rule]);
    // Four "sidecars" share this netns (one per mode), so the egress REDIRECT keeps the service port
    // instead of sending everything to 15001; the per-packet work (conntrack + NAT) is the same.
    await ipt(chains.redirect, "1", "-p", "tcp", "-d", `${SVC_IP}/32`, "-j", "REDIRECT");
    // The ingress hop's client plays the sidecar dialling the app on the pod IP: istio-init would
    // send the sidecar's own pod-IP connections to 15006, where no inbound listener runs here.
    await ipt(chains.output, "1", "-m", "owner", "--uid-owner", String(SIDECAR_UID), "-j", "RETURN");
  }
  // On the ingress hop the client is the sidecar: it runs as the sidecar uid, which the rules let through.
  const asClient = (path: Path) =>
    path === "ingress"
      ? ["setpriv", `--reuid=${SIDECAR_UID}`, `--regid=${SIDECAR_UID}`, "--clear-groups"]
      : [];
  const pin = values["pin-cpus"] ? (cpu: number) => ["taskset", "-c", String(cpu)] : () => [];
  for (const mode of MODES) {
    for (const port of [rpcPort(mode), ...bulkChunks.map((_, i) => bulkPort(mode, i))]) {
      const server = lab.spawnIn({ netns: pod.netns, cgroup: cgroups[mode] }, [
        ...pin(1),
        binary,
        "server",
        String(port),
      ]);
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
    // rr-bench dials a new connection on every run.
    const proc: Proc = lab.spawnIn({ netns: pod.netns, cgroup: cgroups[mode] }, [
      ...pin(0),
      ...asClient(path),
      binary,
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
    `bench:ebpf  kernel ${release()}; round 0 (first bulk connections) + ${rounds} interleaved rounds; ` +
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
    kernel: release(),
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
  return summary;
}

/**
 * Fallback rows (issue 16): request/response on connections that are on TCP again after being in
 * the sockhash, next to one that never was. Both ends live in one fallback-rr process
 * (scripts/fallback-rr.c) in a cgroup of its own, on 127.0.0.1 of a netns without rules. Each round
 * has a new process, new connections and a new enable/disable; every connection exists with and
 * without TCP_NODELAY:
 *   plain         opened before enable: never in the sockhash (the baseline)
 *   accelerated   opened after enable
 *   streamLimit   opened after enable, then one 1 MiB echo crosses the stream limit both ways
 *   afterDisable  the accelerated connection, still open, after disableEbpfAcceleration
 * plainAfterDisable is the plain connection again after the disable: the baseline of afterDisable,
 * measured next to it (a disable cannot be interleaved with the enabled rows).
 */
const FALLBACK_ROWS = ["plain", "accelerated", "streamLimit", "plainAfterDisable", "afterDisable"] as const;
type FallbackRow = (typeof FALLBACK_ROWS)[number];
const FALLBACK_LABELS: Record<FallbackRow, string> = {
  plain: "plain (before enable)",
  accelerated: "accelerated",
  streamLimit: "after stream limit",
  plainAfterDisable: "plain, after disable",
  afterDisable: "after disable",
};
/** The row each fallback row is compared with (same round, same TCP_NODELAY). */
const FALLBACK_BASELINE: Partial<Record<FallbackRow, FallbackRow>> = {
  accelerated: "plain",
  streamLimit: "plain",
  afterDisable: "plainAfterDisable",
};
const FALLBACK_CONNECTION: Record<FallbackRow, string> = {
  plain: "plain",
  accelerated: "accel",
  streamLimit: "limit",
  plainAfterDisable: "plain",
  afterDisable: "accel",
};
const FALLBACK_ROUND_TRIPS = 300;
const FALLBACK_MIN_BYTES = 1024;
const FALLBACK_MAX_BYTES = 65536;
const FALLBACK_ECHO_BYTES = 1 << 20;
const NODELAYS = [false, true] as const;

interface FallbackRun {
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  totalMs: number;
}
const DELTA_NAMES = [
  "socketsReleased",
  "releaseDeferred",
  "coalesceFails",
  "passedMessages",
  "redirectedMessages",
  "policySkips",
] as const;
type CounterDelta = Record<(typeof DELTA_NAMES)[number], number>;
const flatCounters = (c: EbpfCounters): CounterDelta => ({
  socketsReleased: c.socketsReleased,
  releaseDeferred: c.releaseDeferred,
  coalesceFails: c.coalesceFails,
  passedMessages: c.passedMessages,
  redirectedMessages: c.ingress.messages + c.egress.messages,
  policySkips: c.policySkips,
});
const deltaOf = (before: CounterDelta, after: CounterDelta): CounterDelta =>
  Object.fromEntries(DELTA_NAMES.map((n) => [n, after[n] - before[n]])) as CounterDelta;
const sumDeltas = (ds: CounterDelta[]): CounterDelta =>
  Object.fromEntries(DELTA_NAMES.map((n) => [n, ds.reduce((s, d) => s + d[n], 0)])) as CounterDelta;
const rotate = <T>(xs: readonly T[], by: number): T[] => [
  ...xs.slice(by % xs.length),
  ...xs.slice(0, by % xs.length),
];

async function benchFallback(
  lab: Lab,
  cc: string,
  dir: string,
  pinDir: string,
  previous: Record<string, unknown> | undefined,
) {
  const binary = join(dir, "fallback-rr");
  await promisify(execFile)(cc, [
    "-O2",
    "-pthread",
    "-o",
    binary,
    join(dirname(fileURLToPath(import.meta.url)), "fallback-rr.c"),
  ]);
  const cgroup = await lab.cgroup("fallback");
  const pod = await lab.pod("f", cgroup);
  const key = (row: FallbackRow, nodelay: boolean) => `${row} ${nodelay ? "nodelay" : "nagle"}`;
  const cases = FALLBACK_ROWS.flatMap((row) => NODELAYS.map((nodelay) => ({ row, nodelay })));
  const runs: Record<string, FallbackRun[]> = {};
  // Per-round counter deltas around each row's round trips; null once the maps are gone.
  const deltas: Record<string, Array<CounterDelta | null>> = {};
  const echoes: Array<{ nodelay: boolean; ms: number; counters: CounterDelta }> = [];
  const disables: Array<{ openSockets: number; lingeringPrograms: number; lingeringMaps: number }> = [];
  let policyConfig: EnableEbpfResult["config"] | undefined;

  say(
    `${previous ? "\n" : `bench:ebpf  kernel ${release()}; `}fallback rows: fallback-rr (scripts/fallback-rr.c) in cgroup ${cgroup}, 127.0.0.1 in netns ${pod.netns} (no rules); ` +
      `${rounds} rounds, each with a new process, new connections and a new enable/disable; ` +
      `${FALLBACK_ROUND_TRIPS} round trips per run, sizes uniform ${sizeName(FALLBACK_MIN_BYTES)}-${sizeName(FALLBACK_MAX_BYTES)} (seed = round)`,
  );
  for (let r = 0; r < rounds; r++) {
    const proc = lab.spawnIn(pod, [binary]);
    await proc.next();
    const ask = async (line: string): Promise<Record<string, unknown>> => {
      proc.send(line);
      const answer = await proc.next(120_000);
      if ("error" in answer) throw new Error(`fallback-rr: ${String(answer.error)} (after "${line}")`);
      return answer;
    };
    const conn = (row: FallbackRow, nodelay: boolean) => `${FALLBACK_CONNECTION[row]}-${nodelay ? 1 : 0}`;
    for (const nodelay of NODELAYS) await ask(`open ${conn("plain", nodelay)} ${nodelay ? 1 : 0}`);
    // The default policy, as `meshctl enable ebpf` sets it (256 KiB stream limit).
    policyConfig = (await enableEbpfAcceleration({ cgroupPath: cgroup, pinDir })).config;
    // Counters by map id: the programs and maps outlive the disable while accelerated sockets are open.
    const countersMap = (await getEbpfStatus({ pinDir })).maps.find((m) => m.name === "mc_counters");
    if (!countersMap) throw new Error(`no mc_counters map under ${pinDir}`);
    const readCounters = async (): Promise<CounterDelta | null> => {
      const dump = await runBpftoolJson<Parameters<typeof decodeCounters>[0]>(
        ["map", "dump", "id", String(countersMap.id)],
        "reading counters",
      ).catch(() => undefined);
      return dump ? flatCounters(decodeCounters(dump)) : null;
    };
    for (const nodelay of NODELAYS) {
      await ask(`open ${conn("accelerated", nodelay)} ${nodelay ? 1 : 0}`);
      await ask(`open ${conn("streamLimit", nodelay)} ${nodelay ? 1 : 0}`);
    }
    for (const nodelay of NODELAYS) {
      const before = await readCounters();
      const answer = await ask(`echo ${conn("streamLimit", nodelay)} ${FALLBACK_ECHO_BYTES}`);
      const after = await readCounters();
      if (!before || !after) throw new Error("counters unreadable while enabled");
      echoes.push({ nodelay, ms: Number(answer.ms), counters: deltaOf(before, after) });
    }
    const measure = async (row: FallbackRow, nodelay: boolean) => {
      const before = await readCounters();
      const answer = await ask(
        `rr ${conn(row, nodelay)} ${FALLBACK_ROUND_TRIPS} ${FALLBACK_MIN_BYTES} ${FALLBACK_MAX_BYTES} ${r + 1}`,
      );
      const after = await readCounters();
      const k = key(row, nodelay);
      runs[k] = [...(runs[k] ?? []), answer as unknown as FallbackRun];
      deltas[k] = [...(deltas[k] ?? []), before && after ? deltaOf(before, after) : null];
    };
    const phase = (rows: readonly FallbackRow[]) =>
      rotate(
        cases.filter((c) => rows.includes(c.row)),
        r,
      );
    for (const { row, nodelay } of phase(["plain", "accelerated", "streamLimit"]))
      await measure(row, nodelay);
    const disabled = await disableEbpfAcceleration({ pinDir });
    disables.push({
      openSockets: disabled.openSockets,
      lingeringPrograms: disabled.lingering.programIds.length,
      lingeringMaps: disabled.lingering.mapIds.length,
    });
    for (const { row, nodelay } of phase(["plainAfterDisable", "afterDisable"])) await measure(row, nodelay);
    proc.send("quit");
    await proc.wait(10_000);
    say(`  fallback round ${r + 1}/${rounds} done`);
    if (values.json)
      await writeFile(
        `${values.json}.partial`,
        `${JSON.stringify({ ...previous, fallback: { runs, deltas, echoes, disables } })}\n`,
      );
  }

  const rows = cases.map(({ row, nodelay }) => {
    const own = runs[key(row, nodelay)]!;
    const baselineRow = FALLBACK_BASELINE[row];
    // Per-round ratios to the baseline run of the same round: robust to load that drifts.
    const ratios = baselineRow
      ? own.map((x, i) => x.p50Us / runs[key(baselineRow, nodelay)]![i]!.p50Us)
      : undefined;
    const known = deltas[key(row, nodelay)]!.filter((d): d is CounterDelta => d !== null);
    return {
      row,
      label: FALLBACK_LABELS[row],
      nodelay,
      p50Us: median(own.map((x) => x.p50Us)),
      p90Us: median(own.map((x) => x.p90Us)),
      p99Us: median(own.map((x) => x.p99Us)),
      maxUs: median(own.map((x) => x.maxUs)),
      // p50 / the baseline's p50 of the same round: median and IQR over rounds, and every round.
      vsBaseline:
        baselineRow && ratios
          ? {
              row: baselineRow,
              p50Ratio: median(ratios),
              p50RatioQuartiles: [quantile(ratios, 0.25), quantile(ratios, 0.75)],
              p50RatioPerRound: ratios,
            }
          : null,
      // Summed over the rounds whose counters could be read (all of them while the maps live).
      counters: known.length ? sumDeltas(known) : null,
      countersRounds: known.length,
      runs: own,
    };
  });
  const echoSummary = NODELAYS.map((nodelay) => {
    const e = echoes.filter((x) => x.nodelay === nodelay);
    return { nodelay, medianMs: median(e.map((x) => x.ms)), counters: sumDeltas(e.map((x) => x.counters)) };
  });
  const summary = {
    roundTrips: FALLBACK_ROUND_TRIPS,
    sizes: [FALLBACK_MIN_BYTES, FALLBACK_MAX_BYTES],
    echoBytes: FALLBACK_ECHO_BYTES,
    policy: policyConfig,
    rows,
    streamLimitEcho: echoSummary,
    disable: disables,
  };

  const us = (x: number) => x.toFixed(1);
  const ratio = (x: number) => `${x.toFixed(2)}x`;
  say(
    `\nfallback request/response (medians over rounds): p50 / p90 / p99 µs; p50 vs plain = median of per-round ratios [IQR of them]; ` +
      "counters: delta during the row's round trips, summed over rounds",
  );
  say(
    `  ${"row".padEnd(22)} ${"TCP_NODELAY".padEnd(11)} ${"p50 / p90 / p99 µs".padEnd(26)} ${"p50 vs plain".padEnd(22)} released deferred coalesceFails passed redirected`,
  );
  for (const nodelay of NODELAYS) {
    for (const row of rows.filter((x) => x.nodelay === nodelay)) {
      const c = row.counters;
      const vs =
        row.vsBaseline === null
          ? "-"
          : `${ratio(row.vsBaseline.p50Ratio)} [${row.vsBaseline.p50RatioQuartiles.map(ratio).join("..")}]${row.vsBaseline.row === "plainAfterDisable" ? " *" : ""}`;
      say(
        `  ${row.label.padEnd(22)} ${(nodelay ? "on" : "off").padEnd(11)} ${`${us(row.p50Us)} / ${us(row.p90Us)} / ${us(row.p99Us)}`.padEnd(26)} ${vs.padEnd(22)} ` +
          (c
            ? `${String(c.socketsReleased).padStart(8)} ${String(c.releaseDeferred).padStart(8)} ${String(c.coalesceFails).padStart(13)} ${String(c.passedMessages).padStart(6)} ${String(c.redirectedMessages).padStart(10)}`
            : "  (counters unreadable: maps gone)") +
          (c && row.countersRounds < rounds ? ` (${row.countersRounds}/${rounds} rounds)` : ""),
      );
    }
  }
  say("  * vs the plain connection measured right after the disable, in the same round");
  say(
    `  stream limit (${policyConfig?.maxStreamBytes} B): one ${sizeName(FALLBACK_ECHO_BYTES)} echo per connection, median ` +
      echoSummary
        .map(
          (e) =>
            `${e.medianMs.toFixed(2)} ms (TCP_NODELAY ${e.nodelay ? "on" : "off"}; over all rounds policySkips ${e.counters.policySkips}, released ${e.counters.socketsReleased}, deferred ${e.counters.releaseDeferred})`,
        )
        .join(", "),
  );
  say(
    `  disable: openSockets per round ${disables.map((d) => d.openSockets).join(", ")} ` +
      "(4 = the two accelerated connections; 8 = the stream-limit connections were still in the sockhash); " +
      `lingering programs per round ${disables.map((d) => d.lingeringPrograms).join(", ")}`,
  );
  return summary;
}

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
  const fallbackPinDir = `${pinDir}-fallback`;
  try {
    const dir = await lab.tempDir("bench");
    const hops = runHops ? await benchSidecarHops(lab, cc, dir, pinDirs) : undefined;
    const fallback = runFallback ? await benchFallback(lab, cc, dir, fallbackPinDir, hops) : undefined;
    const summary = { ...(hops ?? { kernel: release(), rounds }), ...(fallback ? { fallback } : {}) };
    say(`\n${JSON.stringify(summary)}`);
    if (values.json) await writeFile(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    for (const dir of [...Object.values(pinDirs), fallbackPinDir])
      await disableEbpfAcceleration({ pinDir: dir, force: true, drainTimeoutMs: 0 }).catch(() => undefined);
    await lab.cleanup();
  }
}

await main();
