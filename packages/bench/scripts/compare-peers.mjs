#!/usr/bin/env node
// Peer comparison and target checks for the load engine (issue 5). Run it under the shared bench
// lock, after `npm run build -w @meshctl/bench` and scripts/install-peers.sh:
//   flock /tmp/meshctl-bench.lock node packages/bench/scripts/compare-peers.mjs [--seconds 5] [--rounds 3] [--json out.json]
//     [--target echo|nginx] [--target-url URL]   (the HTTP/1.1 target of the throughput comparison)
// Why --target nginx: on a 2-core machine the Node echo server saturates first (~55k req/s), so
// every fast generator measures the server, not itself. nginx (Debian) costs far less CPU per
// response, which leaves the comparison to the generators. Every tool hits the same target.
// Measures, in one run and on the same targets:
//   1. closed-loop req/s against one HTTP/1.1 echo server: meshctl vs autocannon, fortio, wrk
//      (rounds interleaved, medians reported);
//   2. TCP ping-pong p50 round trip: meshctl (tcp:// against an echo server) vs sockperf --full-rtt;
//   3. the stall test: 10 s at 100 req/s, the server stalls once for 1 s;
//   4. `fortio report` serves a result written with toFortioJson.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { $, argv } from "zx";

$.verbose = false;
$.quiet = true;
const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "..");
const repo = join(pkg, "..", "..");
const dist = process.env.MESHCTL_BENCH_DIST ?? join(pkg, "dist");
const loadgen = join(dist, "loadgen-main.js");
const seconds = Number(argv.seconds ?? 5);
const rounds = Number(argv.rounds ?? 3);
const connections = Number(argv.connections ?? 16);
const workers = Number(argv.workers ?? 2);
// --pin: target on CPU 0, every generator on CPU 1, so each tool's own efficiency (not how much
// CPU it takes from the target) decides the rate. --only throughput,tcp,stall,fortio runs a subset.
const pin = Boolean(argv.pin);
const pinClient = pin ? ["taskset", "-c", "1"] : [];
const only = new Set(String(argv.only ?? "throughput,tcp,stall,fortio").split(","));
const bin = (name) =>
  [join(repo, ".tools", "bin", name), join(repo, "node_modules", ".bin", name)].find((p) => existsSync(p)) ??
  name;

if (!existsSync(loadgen)) {
  console.error(`missing ${loadgen}: build first (cd packages/bench && npx tsup)`);
  process.exit(1);
}
const { toFortioJson } = await import(join(dist, "index.js"));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const have = async (cmd) => (await $`command -v ${cmd}`.nothrow()).exitCode === 0;

// Children inherit the flock file descriptor: one left running would hold the shared bench lock
// forever, so every child is killed when this script exits, also on errors.
const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));
function spawnTracked(...args) {
  const child = spawn(...args);
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** Starts Debian's nginx on a free loopback port with a minimal keep-alive config. */
async function nginxProcess() {
  const dir = await mkdtemp(join(tmpdir(), "mcb-nginx-"));
  const port = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
  const conf = join(dir, "nginx.conf");
  await writeFile(
    conf,
    `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen 127.0.0.1:${port}; keepalive_requests 100000000; location / { return 200 "ok"; } } }
`,
  );
  const argsv = ["nginx", "-c", conf, "-e", join(dir, "error.log")];
  const child = spawnTracked(pin ? "taskset" : argsv[0], pin ? ["-c", "0", ...argsv] : argsv.slice(1), {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const s = net
        .connect(port, "127.0.0.1", () => resolve(s.end() && true))
        .on("error", () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop: () => {
      child.kill("SIGTERM");
      rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

/** Starts an echo server in its own process so it does not share the generator's event loop. */
async function echoProcess(protocol, extra = "") {
  const code = `
    const { startEchoServer } = await import(${JSON.stringify(join(dist, "index.js"))});
    ${extra}
    const s = await startEchoServer({ protocol: ${JSON.stringify(protocol)}, port: 0, ...(typeof delayMs === "function" ? { delayMs } : {}) });
    process.stdout.write(s.url + "\\n");
    process.on("SIGTERM", () => s.close().then(() => process.exit(0)));`;
  const argsv = [process.execPath, "--input-type=module", "-e", code];
  const child = spawnTracked(pin ? "taskset" : argsv[0], pin ? ["-c", "0", ...argsv] : argsv.slice(1), {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(String(d).trim()));
    child.once("exit", (c) => reject(new Error(`echo server exited ${c}`)));
  });
  return { url, stop: () => child.kill("SIGTERM") };
}

async function runMeshctl(options) {
  const out = await $`${pinClient} ${process.execPath} ${loadgen} ${JSON.stringify(options)}`.nothrow();
  const parsed = JSON.parse(out.stdout);
  if (parsed.error) throw new Error(`loadgen: ${parsed.error.code} ${parsed.error.message}`);
  return parsed;
}

const results = { machine: {}, throughput: {}, tcp: {}, stall: {}, fortioReport: {}, targets: {} };
const cpus = (await import("node:os")).cpus();
results.machine = {
  cpus: cpus.length,
  cpuModel: cpus[0]?.model,
  node: process.version,
  kernel: (await import("node:os")).release(),
};

// Which peers are installed (the fortio report check needs fortio too).
const available = {};
for (const [name, cmd] of Object.entries({
  autocannon: bin("autocannon"),
  fortio: bin("fortio"),
  wrk: "wrk",
})) {
  available[name] = existsSync(cmd) || (await have(cmd));
}

if (only.has("throughput")) {
  // 1. Closed-loop throughput against one HTTP/1.1 target, the same for every tool: meshctl's
  // echo server by default, or --target-url (e.g. a C server such as nginx, so the target's own
  // CPU cost does not cap every generator at the same rate on a 2-core machine).
  const targetKind = argv["target-url"] ? "url" : String(argv.target ?? "echo");
  if (targetKind === "nginx" && !(await have("nginx"))) {
    console.error("--target nginx needs nginx (apt-get install -y nginx-light)");
    process.exit(1);
  }
  const http = argv["target-url"]
    ? { url: String(argv["target-url"]) }
    : targetKind === "nginx"
      ? await nginxProcess()
      : await echoProcess("http1");
  results.throughputTarget = targetKind === "url" ? String(argv["target-url"]) : targetKind;
  const meshctlQps = async (threads) =>
    (
      await runMeshctl({
        target: http.url,
        max: true,
        connections,
        durationMs: seconds * 1000,
        payloadBytes: 0,
        warmupMs: 500,
        workers: threads,
      })
    ).achievedQps;
  const tools = {
    meshctl: () => meshctlQps(1),
    [`meshctl-w${workers}`]: () => meshctlQps(workers),
    autocannon: async () => {
      const j = JSON.parse(
        (await $`${pinClient} ${bin("autocannon")} -c ${connections} -d ${seconds} -j ${http.url}`).stdout,
      );
      return j.requests.total / (j.duration || seconds);
    },
    fortio: async () =>
      JSON.parse(
        (
          await $`${pinClient} ${bin("fortio")} load -qps 0 -c ${connections} -t ${seconds}s -json - -loglevel error ${http.url}`
        ).stdout.replace(/^[^{]*/, ""),
      ).ActualQPS,
    wrk: async () =>
      Number(
        /Requests\/sec:\s+([\d.]+)/.exec(
          (await $`${pinClient} wrk -t2 -c${connections} -d${seconds}s ${http.url}`).stdout,
        )?.[1],
      ),
  };
  for (const name of Object.keys(tools)) {
    if (!(name in available)) available[name] = true;
    if (!available[name])
      console.error(`skipping ${name}: not installed (see packages/bench/scripts/install-peers.sh)`);
  }
  const samples = Object.fromEntries(Object.keys(tools).map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(tools)) {
      if (!available[name]) continue;
      try {
        samples[name].push(await fn());
      } catch (err) {
        console.error(`${name} round ${r + 1} failed: ${err.message}`);
      }
    }
  }
  http.stop?.();
  for (const [name, xs] of Object.entries(samples))
    if (xs.length)
      results.throughput[name] = { medianQps: Math.round(median(xs)), samples: xs.map(Math.round) };
}

if (only.has("tcp")) {
  // 2. TCP ping-pong p50 round trip: meshctl against an echo server vs sockperf (its own server),
  //    interleaved for the same rounds; medians of the per-round p50s.
  const tcp = await echoProcess("tcp");
  const sockperfPort = await freePort();
  const withSockperf = await have("sockperf");
  const sockperfServer = withSockperf
    ? spawnTracked("sockperf", ["sr", "--tcp", "-i", "127.0.0.1", "-p", String(sockperfPort)], {
        stdio: "ignore",
      })
    : null;
  await new Promise((r) => setTimeout(r, 500));
  const tcpSamples = { meshctl: [], meshctlP99: [], rate: [], sockperf: [], sockperfAvg: [] };
  for (let r = 0; r < rounds; r++) {
    const ours = await runMeshctl({
      target: tcp.url,
      max: true,
      connections: 1,
      durationMs: seconds * 1000,
      payloadBytes: 64,
      warmupMs: 500,
    });
    tcpSamples.meshctl.push(ours.corrected.p50);
    tcpSamples.meshctlP99.push(ours.corrected.p99);
    tcpSamples.rate.push(ours.achievedQps);
    if (!withSockperf) continue;
    const out =
      await $`sockperf pp --tcp -i 127.0.0.1 -p ${sockperfPort} -m 64 -t ${seconds} --full-rtt`.nothrow();
    const p50 = /percentile 50\.000 =\s+([\d.]+)/.exec(out.stdout + out.stderr)?.[1];
    const avg = /avg-rtt=([\d.]+)/.exec(out.stdout + out.stderr)?.[1];
    if (p50) tcpSamples.sockperf.push(Number(p50));
    if (avg) tcpSamples.sockperfAvg.push(Number(avg));
  }
  tcp.stop();
  sockperfServer?.kill("SIGTERM");
  results.tcp.meshctl = {
    p50Us: median(tcpSamples.meshctl),
    p99Us: median(tcpSamples.meshctlP99),
    roundTripsPerSecond: Math.round(median(tcpSamples.rate)),
    samplesP50Us: tcpSamples.meshctl,
  };
  if (tcpSamples.sockperf.length > 0) {
    results.tcp.sockperf = {
      p50Us: median(tcpSamples.sockperf),
      avgUs: median(tcpSamples.sockperfAvg),
      samplesP50Us: tcpSamples.sockperf,
    };
  }
}

if (only.has("stall")) {
  // 3. Stall test: 10 s at 100 req/s; the server stalls once, 5 s in, for 1 s.
  const stallCode = `let first = 0, until = 0; const delayMs = () => { const now = Date.now(); if (!first) first = now; if (!until && now - first >= 5000) until = now + 1000; return now < until ? until - now : 0; };`;
  const stall = await echoProcess("http1", stallCode);
  const s = await runMeshctl({
    target: stall.url,
    qps: 100,
    connections: 4,
    durationMs: 10_000,
    payloadBytes: 0,
    warmupMs: 0,
  });
  stall.stop();
  results.stall = {
    correctedP99Us: s.corrected.p99,
    uncorrectedP99Us: s.uncorrected.p99,
    correctedMaxUs: s.corrected.max,
    achievedQps: s.achievedQps,
  };
}

if (only.has("fortio")) {
  // 4. `fortio report` serves our fortio JSON.
  if (available.fortio) {
    const dir = await mkdtemp(join(tmpdir(), "mcb-fortio-"));
    const echoForSample = await echoProcess("http1");
    const sample = await runMeshctl({
      target: echoForSample.url,
      qps: 500,
      connections: 4,
      durationMs: 2000,
      payloadBytes: 1024,
      warmupMs: 200,
    });
    echoForSample.stop();
    const file = "2026-01-01-000000_meshctl_sample.json";
    await writeFile(join(dir, file), JSON.stringify(toFortioJson(sample, { labels: "meshctl sample" })));
    const port = await freePort();
    const report = spawnTracked(
      bin("fortio"),
      ["report", "-data-dir", dir, "-http-port", `127.0.0.1:${port}`, "-redirect-port", "disabled"],
      { stdio: "ignore" },
    );
    let listed = false;
    let served = false;
    for (let i = 0; i < 50 && !served; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        listed = (await (await fetch(`http://127.0.0.1:${port}/`)).text()).includes(file);
        const data = await (await fetch(`http://127.0.0.1:${port}/data/${file}`)).json();
        served = data.DurationHistogram?.Count === sample.corrected.count;
      } catch {}
    }
    report.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
    results.fortioReport = { listed, served };
  }
}

// Targets from the issue.
const t = results.throughput;
const best = Math.max(t.meshctl?.medianQps ?? 0, t[`meshctl-w${workers}`]?.medianQps ?? 0);
const ratio = (peer) => (t[peer] ? Math.round((best / t[peer].medianQps) * 100) / 100 : null);
results.pinned = pin;
results.targets = {
  vsAutocannon: { ratio: ratio("autocannon"), target: ">= 1.5" },
  vsFortio: { ratio: ratio("fortio"), target: ">= 0.8" },
  vsWrk: { ratio: ratio("wrk"), target: ">= 0.5" },
  tcpP50VsSockperf: {
    ratio:
      results.tcp.sockperf?.p50Us && results.tcp.meshctl
        ? Math.round((results.tcp.meshctl.p50Us / results.tcp.sockperf.p50Us) * 100) / 100
        : null,
    target: "<= 2",
  },
  stall: {
    ok: results.stall.correctedP99Us >= 500_000 && results.stall.uncorrectedP99Us < 500_000,
    target: "corrected p99 >= 500 ms, uncorrected p99 < 500 ms",
  },
  fortioReport: { ok: Boolean(results.fortioReport.listed && results.fortioReport.served) },
};

if (only.has("throughput")) {
  console.log(
    `\nClosed loop, HTTP/1.1 target ${results.throughputTarget}, ${connections} connections, ${seconds}s x ${rounds} rounds${pin ? ", target on CPU 0, generators on CPU 1" : ""} (median req/s):`,
  );
  for (const [name, v] of Object.entries(t))
    console.log(`  ${name.padEnd(14)} ${String(v.medianQps).padStart(8)}   samples ${v.samples.join(", ")}`);
  console.log(
    `  meshctl (best of w1/w${workers}) vs autocannon ${results.targets.vsAutocannon.ratio}x (>= 1.5), vs fortio ${results.targets.vsFortio.ratio}x (>= 0.8), vs wrk ${results.targets.vsWrk.ratio}x (>= 0.5)`,
  );
}
if (only.has("tcp")) {
  console.log(`\nTCP ping-pong round trip, 64 B, 1 connection (median of ${rounds} interleaved rounds):`);
  console.log(
    `  meshctl  p50 ${results.tcp.meshctl.p50Us} µs, p99 ${results.tcp.meshctl.p99Us} µs, ${results.tcp.meshctl.roundTripsPerSecond} round trips/s`,
  );
  if (results.tcp.sockperf)
    console.log(
      `  sockperf p50 ${results.tcp.sockperf.p50Us} µs (avg ${results.tcp.sockperf.avgUs} µs), --full-rtt  -> ratio ${results.targets.tcpP50VsSockperf.ratio} (<= 2)`,
    );
}
if (only.has("stall"))
  console.log(
    `\nStall (100 req/s, 10 s, one 1 s stall): corrected p99 ${(results.stall.correctedP99Us / 1000).toFixed(1)} ms, uncorrected p99 ${(results.stall.uncorrectedP99Us / 1000).toFixed(1)} ms -> ${results.targets.stall.ok ? "OK" : "FAIL"}`,
  );
if (only.has("fortio"))
  console.log(
    `fortio report lists and serves our fortio JSON: ${results.targets.fortioReport.ok ? "OK" : "FAIL"}`,
  );
if (argv.json) await writeFile(argv.json, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\n${JSON.stringify(results)}`);

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
