/**
 * Loopback ping-pong latency, kernel vs VPP's host stack through VCL LD_PRELOAD: the method behind
 * the "2-core caution" in docs/vpp.md (sockperf, 14-byte messages, server and client on one CPU).
 *
 *   flock /tmp/meshctl-bench.lock npx tsx --conditions=@meshctl/source packages/vpp/scripts/bench-loopback.ts \
 *     [--seconds 10] [--rounds 3] [--cpu 1] [--json out.json]
 *
 * Kernel TCP and UDP over 127.0.0.1 always run. The VPP host-stack UDP scenario (two app
 * namespaces on loopback interfaces, as in the recorded fixtures) runs when `vpp` is on PATH and
 * libvcl_ldpreload.so exists (--vcl-lib); otherwise it is skipped with the reason printed. VPP TCP
 * is not measured: sockperf's TCP client calls sendto() with an address, which LDP rejects.
 * Rounds are interleaved (A B C A B C ...); the report gives the median of the per-run values.
 */
import { access, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { findProgram, runCommand, type SpawnedProgram, spawnProgram } from "@meshctl/core";
import { DEFAULT_LDPRELOAD_PATH, renderStartupConf, renderVclConf, VppCliClient } from "../src/index.js";
import { parseSockperfOutput, type SockperfResult } from "./sockperf.js";

const say = (text: string) => process.stdout.write(`${text}\n`);
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    cpu: { type: "string", default: "1" },
    json: { type: "string" },
    "vcl-lib": { type: "string", default: DEFAULT_LDPRELOAD_PATH },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const cpu = values.cpu ?? "1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Scenario {
  readonly name: string;
  readonly proto: "tcp" | "udp";
  readonly host: string;
  readonly serverEnv?: Record<string, string>;
  readonly clientEnv?: Record<string, string>;
}

async function measure(s: Scenario, port: number): Promise<SockperfResult> {
  const proto = s.proto === "tcp" ? ["--tcp"] : [];
  const env = (extra?: Record<string, string>) => ({ ...(process.env as Record<string, string>), ...extra });
  const server: SpawnedProgram = spawnProgram(
    "taskset",
    ["-c", cpu, "sockperf", "server", "-i", s.host, "-p", String(port), ...proto],
    { env: env(s.serverEnv) },
  );
  try {
    await sleep(700);
    const client = await runCommand(
      "taskset",
      ["-c", cpu, "sockperf", "ping-pong", "-i", s.host, "-p", String(port), "-t", String(seconds), ...proto],
      {
        env: env(s.clientEnv),
        timeoutMs: (seconds + 30) * 1000,
      },
    );
    return parseSockperfOutput(client.stdout);
  } finally {
    server.kill("SIGTERM");
    await server.exited;
  }
}

async function startVppHostStack(dir: string): Promise<{ vpp: SpawnedProgram; scenario: Scenario } | string> {
  const vppBin = await findProgram("vpp");
  if (!vppBin) return "no `vpp` binary on PATH";
  const lib = values["vcl-lib"] ?? DEFAULT_LDPRELOAD_PATH;
  if (
    !(await access(lib).then(
      () => true,
      () => false,
    ))
  )
    return `${lib} not found (--vcl-lib)`;
  const conf = renderStartupConf({
    unix: { nodaemon: true, cliListen: join(dir, "cli.sock"), runtimeDir: dir, log: join(dir, "vpp.log") },
    socksvr: { socketName: join(dir, "api.sock") },
    statseg: { socketName: join(dir, "stats.sock"), pageSize: "4k" },
    memory: { mainHeapSize: "1G", mainHeapPageSize: "4k" },
    buffers: { buffersPerNuma: 16384, pageSize: "4k" },
    cpu: { mainCore: 0 },
    session: { enable: true, useAppSocketApi: true },
    plugins: { plugin: { "dpdk_plugin.so": { disable: true } } },
  });
  await writeFile(join(dir, "startup.conf"), conf);
  const vpp = spawnProgram(vppBin, ["-c", join(dir, "startup.conf")]);
  for (
    let i = 0;
    i < 100 &&
    !(await stat(join(dir, "cli.sock")).then(
      () => true,
      () => false,
    ));
    i++
  )
    await sleep(100);
  const cli = new VppCliClient({ socketPath: join(dir, "cli.sock") });
  // The host-stack setup of the recorded latency runs (fixtures/vpp/config/hoststack.cli).
  for (const line of [
    "create loopback interface",
    "create loopback interface",
    "ip table add 1",
    "ip table add 2",
    "set interface ip table loop0 1",
    "set interface ip table loop1 2",
    "set interface state loop0 up",
    "set interface state loop1 up",
    "set interface ip address loop0 127.1.0.1/24",
    "set interface ip address loop1 127.2.0.1/24",
    "app ns add id 1 secret 1234 if loop0",
    "app ns add id 2 secret 5678 if loop1",
    "ip route add 127.2.0.1/32 table 1 via ip4-lookup-in-table 2",
    "ip route add 127.1.0.1/32 table 2 via ip4-lookup-in-table 1",
    "set urpf-accept table 1 127.2.0.1/32 add",
    "set urpf-accept table 2 127.1.0.1/32 add",
  ]) {
    await cli.run(line);
  }
  const vcl = async (name: string, ns: string, secret: string) => {
    const path = join(dir, name);
    await writeFile(
      path,
      renderVclConf({
        rxFifoSize: 4_000_000,
        txFifoSize: 4_000_000,
        appScopeGlobal: true,
        appSocketApi: join(dir, "app_ns_sockets", ns),
        namespaceId: ns,
        namespaceSecret: secret,
        useMqEventfd: true,
      }),
    );
    return { LD_PRELOAD: lib, VCL_CONFIG: path };
  };
  return {
    vpp,
    scenario: {
      name: "vpp-hoststack-udp",
      proto: "udp",
      host: "127.1.0.1",
      serverEnv: await vcl("vcl-server.conf", "1", "1234"),
      clientEnv: await vcl("vcl-client.conf", "2", "5678"),
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : Number.NaN;
};

const dir = await mkdtemp(join(tmpdir(), "mcv-bench-"));
let vpp: SpawnedProgram | undefined;
try {
  const scenarios: Scenario[] = [
    { name: "kernel-tcp", proto: "tcp", host: "127.0.0.1" },
    { name: "kernel-udp", proto: "udp", host: "127.0.0.1" },
  ];
  const started = await startVppHostStack(dir);
  if (typeof started === "string") say(`[skip] vpp-hoststack-udp: ${started}`);
  else {
    vpp = started.vpp;
    scenarios.push(started.scenario);
  }
  const runs = new Map<string, SockperfResult[]>(scenarios.map((s) => [s.name, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const s of scenarios) {
      const port = 13000 + Math.floor(Math.random() * 1000);
      const result = await measure(s, port);
      runs.get(s.name)!.push(result);
      say(
        `round ${r} ${s.name.padEnd(18)} avg ${result.avgUs.toFixed(3)} µs  p50 ${result.p50Us.toFixed(3)}  p99 ${result.p99Us.toFixed(3)}`,
      );
    }
  }
  const summary = scenarios.map((s) => {
    const rs = runs.get(s.name)!;
    return {
      scenario: s.name,
      runs: rs.length,
      medianAvgUs: median(rs.map((x) => x.avgUs)),
      medianP50Us: median(rs.map((x) => x.p50Us)),
      medianP99Us: median(rs.map((x) => x.p99Us)),
    };
  });
  say("\nscenario            runs  median avg µs  median p50 µs  median p99 µs");
  for (const s of summary)
    say(
      `${s.scenario.padEnd(20)}${String(s.runs).padEnd(6)}${s.medianAvgUs.toFixed(3).padStart(13)}${s.medianP50Us.toFixed(3).padStart(15)}${s.medianP99Us.toFixed(3).padStart(15)}`,
    );
  const json = { tool: "sockperf ping-pong", seconds, rounds, cpu, summary, runs: Object.fromEntries(runs) };
  say(JSON.stringify(json));
  if (values.json) await writeFile(values.json, JSON.stringify(json, null, 2));
} finally {
  vpp?.kill("SIGTERM");
  await vpp?.exited;
  await rm(dir, { recursive: true, force: true });
}
