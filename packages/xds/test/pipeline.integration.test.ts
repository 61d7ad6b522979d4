/**
 * The push pipeline end to end over real gRPC streams: endpoint-only changes become EDS-only
 * pushes (no cluster, listener or route regenerated or re-sent, each changed CLA serialized
 * once), scoping decides who is pushed, and proxies with the same view share their config.
 */
import { afterEach, describe, expect, test } from "vitest";
import { staticMeshSource } from "../src/model/static-source.js";
import { TYPE_URLS } from "../src/protocol/protos.js";
import { startXdsServer, type XdsServerHandle } from "../src/server/start.js";
import {
  type AdsTestClient,
  connectAdsTestClient,
  type SotwResponse,
  waitFor,
} from "../src/testing/index.js";
import { metricValue } from "./helpers.js";

const service = (ns: string, name: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: ns },
  spec: { ports: [{ name: "http", port: 8080 }] },
});
const slice = (ns: string, name: string, addresses: string[]) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: `${name}-0`, namespace: ns, labels: { "kubernetes.io/service-name": name } },
  addressType: "IPv4",
  ports: [{ name: "http", port: 8080 }],
  endpoints: addresses.map((a) => ({ addresses: [a] })),
});
const sidecar = (ns: string) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "Sidecar",
  metadata: { name: "default", namespace: ns },
  spec: { egress: [{ hosts: ["./*"] }] },
});
const mesh = (aEndpoints: string[]) => [
  service("a", "svc"),
  slice("a", "svc", aEndpoints),
  service("b", "svc"),
  slice("b", "svc", ["10.2.0.1"]),
  sidecar("a"),
  sidecar("b"),
];
const A_CLUSTER = "outbound|8080||svc.a.svc.cluster.local";

const metric = metricValue;

/** An Envoy-shaped SotW client: CDS wildcard, then EDS for every cluster it got; ACKs everything. */
async function envoyLike(address: string, nodeId: string): Promise<AdsTestClient<SotwResponse>> {
  const c = await connectAdsTestClient({ address, protocol: "sotw", nodeId });
  c.send({ type_url: TYPE_URLS.cds, resource_names: [] });
  const cds = await c.next();
  c.send({
    type_url: TYPE_URLS.cds,
    resource_names: [],
    version_info: cds.version_info,
    response_nonce: cds.nonce,
  });
  const eds = cds.resources.filter((r) => r.value.type === "EDS").map((r) => r.name);
  c.send({ type_url: TYPE_URLS.eds, resource_names: eds });
  const e = await c.next();
  c.send({
    type_url: TYPE_URLS.eds,
    resource_names: eds,
    version_info: e.version_info,
    response_nonce: e.nonce,
  });
  c.send({ type_url: TYPE_URLS.lds, resource_names: [] });
  const l = await c.next();
  c.send({
    type_url: TYPE_URLS.lds,
    resource_names: [],
    version_info: l.version_info,
    response_nonce: l.nonce,
  });
  return c;
}

describe("push pipeline", () => {
  let xds: XdsServerHandle | undefined;
  const clients: AdsTestClient<SotwResponse>[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await xds?.close();
  });

  test("an endpoint change is an EDS-only push to the proxies that see it, its CLA serialized once", async () => {
    const source = staticMeshSource(mesh(["10.1.0.1"]));
    xds = await startXdsServer({ source, port: 0, debugPort: false, debounceAfterMs: 20 });
    const a1 = await envoyLike(xds.address, "sidecar~10.1.0.1~p1.a~a.svc.cluster.local");
    const a2 = await envoyLike(xds.address, "sidecar~10.1.0.9~p2.a~a.svc.cluster.local");
    const b1 = await envoyLike(xds.address, "sidecar~10.2.0.1~p1.b~b.svc.cluster.local");
    clients.push(a1, a2, b1);
    // Same view (type, namespace, Sidecar): the second sidecar reused the outbound config.
    const before = xds.metrics();
    expect(metric(before, "meshctl_xds_cache_misses_total", 'type="view"')).toBe(2); // views a and b
    expect(metric(before, "meshctl_xds_cache_hits_total", 'type="view"')).toBe(1);

    source.update(mesh(["10.1.0.1", "10.1.0.2"]));
    const [ra1, ra2, rb1] = await Promise.all([a1.collectFor(400), a2.collectFor(400), b1.collectFor(400)]);
    for (const got of [ra1, ra2]) {
      expect(got.map((r) => r.type_url)).toEqual([TYPE_URLS.eds]);
      expect(got[0]?.resources.map((r) => r.name)).toEqual([A_CLUSTER]);
    }
    expect(rb1).toEqual([]); // namespace b cannot see namespace a: not pushed at all
    const after = xds.metrics();
    const delta = (name: string, labels: string) =>
      metric(after, name, labels) - metric(before, name, labels);
    expect(delta("meshctl_xds_cache_misses_total", 'type="eds"')).toBe(1); // one serialization for 2 proxies
    for (const t of ["cds", "view", "inbound"])
      expect(delta("meshctl_xds_cache_misses_total", `type="${t}"`)).toBe(0);
    expect(delta("meshctl_xds_proxy_pushes_total", 'type="eds"')).toBe(2);
    expect(delta("meshctl_xds_proxy_pushes_total", 'type="full"')).toBe(0);
    expect(delta("meshctl_xds_proxies_skipped_total", "")).toBe(1);
    // ACKs of those pushes are measured as convergence (change -> ACK).
    for (const [c, got] of [
      [a1, ra1],
      [a2, ra2],
    ] as const)
      c.send({
        type_url: TYPE_URLS.eds,
        resource_names: [A_CLUSTER],
        version_info: got[0]?.version_info,
        response_nonce: got[0]?.nonce,
      });
    await waitFor(
      () =>
        metric(xds?.metrics() ?? "", "meshctl_xds_proxy_convergence_time_seconds_count", 'type="eds"') >= 2,
      {
        what: "convergence samples",
      },
    );
  });

  test("a change of a proxy's own endpoint is a full push for that proxy only (inbound listeners)", async () => {
    const source = staticMeshSource(mesh(["10.1.0.1", "10.1.0.2"]));
    xds = await startXdsServer({ source, port: 0, debugPort: false, debounceAfterMs: 20 });
    const own = await envoyLike(xds.address, "sidecar~10.1.0.3~p1.a~a.svc.cluster.local");
    const other = await envoyLike(xds.address, "sidecar~10.1.0.9~p2.a~a.svc.cluster.local");
    clients.push(own, other);
    source.update(mesh(["10.1.0.1", "10.1.0.2", "10.1.0.3"]));
    const [rOwn, rOther] = await Promise.all([own.collectFor(400), other.collectFor(400)]);
    expect(rOther.map((r) => r.type_url)).toEqual([TYPE_URLS.eds]);
    const ownTypes = rOwn.map((r) => r.type_url);
    expect(ownTypes).toContain(TYPE_URLS.lds); // its virtualInbound now has the 8080 chain
    const lds = rOwn.find((r) => r.type_url === TYPE_URLS.lds);
    const inbound = lds?.resources.find((r) => r.name === "virtualInbound");
    expect(JSON.stringify(inbound?.value)).toContain("inbound|8080||");
  });

  test("debounce: a burst of changes is one push; a config change re-sends clusters", async () => {
    const source = staticMeshSource(mesh(["10.1.0.1"]));
    xds = await startXdsServer({ source, port: 0, debugPort: false, debounceAfterMs: 100 });
    const a1 = await envoyLike(xds.address, "sidecar~10.1.0.9~p1.a~a.svc.cluster.local");
    clients.push(a1);
    for (let i = 2; i < 7; i++) source.update(mesh(Array.from({ length: i }, (_, k) => `10.1.0.${k + 1}`)));
    const got = await a1.collectFor(500);
    expect(got).toHaveLength(1);
    expect(JSON.stringify(got[0]?.resources[0]?.value)).toContain("10.1.0.6");
    const m = xds.metrics();
    expect(metric(m, "meshctl_xds_push_triggers_total", 'type="eds"')).toBe(1);
    expect(metric(m, "meshctl_xds_debounce_merged_total")).toBe(4);
    // A definition change (a new port) is a full push: the cluster set changes.
    source.update([
      {
        ...service("a", "svc"),
        spec: {
          ports: [
            { name: "http", port: 8080 },
            { name: "http-2", port: 9090 },
          ],
        },
      },
      ...mesh(Array.from({ length: 6 }, (_, k) => `10.1.0.${k + 1}`)).slice(1),
    ]);
    const full = await a1.collectFor(500);
    expect(full.map((r) => r.type_url)).toContain(TYPE_URLS.cds);
    const cds = full.find((r) => r.type_url === TYPE_URLS.cds);
    expect(cds?.resources.map((r) => r.name)).toContain("outbound|9090||svc.a.svc.cluster.local");
  });

  test("scoping off pushes everyone; cache off serializes the CLA once per proxy", async () => {
    const source = staticMeshSource(mesh(["10.1.0.1"]));
    xds = await startXdsServer({
      source,
      port: 0,
      debugPort: false,
      debounceAfterMs: 20,
      scoping: false,
      cache: false,
    });
    const a1 = await envoyLike(xds.address, "sidecar~10.1.0.8~p1.a~a.svc.cluster.local");
    const a2 = await envoyLike(xds.address, "sidecar~10.1.0.9~p2.a~a.svc.cluster.local");
    const b1 = await envoyLike(xds.address, "sidecar~10.2.0.9~p1.b~b.svc.cluster.local");
    clients.push(a1, a2, b1);
    const before = xds.metrics();
    source.update(mesh(["10.1.0.1", "10.1.0.2"]));
    const rb1 = await b1.collectFor(400);
    // Without scoping b sees a's service too, so it gets the EDS update as well.
    expect(rb1.map((r) => r.type_url)).toEqual([TYPE_URLS.eds]);
    const after = xds.metrics();
    expect(
      metric(after, "meshctl_xds_cache_misses_total", 'type="eds"') -
        metric(before, "meshctl_xds_cache_misses_total", 'type="eds"'),
    ).toBe(3);
  });
});

describe("new-stream rate limit", () => {
  test("streams beyond --max-streams-per-second that would wait over a second get RESOURCE_EXHAUSTED", async () => {
    const xds = await startXdsServer({
      source: staticMeshSource(mesh(["10.1.0.1"])),
      port: 0,
      debugPort: false,
      maxStreamsPerSecond: 1,
    });
    const clients: AdsTestClient<SotwResponse>[] = [];
    try {
      // One token: the first stream is served at once, the second waits a second, the rest are refused.
      for (let i = 0; i < 4; i++)
        clients.push(
          await connectAdsTestClient({
            address: xds.address,
            protocol: "sotw",
            nodeId: `sidecar~10.1.0.${50 + i}~p${i}.a~a.svc.cluster.local`,
          }),
        );
      for (const c of clients) c.send({ type_url: TYPE_URLS.cds, resource_names: [] });
      const outcomes = await Promise.all(
        clients.map((c) =>
          c.next(3000).then(
            () => "served",
            (e: { code?: number }) => (e.code === 8 ? "exhausted" : `error ${String(e)}`),
          ),
        ),
      );
      expect(outcomes.filter((o) => o === "served")).toHaveLength(2);
      expect(outcomes.filter((o) => o === "exhausted")).toHaveLength(2);
      expect(metricValue(xds.metrics(), "meshctl_xds_rejected_streams_total")).toBe(2);
    } finally {
      for (const c of clients) c.close();
      await xds.close();
    }
  });
});
