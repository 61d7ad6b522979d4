/**
 * xDS push benchmark: N simulated proxyless-gRPC ADS clients (SotW, each ACKing) subscribe to a
 * mesh of S services; then endpoint edits are written to the watched directory and we measure
 * how long until every client has the new EDS (convergence), plus generation cost per proxy.
 *
 * Run: npm run bench:xds -- [--clients 50] [--services 50] [--rounds 10]
 * (root script: node --conditions=@meshctl/source --import tsx packages/xds/scripts/bench-push.ts)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  generateProxyConfig,
  loadMeshDirectory,
  PushContext,
  proxyFromNode,
  startXdsServer,
  TYPE_URLS,
} from "../src/index.js";
import {
  connectAdsTestClient,
  endpointSlice,
  k8sService,
  type SotwResponse,
  writeMeshFiles,
} from "../src/testing/index.js";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "50" },
    services: { type: "string", default: "50" },
    rounds: { type: "string", default: "10" },
  },
});
const CLIENTS = Number(values.clients);
const SERVICES = Number(values.services);
const ROUNDS = Number(values.rounds);

function meshFiles(round: number) {
  const files: Record<string, ReturnType<typeof k8sService>[]> = {};
  for (let i = 0; i < SERVICES; i++) {
    files[`svc-${i}.yaml`] = [
      k8sService({ name: `svc-${i}`, namespace: "bench", port: 7070 }),
      ...endpointSlice({
        name: `svc-${i}`,
        namespace: "bench",
        service: `svc-${i}`,
        // svc-0 changes every round; the others stay put.
        endpoints: [{ port: 20000 + i }, { port: 30000 + (i === 0 ? round : 0) }],
      }),
    ];
  }
  return files;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const dir = await mkdtemp(join(tmpdir(), "mcx-xds-bench-"));
await writeMeshFiles(dir, meshFiles(0));

// 1. Generation cost (no network): one proxy's full config, encoded.
const snap = await loadMeshDirectory(dir);
const proxy = proxyFromNode({ id: "grpc~127.0.0.1~b.bench~bench.svc.cluster.local" });
const genTimes: number[] = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  // A fresh PushContext each time: the cold cost (proxies with the same view then share it).
  generateProxyConfig(new PushContext(snap.model, `bench-${i}`), proxy);
  genTimes.push(performance.now() - t);
}
genTimes.sort((a, b) => a - b);

// 2. Convergence: edit -> every client has the new CLA for svc-0.
const xds = await startXdsServer({ configDir: dir, port: 0, debugPort: false, pollMs: 60_000 });
const target = "outbound|7070||svc-0.bench.svc.cluster.local";
const clients = [];
const latest: (string | undefined)[] = [];
for (let c = 0; c < CLIENTS; c++) {
  const client = await connectAdsTestClient({
    address: xds.address,
    protocol: "sotw",
    nodeId: `grpc~127.0.0.1~c${c}.bench~bench.svc.cluster.local`,
  });
  const names = Array.from({ length: SERVICES }, (_, i) => `outbound|7070||svc-${i}.bench.svc.cluster.local`);
  client.send({ type_url: TYPE_URLS.eds, resource_names: names });
  const first = await client.next(10_000);
  client.send({
    type_url: TYPE_URLS.eds,
    resource_names: names,
    version_info: first.version_info,
    response_nonce: first.nonce,
  });
  clients.push(client);
}
const convergence: number[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const marks = clients.map((c) => c.responses.length);
  const start = performance.now();
  await writeMeshFiles(dir, { "svc-0.yaml": meshFiles(round)["svc-0.yaml"] as never });
  const want = `${30000 + round}`;
  const done = new Array<number>(CLIENTS).fill(0);
  while (done.some((d) => d === 0)) {
    for (let c = 0; c < CLIENTS; c++) {
      if (done[c]) continue;
      const fresh = (clients[c]?.responses ?? []).slice(marks[c]) as SotwResponse[];
      if (
        fresh.some((r) =>
          r.resources.some((x) => x.name === target && JSON.stringify(x.value).includes(want)),
        )
      )
        done[c] = performance.now() - start;
    }
    if (performance.now() - start > 10_000) throw new Error(`round ${round}: not converged after 10 s`);
    await new Promise((r) => setTimeout(r, 1));
  }
  convergence.push(Math.max(...done));
  latest.push(want);
}
convergence.sort((a, b) => a - b);
for (const c of clients) c.close();
const metrics = xds.metrics();
await xds.close();
await rm(dir, { recursive: true, force: true });

const result = {
  clients: CLIENTS,
  services: SERVICES,
  rounds: ROUNDS,
  generateMsPerProxy: { p50: percentile(genTimes, 50), p90: percentile(genTimes, 90) },
  convergenceMsAllClients: {
    p50: percentile(convergence, 50),
    p90: percentile(convergence, 90),
    max: convergence.at(-1),
  },
  edsPushes: Number(/meshctl_xds_pushes_total\{type="eds"\} (\d+)/.exec(metrics)?.[1] ?? 0),
};
process.stdout.write(
  `xDS push bench: ${CLIENTS} SotW clients x ${SERVICES} services, ${ROUNDS} endpoint edits\n` +
    `  generate one proxy's config: p50 ${result.generateMsPerProxy.p50.toFixed(2)} ms, p90 ${result.generateMsPerProxy.p90.toFixed(2)} ms\n` +
    `  file edit -> all clients have new EDS: p50 ${result.convergenceMsAllClients.p50.toFixed(1)} ms, p90 ${result.convergenceMsAllClients.p90.toFixed(1)} ms, max ${result.convergenceMsAllClients.max?.toFixed(1)} ms\n` +
    `${JSON.stringify(result)}\n`,
);
