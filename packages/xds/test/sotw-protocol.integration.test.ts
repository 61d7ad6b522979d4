import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { TYPE_URLS } from "../src/index.js";
import {
  type AdsTestClient,
  connectAdsTestClient,
  endpointSlice,
  k8sService,
  type SotwResponse,
  waitFor,
  writeMeshFiles,
} from "../src/testing/index.js";
import { createLab, type Lab } from "./helpers.js";

const GRPC_NODE = "grpc~127.0.0.1~app.demo~demo.svc.cluster.local";
const ECHO_L = "echo.demo.svc.cluster.local:7070";
const OTHER_L = "other.demo.svc.cluster.local:8080";
const LATE_L = "late.demo.svc.cluster.local:9090";

function svc(name: string, port: number, endpointPorts: number[]) {
  return [
    k8sService({ name, namespace: "demo", port }),
    ...endpointSlice({
      name,
      namespace: "demo",
      service: name,
      endpoints: endpointPorts.map((p) => ({ port: p })),
    }),
  ];
}

describe("SotW ADS at protocol level", () => {
  let lab: Lab;
  const open: AdsTestClient<SotwResponse>[] = [];
  const connect = async (nodeId = GRPC_NODE) => {
    const c = await connectAdsTestClient({ address: lab.xds.address, protocol: "sotw", nodeId });
    open.push(c);
    return c;
  };
  const base = () => ({
    "echo.yaml": svc("echo", 7070, [17070]),
    "other.yaml": svc("other", 8080, [18080]),
    "late.yaml": null,
  });

  let baseHash = "";
  beforeAll(async () => {
    lab = await createLab((dir) => writeMeshFiles(dir, base()));
    baseHash = lab.xds.mesh().hash;
  });
  afterEach(async () => {
    for (const c of open.splice(0)) c.close();
    await writeMeshFiles(lab.dir, base());
    await waitFor(() => lab.xds.mesh().hash === baseHash, { what: "reset" });
    await waitFor(() => lab.xds.settled(), { what: "the change to be pushed" });
  });
  afterAll(async () => lab?.close());

  test("LDS responses carry the full subscribed set; an ACK gets no response", async () => {
    const c = await connect();
    c.send({ type_url: TYPE_URLS.lds, resource_names: [ECHO_L, OTHER_L, LATE_L] });
    const r1 = await c.next();
    expect(r1.resources.map((r) => r.name).sort()).toEqual([ECHO_L, OTHER_L]);
    const listener = r1.resources[0]?.value as {
      api_listener: { api_listener: { http_filters: { name: string }[] } };
    };
    const hcm = listener.api_listener.api_listener;
    expect(hcm.http_filters.map((f) => f.name)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.router",
    ]);
    c.send({
      type_url: TYPE_URLS.lds,
      resource_names: [ECHO_L, OTHER_L, LATE_L],
      version_info: r1.version_info,
      response_nonce: r1.nonce,
    });
    expect(await c.collectFor(200)).toEqual([]);
    // One listener appears: the response still carries all three, not just the new one.
    await writeMeshFiles(lab.dir, { "late.yaml": svc("late", 9090, [19090]) });
    const r2 = await c.next();
    expect(r2.type_url).toBe(TYPE_URLS.lds);
    expect(r2.resources.map((r) => r.name).sort()).toEqual([ECHO_L, LATE_L, OTHER_L]);
    c.send({
      type_url: TYPE_URLS.lds,
      resource_names: [ECHO_L, OTHER_L, LATE_L],
      version_info: r2.version_info,
      response_nonce: r2.nonce,
    });
    // One disappears: the full set without it means "deleted".
    await writeMeshFiles(lab.dir, { "other.yaml": null });
    const r3 = await c.next();
    expect(r3.resources.map((r) => r.name).sort()).toEqual([ECHO_L, LATE_L]);
  });

  test("a resource requested before it exists is sent when it appears", async () => {
    const c = await connect();
    c.send({ type_url: TYPE_URLS.lds, resource_names: [LATE_L] });
    const r1 = await c.next();
    expect(r1.resources).toEqual([]); // full-state type: an empty first answer says "does not exist (yet)"
    c.send({
      type_url: TYPE_URLS.lds,
      resource_names: [LATE_L],
      version_info: r1.version_info,
      response_nonce: r1.nonce,
    });
    await writeMeshFiles(lab.dir, { "late.yaml": svc("late", 9090, [19090]) });
    const r2 = await c.next();
    expect(r2.resources.map((r) => r.name)).toEqual([LATE_L]);
  });

  test("NACKs are recorded and never answered with the same resources; stale nonces are ignored", async () => {
    const c = await connect();
    c.send({ type_url: TYPE_URLS.cds, resource_names: ["outbound|7070||echo.demo.svc.cluster.local"] });
    const r1 = await c.next();
    c.send({
      type_url: TYPE_URLS.cds,
      resource_names: ["outbound|7070||echo.demo.svc.cluster.local"],
      version_info: "",
      response_nonce: r1.nonce,
      error_detail: { code: 3, message: "test: cluster rejected" },
    });
    expect(await c.collectFor(300)).toEqual([]);
    const status = lab.xds.clients().find((s) => s.nodeId === GRPC_NODE);
    expect(status?.types.cds).toMatchObject({
      nacks: 1,
      lastNackError: "test: cluster rejected",
      nackedVersion: "",
    });
    // A request with an old nonce is not answered, even if it changes names.
    c.send({
      type_url: TYPE_URLS.cds,
      resource_names: ["outbound|8080||other.demo.svc.cluster.local"],
      response_nonce: "0",
    });
    expect(await c.collectFor(200)).toEqual([]);
    expect(lab.xds.clients().find((s) => s.nodeId === GRPC_NODE)?.types.cds?.staleNonces).toBe(1);
  });

  test("no response when only resources the client did not subscribe to change", async () => {
    const c = await connect();
    c.send({ type_url: TYPE_URLS.eds, resource_names: ["outbound|7070||echo.demo.svc.cluster.local"] });
    const r1 = await c.next();
    c.send({
      type_url: TYPE_URLS.eds,
      resource_names: ["outbound|7070||echo.demo.svc.cluster.local"],
      version_info: r1.version_info,
      response_nonce: r1.nonce,
    });
    await writeMeshFiles(lab.dir, { "other.yaml": svc("other", 8080, [18080, 18081]) });
    await waitFor(() => lab.xds.mesh().model.endpoints.get("other.demo.svc.cluster.local")?.length === 2, {
      what: "other to change",
    });
    await waitFor(() => lab.xds.settled(), { what: "the change to be pushed" });
    expect(await c.collectFor(300)).toEqual([]);
  });

  test("pushes go CDS -> EDS -> LDS -> RDS for an Envoy sidecar", async () => {
    const c = await connect("sidecar~127.0.0.1~app.demo~demo.svc.cluster.local");
    const acked = new Map<string, SotwResponse>();
    const ack = (r: SotwResponse, names: string[] = []) => {
      acked.set(r.type_url, r);
      c.send({
        type_url: r.type_url,
        resource_names: names,
        version_info: r.version_info,
        response_nonce: r.nonce,
      });
    };
    c.send({ type_url: TYPE_URLS.cds, resource_names: [] });
    const cds = await c.next();
    const edsNames = cds.resources.filter((r) => r.value.type === "EDS").map((r) => r.name);
    ack(cds);
    c.send({ type_url: TYPE_URLS.eds, resource_names: edsNames });
    ack(await c.next(), edsNames);
    c.send({ type_url: TYPE_URLS.lds, resource_names: [] });
    const lds = await c.next();
    expect(lds.resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(["virtualOutbound", "virtualInbound", "0.0.0.0_7070", "0.0.0.0_8080"]),
    );
    ack(lds);
    c.send({ type_url: TYPE_URLS.rds, resource_names: ["7070", "8080"] });
    ack(await c.next(), ["7070", "8080"]);
    // One edit that changes subscribed resources of all four types: a new service (CDS, LDS),
    // a new echo endpoint (EDS) and a VirtualService for echo (RDS 7070).
    await writeMeshFiles(lab.dir, {
      "late.yaml": [
        ...svc("late", 9090, [19090]),
        ...endpointSlice({
          name: "echo-extra",
          namespace: "demo",
          service: "echo",
          endpoints: [{ port: 17071 }],
        }),
        {
          apiVersion: "networking.istio.io/v1",
          kind: "VirtualService",
          metadata: { name: "echo", namespace: "demo" },
          spec: { hosts: ["echo"], http: [{ timeout: "3s", route: [{ destination: { host: "echo" } }] }] },
        },
      ],
    });
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push((await c.next()).type_url);
    expect(order.map((t) => t.split(".").at(-1))).toEqual([
      "Cluster",
      "ClusterLoadAssignment",
      "Listener",
      "RouteConfiguration",
    ]);
    expect(order).toEqual([TYPE_URLS.cds, TYPE_URLS.eds, TYPE_URLS.lds, TYPE_URLS.rds]);
  });

  test("a cluster deleted and restored: its unchanged endpoints are sent again when EDS resubscribes", async () => {
    // As Envoy does: a cluster that leaves CDS leaves the EDS subscription; when it comes back,
    // the EDS request names it again and must get its ClusterLoadAssignment, unchanged or not.
    const c = await connect("sidecar~127.0.0.1~app.demo~demo.svc.cluster.local");
    const OTHER = "outbound|8080||other.demo.svc.cluster.local";
    const ECHO = "outbound|7070||echo.demo.svc.cluster.local";
    const ackOf = (r: SotwResponse, names: string[]) => ({
      type_url: r.type_url,
      resource_names: names,
      version_info: r.version_info,
      response_nonce: r.nonce,
    });
    c.send({ type_url: TYPE_URLS.cds, resource_names: [] });
    let cds = await c.next();
    c.send(ackOf(cds, []));
    c.send({ type_url: TYPE_URLS.eds, resource_names: [ECHO, OTHER] });
    let eds = await c.next();
    expect(eds.resources.map((r) => r.name).sort()).toEqual([ECHO, OTHER]);
    c.send(ackOf(eds, [ECHO, OTHER]));

    await writeMeshFiles(lab.dir, { "other.yaml": null });
    cds = await c.next(10_000);
    expect(cds.type_url).toBe(TYPE_URLS.cds);
    expect(cds.resources.map((r) => r.name)).not.toContain(OTHER);
    c.send(ackOf(cds, []));
    c.send(ackOf(eds, [ECHO]));
    for (const r of await c.collectFor(500)) {
      if (r.type_url === TYPE_URLS.eds) {
        eds = r;
        c.send(ackOf(r, [ECHO]));
      }
    }

    await writeMeshFiles(lab.dir, { "other.yaml": svc("other", 8080, [18080]) });
    cds = await c.next(10_000);
    expect(cds.resources.map((r) => r.name)).toContain(OTHER);
    c.send(ackOf(cds, []));
    c.send(ackOf(eds, [ECHO, OTHER]));
    // A push of EDS for the old set may cross the request (its nonce then is stale): as Envoy
    // does, every response is ACKed with the names wanted now.
    let back: SotwResponse | undefined;
    for (let i = 0; i < 4 && !back?.resources.some((r) => r.name === OTHER); i++) {
      back = await c.next(5000);
      expect(back.type_url).toBe(TYPE_URLS.eds);
      c.send(ackOf(back, [ECHO, OTHER]));
    }
    // EDS may carry just what changed for the client (only CDS and LDS are whole sets).
    expect(back?.resources.map((r) => r.name)).toContain(OTHER);
  });
});
