/**
 * Where tstats' end-to-end cost goes: controlled variants of the same grpc-js echo (client and
 * server in this process), CPU per call from process.cpuUsage(), interleaved rounds, medians of
 * per-round differences against "none". Run through run-bench.mjs (plain node, no keepNames):
 *
 *   flock /tmp/meshctl-bench.lock node packages/tstats/scripts/run-bench.mjs --script profile-grpc \
 *     [--rounds 12] [--calls 4000] [--variants none,headers-req,...] [--only tstats --calls 40000]
 *
 * With --only <variant> it runs just that variant (for `node --cpu-prof`).
 */
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  InterceptingCall,
  type Interceptor,
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import {
  createTstatsClientInterceptor,
  createTstatsServerInterceptor,
  localWorkload,
  MetricRegistry,
  PEER_METADATA_HEADER,
  PEER_METADATA_ID_HEADER,
  TstatsRecorder,
  withMessageSizes,
} from "../src/index.js";
import { ECHO_SERVICE, type EchoClient, echoClient, startEchoServer } from "../test/echo-service.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "12" },
    calls: { type: "string", default: "4000" },
    variants: { type: "string" },
    only: { type: "string" },
  },
});

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function workload(name: string) {
  return localWorkload({
    instanceName: `${name}-5f7d-x2k9`,
    namespace: "default",
    workloadName: `${name}-v1`,
    clusterId: "Kubernetes",
    app: name,
    version: "v1",
    identity: `spiffe://cluster.local/ns/default/sa/${name}`,
    owner: `kubernetes://apis/apps/v1/namespaces/default/deployments/${name}-v1`,
    nodeId: `sidecar~10.0.0.1~${name}-5f7d-x2k9.default~default.svc.cluster.local`,
    istioVersion: "1.24.0",
  });
}

interface Variant {
  client: Interceptor[];
  server: ServerInterceptor[];
  /** Request metadata the application adds (no interceptor involved). */
  requestMd?: Metadata;
  /** Response headers the handler sends (no interceptor involved). */
  responseMd?: Metadata;
}

function exchangeMd(name: string): Metadata {
  const r = new TstatsRecorder({ local: workload(name) });
  const md = new Metadata();
  md.set(PEER_METADATA_HEADER, r.localMetadataHeader);
  md.set(PEER_METADATA_ID_HEADER, r.local.nodeId);
  return md;
}

const noopClient: Interceptor = (options, next) =>
  new InterceptingCall(next(options), {
    start(md, _l, n) {
      n(md, {
        onReceiveMetadata(m, nm) {
          nm(m);
        },
        onReceiveMessage(m, nm) {
          nm(m);
        },
        onReceiveStatus(s, ns) {
          ns(s);
        },
      });
    },
    sendMessage(m, n) {
      n(m);
    },
  });

const noopServer: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(m, nm) {
          nm(m);
        },
        onReceiveMessage(m, nm) {
          nm(m);
        },
      });
    },
    sendMetadata(m, n) {
      n(m);
    },
    sendMessage(m, n) {
      n(m);
    },
    sendStatus(s, n) {
      n(s);
    },
  });

function tstatsPair(mode: "cached" | "decode-every-request", extra: { exchange?: "every-request" } = {}) {
  const registry = new MetricRegistry({ istioVersion: "1.24.0" });
  const server = new TstatsRecorder({ local: workload("echo"), registry, mode });
  const client = new TstatsRecorder({ local: workload("frontend"), registry, mode });
  return {
    client: [
      createTstatsClientInterceptor(client, { target: "echo.default.svc.cluster.local:8080", ...extra }),
    ],
    server: [createTstatsServerInterceptor(server, extra)],
  };
}

const VARIANTS: Record<string, () => Variant> = {
  none: () => ({ client: [], server: [] }),
  /** Both exchange headers on requests only, added by the application. */
  "headers-req": () => ({ client: [], server: [], requestMd: exchangeMd("frontend") }),
  /** Both headers both ways, no interceptors: the transport cost of Istio's exchange. */
  "headers-both": () => ({
    client: [],
    server: [],
    requestMd: exchangeMd("frontend"),
    responseMd: exchangeMd("echo"),
  }),
  /** Only the id header both ways. */
  "id-both": () => {
    const req = new Metadata();
    req.set(PEER_METADATA_ID_HEADER, workload("frontend").nodeId);
    const res = new Metadata();
    res.set(PEER_METADATA_ID_HEADER, workload("echo").nodeId);
    return { client: [], server: [], requestMd: req, responseMd: res };
  },
  /** A second "none": the A/A check of the method's noise. */
  "none-again": () => ({ client: [], server: [] }),
  /** Two short headers both ways (same count as the exchange, ~60 bytes each). */
  "small-both": () => {
    const req = new Metadata();
    req.set(PEER_METADATA_HEADER, "x".repeat(60));
    req.set(PEER_METADATA_ID_HEADER, workload("frontend").nodeId);
    const res = new Metadata();
    res.set(PEER_METADATA_HEADER, "y".repeat(60));
    res.set(PEER_METADATA_ID_HEADER, workload("echo").nodeId);
    return { client: [], server: [], requestMd: req, responseMd: res };
  },
  /** Full headers on requests, only the id on responses (once-per-connection steady state). */
  "headers-req-id-res": () => {
    const res = new Metadata();
    res.set(PEER_METADATA_ID_HEADER, workload("echo").nodeId);
    return { client: [], server: [], requestMd: exchangeMd("frontend"), responseMd: res };
  },
  "noop-client-ic": () => ({ client: [noopClient], server: [] }),
  "noop-server-ic": () => ({ client: [], server: [noopServer] }),
  "noop-both-ic": () => ({ client: [noopClient], server: [noopServer] }),
  tstats: () => tstatsPair("cached"),
  "tstats-every-request": () => tstatsPair("cached", { exchange: "every-request" }),
  "decode-every-request": () => tstatsPair("decode-every-request"),
};

interface Target {
  client: EchoClient;
  requestMd: Metadata | undefined;
  close(): Promise<void>;
}

async function startVariant(name: string): Promise<Target> {
  const v = VARIANTS[name]!();
  const service = withMessageSizes(ECHO_SERVICE) as ServiceDefinition;
  const server = await startEchoServer({
    service,
    interceptors: v.server,
    ...(v.responseMd ? { responseMetadata: v.responseMd } : {}),
  });
  const client = echoClient(server.port, { service, interceptors: v.client });
  return {
    client,
    requestMd: v.requestMd,
    close: async () => {
      client.close();
      await server.close();
    },
  };
}

function call(t: Target): Promise<void> {
  const md = t.requestMd ? t.requestMd.clone() : new Metadata();
  return new Promise((resolve, reject) => {
    t.client.echo({ text: "hello, mesh" }, md, (err) => (err ? reject(err) : resolve()));
  });
}

async function cpuSlice(t: Target, calls: number): Promise<number> {
  let started = 0;
  if (!process.env.NOGC) gc();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (started++ < calls) await call(t);
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / calls;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

async function main() {
  const calls = Number(values.calls);
  if (values.only) {
    const t = await startVariant(values.only);
    for (let i = 0; i < 1000; i++) await call(t);
    const us = await cpuSlice(t, calls);
    process.stdout.write(`${values.only}: ${us.toFixed(1)} us CPU/call over ${calls} calls\n`);
    await t.close();
    return;
  }
  const names = values.variants ? values.variants.split(",") : Object.keys(VARIANTS);
  if (!names.includes("none")) names.unshift("none");
  const targets: Record<string, Target> = {};
  for (const n of names) targets[n] = await startVariant(n);
  for (const n of names) for (let i = 0; i < 1000; i++) await call(targets[n]!);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const rounds = Number(values.rounds);
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]!);
    for (const n of order) samples[n]!.push(await cpuSlice(targets[n]!, calls));
  }
  for (const n of names) await targets[n]!.close();
  process.stdout.write(`${rounds} rounds x ${calls} calls per variant, CPU us per call\n`);
  const base = quantile(samples.none!, 0.5);
  for (const n of names) {
    const diffs = samples[n]!.map((v, i) => v - samples.none![i]!);
    const ratios = samples[n]!.map((v, i) => v / samples.none![i]! - 1);
    process.stdout.write(
      `  ${n.padEnd(22)} ${quantile(samples[n]!, 0.5).toFixed(1).padStart(7)}   added ${quantile(diffs, 0.5).toFixed(1).padStart(6)} (IQR ${quantile(diffs, 0.25).toFixed(1)}..${quantile(diffs, 0.75).toFixed(1)})   ratio-based ${(quantile(ratios, 0.5) * base).toFixed(1).padStart(6)} (IQR ${(quantile(ratios, 0.25) * base).toFixed(1)}..${(quantile(ratios, 0.75) * base).toFixed(1)})  p10 ${(quantile(samples[n]!, 0.1) - quantile(samples.none!, 0.1)).toFixed(1)}\n`,
    );
  }
}

await main();
