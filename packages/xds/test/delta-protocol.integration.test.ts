import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { TYPE_URLS } from "../src/index.js";
import {
  type AdsTestClient,
  connectAdsTestClient,
  type DeltaResponse,
  endpointSlice,
  k8sService,
  waitFor,
  writeMeshFiles,
} from "../src/testing/index.js";
import { createLab, type Lab } from "./helpers.js";

const NODE = "sidecar~127.0.0.9~app.demo~demo.svc.cluster.local";
const ECHO = "outbound|7070||echo.demo.svc.cluster.local";
const OTHER = "outbound|8080||other.demo.svc.cluster.local";

function files(echoPorts: number[], withOther: boolean) {
  return {
    "echo.yaml": [
      k8sService({ name: "echo", namespace: "demo", port: 7070 }),
      ...endpointSlice({
        name: "echo",
        namespace: "demo",
        service: "echo",
        endpoints: echoPorts.map((port) => ({ port })),
      }),
    ],
    "other.yaml": withOther
      ? [
          k8sService({ name: "other", namespace: "demo", port: 8080 }),
          ...endpointSlice({
            name: "other",
            namespace: "demo",
            service: "other",
            endpoints: [{ port: 18080 }],
          }),
        ]
      : null,
  };
}

describe("Delta ADS at protocol level", () => {
  let lab: Lab;
  const open: AdsTestClient<DeltaResponse>[] = [];
  const connect = async () => {
    const c = await connectAdsTestClient({ address: lab.xds.address, protocol: "delta", nodeId: NODE });
    open.push(c);
    return c;
  };
  const setMesh = async (echoPorts: number[], withOther: boolean) => {
    const before = lab.xds.mesh().hash;
    await writeMeshFiles(lab.dir, files(echoPorts, withOther));
    await waitFor(() => lab.xds.mesh().hash !== before, { what: "mesh change" });
    await waitFor(() => lab.xds.settled(), { what: "the change to be pushed" });
  };

  beforeAll(async () => {
    lab = await createLab((dir) => writeMeshFiles(dir, files([17070], true)));
  });
  afterEach(async () => {
    for (const c of open.splice(0)) c.close();
    await writeMeshFiles(lab.dir, files([17070], true));
    await waitFor(() => lab.xds.mesh().model.services.length === 2, { what: "reset" });
    await waitFor(() => lab.xds.settled(), { what: "the change to be pushed" });
  });
  afterAll(async () => lab?.close());

  test("wildcard CDS subscription gets every cluster once; an ACK gets no response", async () => {
    const c = await connect();
    c.send({ type_url: TYPE_URLS.cds, resource_names_subscribe: ["*"] });
    const r = await c.next();
    const names = r.resources.map((x) => x.name);
    expect(names).toContain(ECHO);
    expect(names).toContain(OTHER);
    expect(names).toContain("PassthroughCluster");
    expect(new Set(names).size).toBe(names.length);
    expect(r.resources.every((x) => x.version.length > 0)).toBe(true);
    c.send({ type_url: TYPE_URLS.cds, response_nonce: r.nonce });
    // Forced EDS after CDS: the server follows CDS with the (non-subscribed => none) EDS only if subscribed.
    expect(await c.collectFor(300)).toEqual([]);
  });

  test("subscribe, does-not-exist, unsubscribe and removal", async () => {
    const c = await connect();
    c.send({
      type_url: TYPE_URLS.eds,
      resource_names_subscribe: [ECHO, "outbound|1||missing.demo.svc.cluster.local"],
    });
    const first = await c.next();
    expect(first.resources.map((x) => x.name)).toEqual([ECHO]);
    expect(first.removed_resources).toEqual(["outbound|1||missing.demo.svc.cluster.local"]);
    c.send({ type_url: TYPE_URLS.eds, response_nonce: first.nonce });

    // Subscribing to another name sends only that one.
    c.send({ type_url: TYPE_URLS.eds, resource_names_subscribe: [OTHER], response_nonce: first.nonce });
    const second = await c.next();
    expect(second.resources.map((x) => x.name)).toEqual([OTHER]);
    expect(second.removed_resources).toEqual([]);
    c.send({ type_url: TYPE_URLS.eds, response_nonce: second.nonce });

    // Unsubscribe OTHER: no response needed; later changes to it are not sent.
    c.send({ type_url: TYPE_URLS.eds, resource_names_unsubscribe: [OTHER], response_nonce: second.nonce });
    expect(await c.collectFor(200)).toEqual([]);
    await setMesh([17070, 17071], false);
    const third = await c.next();
    expect(third.resources.map((x) => x.name)).toEqual([ECHO]);
    expect(third.removed_resources).toEqual([]);
    c.send({ type_url: TYPE_URLS.eds, response_nonce: third.nonce });

    // Removing the echo service removes its CLA.
    await writeMeshFiles(lab.dir, { "echo.yaml": "# nothing here\n" });
    const fourth = await c.next();
    expect(fourth.resources).toEqual([]);
    expect(fourth.removed_resources).toEqual([ECHO]);
  });

  test("subscription changes are honoured even with a stale nonce; re-subscribe resends", async () => {
    const c = await connect();
    c.send({ type_url: TYPE_URLS.eds, resource_names_subscribe: [ECHO] });
    const first = await c.next();
    c.send({ type_url: TYPE_URLS.eds, response_nonce: first.nonce });
    c.send({ type_url: TYPE_URLS.eds, resource_names_subscribe: [OTHER], response_nonce: "stale-nonce" });
    expect((await c.next()).resources.map((x) => x.name)).toEqual([OTHER]);
    // Re-subscribing to a known name must resend it (the client may have forgotten it).
    c.send({ type_url: TYPE_URLS.eds, resource_names_subscribe: [ECHO] });
    expect((await c.next()).resources.map((x) => x.name)).toEqual([ECHO]);
    const status = lab.xds.clients().find((s) => s.protocol === "delta");
    expect(status?.types.eds?.staleNonces).toBe(1);
  });

  test("reconnect with initial_resource_versions sends only what changed and removes what is gone", async () => {
    const c1 = await connect();
    c1.send({ type_url: TYPE_URLS.cds, resource_names_subscribe: ["*"] });
    const r1 = await c1.next();
    const versions = Object.fromEntries(r1.resources.map((x) => [x.name, x.version]));
    c1.close();

    await setMesh([17070], false); // "other" disappears while the client is away
    const c2 = await connect();
    c2.send({
      type_url: TYPE_URLS.cds,
      resource_names_subscribe: ["*"],
      initial_resource_versions: { ...versions, [ECHO]: "an-old-version" },
    });
    const r2 = await c2.next();
    expect(r2.resources.map((x) => x.name)).toEqual([ECHO]);
    expect(r2.removed_resources).toEqual([OTHER]);
  });

  test("wildcard plus an explicit unsubscribe is answered with the resource; removing the wildcard stops updates", async () => {
    const c = await connect();
    c.send({ type_url: TYPE_URLS.cds, resource_names_subscribe: ["*", ECHO] });
    const r1 = await c.next();
    c.send({ type_url: TYPE_URLS.cds, response_nonce: r1.nonce });
    c.send({ type_url: TYPE_URLS.cds, resource_names_unsubscribe: [ECHO], response_nonce: r1.nonce });
    const r2 = await c.next();
    expect(r2.resources.map((x) => x.name)).toEqual([ECHO]);
    c.send({ type_url: TYPE_URLS.cds, response_nonce: r2.nonce });
    c.send({ type_url: TYPE_URLS.cds, resource_names_unsubscribe: ["*"], response_nonce: r2.nonce });
    expect(await c.collectFor(150)).toEqual([]);
    await setMesh([17070], false);
    expect(await c.collectFor(300)).toEqual([]);
  });

  test("a changed cluster is followed by its load assignment (forced EDS after CDS)", async () => {
    const c = await connect();
    c.send({ type_url: TYPE_URLS.cds, resource_names_subscribe: ["*"] });
    const cds = await c.next();
    c.send({ type_url: TYPE_URLS.cds, response_nonce: cds.nonce });
    c.send({ type_url: TYPE_URLS.eds, resource_names_subscribe: [ECHO] });
    const eds = await c.next();
    c.send({ type_url: TYPE_URLS.eds, response_nonce: eds.nonce });
    expect(eds.type_url).toBe(TYPE_URLS.eds);
    // A DestinationRule changes the cluster but not the endpoints: EDS is still resent.
    await writeMeshFiles(lab.dir, {
      "dr.yaml":
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: echo, namespace: demo}\nspec:\n  host: echo\n  trafficPolicy:\n    loadBalancer: {simple: RANDOM}\n",
    });
    const cds2 = await c.next();
    expect(cds2.type_url).toBe(TYPE_URLS.cds);
    expect(cds2.resources.map((x) => x.name)).toEqual([ECHO]);
    // (LEAST_REQUEST is istiod's default, so it would not change the cluster.)
    expect(cds2.resources[0]?.value.lb_policy).toBe("RANDOM");
    const eds2 = await c.next();
    expect(eds2.type_url).toBe(TYPE_URLS.eds);
    expect(eds2.resources.map((x) => x.name)).toEqual([ECHO]);
    await writeMeshFiles(lab.dir, { "dr.yaml": null });
  });
});
