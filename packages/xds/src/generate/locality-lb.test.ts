/**
 * Locality load balancing of ClusterLoadAssignments, per proxy locality. The expected priorities
 * and weights are istiod's rules as its own tests state them (pilot/pkg/networking/core/
 * loadbalancer/loadbalancer_test.go: "Failover: all priorities" — same subzone 0, same zone 1,
 * same region 2, the failover region 3, any other region 4 — and "Distribute"), worked out by
 * hand for this mesh, not taken from this code.
 */
import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../model/assemble.js";
import { parseMeshFile } from "../model/parse-documents.js";
import type { MeshEndpoint } from "../model/types.js";
import { decodeAnyDeep } from "../protocol/protos.js";
import { applyLocalityLb, type LocalityGroup, localityLbPlanOf } from "./locality-lb.js";
import { type NodeLike, proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";

/** Nodes in r1/z1/s1, r1/z1/s2, r1/z2, r2/z3 and r3/z4, one endpoint of every service on each. */
const NODES: [string, string, string, string][] = [
  ["n1", "r1", "z1", "s1"],
  ["n2", "r1", "z1", "s2"],
  ["n3", "r1", "z2", ""],
  ["n4", "r2", "z3", ""],
  ["n5", "r3", "z4", ""],
];

function nodes(): string {
  return NODES.map(
    ([name, region, zone, subzone]) => `apiVersion: v1
kind: Node
metadata:
  name: ${name}
  labels:
    topology.kubernetes.io/region: ${region}
    topology.kubernetes.io/zone: ${zone}
${subzone ? `    topology.istio.io/subzone: ${subzone}\n` : ""}`,
  ).join("---\n");
}

function service(name: string, dr: string | undefined): string {
  const endpoints = NODES.map(([node], i) => `  - { addresses: [10.2.0.${i + 1}], nodeName: ${node} }`).join(
    "\n",
  );
  const rule = dr
    ? `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: demo }
spec:
  host: ${name}
  trafficPolicy:
${dr
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
`
    : "";
  return `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: demo }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}, namespace: demo, labels: { kubernetes.io/service-name: ${name} } }
ports: [{ name: http, port: 8080 }]
endpoints:
${endpoints}
${rule}`;
}

const OD = "outlierDetection: { consecutive5xxErrors: 3 }";
const RULES: Record<string, string | undefined> = {
  plain: undefined,
  lbonly: "loadBalancer: { simple: ROUND_ROBIN }",
  od: OD,
  fo: `${OD}\nloadBalancer: { localityLbSetting: { failover: [{ from: r1, to: r3 }] } }`,
  off: `${OD}\nloadBalancer: { localityLbSetting: { enabled: false, failover: [{ from: r1, to: r3 }] } }`,
  dist: `loadBalancer:
  localityLbSetting:
    distribute:
    - { from: "r1/z1/*", to: { "r1/z1/*": 70, "r2/*": 30 } }`,
  prio: `${OD}
loadBalancer:
  localityLbSetting:
    failoverPriority: [topology.kubernetes.io/region, topology.kubernetes.io/zone]`,
};

const parsed = parseMeshFile(
  "mesh.yaml",
  nodes() +
    Object.entries(RULES)
      .map(([name, dr]) => service(name, dr))
      .join(""),
);
const ctx = new PushContext(assembleMeshModel(parsed.items).model, "v1");

function proxy(name: string, locality: NodeLike["locality"], type = "sidecar") {
  return proxyFromNode({
    id: `${type}~10.9.0.1~${name}.demo~demo.svc.cluster.local`,
    locality: locality ?? null,
  });
}

const inR1Z1S1 = proxy("a", { region: "r1", zone: "z1", sub_zone: "s1" });
const inR1Z1S2 = proxy("b", { region: "r1", zone: "z1", sub_zone: "s2" });
const inR2 = proxy("c", { region: "r2", zone: "z3" });
const noLocality = proxy("d", undefined);

const claName = (svc: string) => `outbound|8080||${svc}.demo.svc.cluster.local`;

interface Cla {
  endpoints: {
    locality: { region: string; zone: string; sub_zone: string };
    lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[];
    load_balancing_weight: { value: number };
    priority: number;
  }[];
}

function cla(p: ReturnType<typeof proxy>, svc: string): Cla {
  return generateProxyConfig(ctx, p).eds.get(claName(svc))?.value as unknown as Cla;
}

/** `address -> priority` of every endpoint, and `address -> its locality's weight`. */
function byAddress(c: Cla, what: "priority" | "weight"): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of c.endpoints)
    for (const e of l.lb_endpoints)
      out[e.endpoint.address.socket_address.address] =
        what === "priority" ? l.priority : l.load_balancing_weight.value;
  return out;
}

describe("locality load balancing of endpoints, per proxy locality (istiod's ApplyLocalityLoadBalancer)", () => {
  test("the mesh parses", () => {
    expect(parsed.valid).toBe(true);
  });

  test("no DestinationRule, or one without outlier detection or distribute: every locality at priority 0", () => {
    for (const svc of ["plain", "lbonly"])
      expect(byAddress(cla(inR1Z1S1, svc), "priority")).toEqual({
        "10.2.0.1": 0,
        "10.2.0.2": 0,
        "10.2.0.3": 0,
        "10.2.0.4": 0,
        "10.2.0.5": 0,
      });
  });

  test("outlier detection alone turns on failover (mesh default): subzone 0, zone 1, region 2, elsewhere 3", () => {
    expect(byAddress(cla(inR1Z1S1, "od"), "priority")).toEqual({
      "10.2.0.1": 0,
      "10.2.0.2": 1,
      "10.2.0.3": 2,
      "10.2.0.4": 3,
      "10.2.0.5": 3,
    });
    // From r2/z3: its own zone first, everything else (other regions) next, without gaps.
    expect(byAddress(cla(inR2, "od"), "priority")).toEqual({
      "10.2.0.1": 1,
      "10.2.0.2": 1,
      "10.2.0.3": 1,
      "10.2.0.4": 0,
      "10.2.0.5": 1,
    });
  });

  test("failover from r1 to r3: r3 before the other regions, only for proxies in r1", () => {
    expect(byAddress(cla(inR1Z1S1, "fo"), "priority")).toEqual({
      "10.2.0.1": 0,
      "10.2.0.2": 1,
      "10.2.0.3": 2,
      "10.2.0.4": 4,
      "10.2.0.5": 3,
    });
    expect(byAddress(cla(inR2, "fo"), "priority")).toEqual(byAddress(cla(inR2, "od"), "priority"));
  });

  test("enabled: false: no priorities", () => {
    expect(new Set(Object.values(byAddress(cla(inR1Z1S1, "off"), "priority")))).toEqual(new Set([0]));
  });

  test("distribute: the matched localities share the percentages, the others lose their endpoints", () => {
    const c = cla(inR1Z1S1, "dist");
    const weights = Object.fromEntries(
      c.endpoints.map((l) => [
        `${l.locality.region}/${l.locality.zone}/${l.locality.sub_zone}`,
        [l.load_balancing_weight.value, l.lb_endpoints.length],
      ]),
    );
    expect(weights).toEqual({
      // r1/z1/* (two localities of weight 1) share 70: ceil(1 * 70 / 2) each.
      "r1/z1/s1": [35, 1],
      "r1/z1/s2": [35, 1],
      "r2/z3/": [30, 1],
      // Matched by no `to`: istiod keeps the locality, empty, with its weight.
      "r1/z2/": [1, 0],
      "r3/z4/": [1, 0],
    });
    // A proxy no `from` matches gets the plain assignment.
    expect(cla(inR2, "dist").endpoints.map((l) => [l.load_balancing_weight.value, l.priority])).toEqual(
      cla(inR2, "plain").endpoints.map((l) => [l.load_balancing_weight.value, l.priority]),
    );
  });

  test("failoverPriority: endpoints matching more of the proxy's labels (topology ones from localities) first", () => {
    expect(byAddress(cla(inR1Z1S1, "prio"), "priority")).toEqual({
      "10.2.0.1": 0,
      "10.2.0.2": 0,
      "10.2.0.3": 1,
      "10.2.0.4": 2,
      "10.2.0.5": 2,
    });
  });

  test("a proxy without a locality: endpoints without one would come first, the rest share the next priority", () => {
    expect(new Set(Object.values(byAddress(cla(noLocality, "od"), "priority")))).toEqual(new Set([0]));
  });

  test("proxyless gRPC clients get the same priorities", () => {
    const grpc = proxy("g", { region: "r1", zone: "z1", sub_zone: "s1" }, "grpc");
    const eds = generateProxyConfig(ctx, grpc).eds;
    // gRPC subscribes only to routed clusters: every service here has a default route.
    expect(byAddress(eds.get(claName("fo"))?.value as unknown as Cla, "priority")).toEqual(
      byAddress(cla(inR1Z1S1, "fo"), "priority"),
    );
  });

  test("topology labels on the proxy override its Node's locality, as in istiod", () => {
    const labelled = proxyFromNode({
      id: "sidecar~10.9.0.2~e.demo~demo.svc.cluster.local",
      locality: { region: "r1", zone: "z1", sub_zone: "s1" },
      metadata: {
        fields: {
          LABELS: {
            structValue: {
              fields: {
                "topology.kubernetes.io/region": { stringValue: "r2" },
                "topology.kubernetes.io/zone": { stringValue: "z3" },
              },
            },
          },
        },
      },
    });
    expect(byAddress(cla(labelled, "od"), "priority")).toEqual(byAddress(cla(inR2, "od"), "priority"));
  });
});

describe("grpc-js-xds accepts every locality-balanced assignment (its own EDS validator)", () => {
  test("contiguous priorities, no duplicate locality per priority, for clients in every locality", async () => {
    // The real client's validation (grpc-js-xds 1.14): a gap in priorities or a locality twice
    // in one priority rejects the whole ClusterLoadAssignment.
    const { EndpointResourceType } = (await import(
      "@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type.js"
    )) as unknown as {
      EndpointResourceType: {
        get(): { decode(ctx: unknown, any: unknown): { name: string; error?: string } };
      };
    };
    let checked = 0;
    for (const l of [
      ...NODES.map(([, region, zone, subzone]) => ({ region, zone, sub_zone: subzone })),
      undefined,
    ]) {
      const eds = generateProxyConfig(ctx, proxy("g", l, "grpc")).eds;
      for (const svc of Object.keys(RULES)) {
        const r = eds.get(claName(svc));
        expect(r, svc).toBeDefined();
        expect(
          EndpointResourceType.get().decode({ server: {} }, r?.any).error,
          `${svc} from ${JSON.stringify(l)}`,
        ).toBeUndefined();
        checked++;
      }
    }
    expect(checked).toBe(6 * Object.keys(RULES).length);
  });
});

describe("the cluster side (istiod's LocalityLBSettings.ApplyToCluster)", () => {
  const common = (svc: string) =>
    (
      decodeAnyDeep(generateProxyConfig(ctx, inR1Z1S1).cds.get(claName(svc))?.any as never) as Record<
        string,
        unknown
      >
    ).common_lb_config as Record<string, unknown>;

  test("locality_weighted_lb_config with distribute, or failover rules and outlier detection; never when disabled", () => {
    expect(common("dist")).toHaveProperty("locality_weighted_lb_config");
    expect(common("fo")).toHaveProperty("locality_weighted_lb_config");
    expect(common("prio")).toHaveProperty("locality_weighted_lb_config");
    // The mesh default's failover (outlier detection alone) sets priorities only.
    expect(common("od")).not.toHaveProperty("locality_weighted_lb_config");
    expect(common("off")).not.toHaveProperty("locality_weighted_lb_config");
    expect(common("plain")).not.toHaveProperty("locality_weighted_lb_config");
  });
});

describe("the EDS cache follows what a ClusterLoadAssignment depends on", () => {
  const enc = (p: ReturnType<typeof proxy>, svc: string) => generateProxyConfig(ctx, p).eds.get(claName(svc));

  test("without a locality policy, every proxy (any locality, Envoy or gRPC) shares one encoding", () => {
    const grpc = proxy("g", { region: "r3", zone: "z4" }, "grpc");
    for (const svc of ["plain", "lbonly", "off"]) {
      const shared = enc(inR1Z1S1, svc);
      expect(shared).toBeDefined();
      expect(enc(inR2, svc)).toBe(shared);
      expect(enc(noLocality, svc)).toBe(shared);
      expect(generateProxyConfig(ctx, grpc).eds.get(claName(svc))).toBe(shared);
    }
  });

  test("failover: shared within a locality, one encoding per locality", () => {
    const again = proxy("z", { region: "r1", zone: "z1", sub_zone: "s1" });
    expect(enc(again, "od")).toBe(enc(inR1Z1S1, "od"));
    expect(enc(inR1Z1S2, "od")).not.toBe(enc(inR1Z1S1, "od"));
    expect(enc(inR2, "od")?.version).not.toBe(enc(inR1Z1S1, "od")?.version);
  });

  test("failoverPriority on region and zone: proxies in two subzones of one zone share it", () => {
    expect(enc(inR1Z1S2, "prio")).toBe(enc(inR1Z1S1, "prio"));
  });

  test("distribute: keyed by the rule the proxy's locality selects", () => {
    expect(enc(inR1Z1S2, "dist")).toBe(enc(inR1Z1S1, "dist"));
    expect(enc(noLocality, "dist")).toBe(enc(inR2, "dist"));
    expect(enc(inR2, "dist")).not.toBe(enc(inR1Z1S1, "dist"));
  });
});

describe("localityLbPlanOf (istiod's GetEffectiveLbSetting for EDS)", () => {
  test("nothing without a policy; the mesh default (failover) with outlier detection; off when disabled", () => {
    expect(localityLbPlanOf(undefined)).toBeUndefined();
    expect(localityLbPlanOf({ loadBalancer: { kind: "ROUND_ROBIN" } })).toBeUndefined();
    expect(localityLbPlanOf({ outlierDetection: {} })).toEqual({
      kind: "failover",
      failover: [],
      priorityLabels: [],
    });
    expect(
      localityLbPlanOf({
        outlierDetection: {},
        loadBalancer: { kind: "UNSPECIFIED", localityLbSetting: { enabled: false } },
      }),
    ).toBeUndefined();
    // distribute needs no outlier detection.
    expect(
      localityLbPlanOf({
        loadBalancer: {
          kind: "UNSPECIFIED",
          localityLbSetting: { distribute: [{ from: "a", to: { b: 100 } }] },
        },
      })?.kind,
    ).toBe("distribute");
  });
});

describe("failoverPriority: istiod's own vectors (loadbalancer_test.go TestApplyLocalitySetting/FailoverPriority)", () => {
  // buildWrappedLocalityLbEndpoints: three localities, two endpoints each.
  const ep = (address: string, region: string, labels: Record<string, string>): MeshEndpoint => ({
    address,
    ports: {},
    labels,
    locality: {
      region,
      zone: region.replace("region", "zone"),
      subzone: region.replace("region", "subzone"),
    },
    weight: 1,
    healthy: true,
    source: { file: "", line: 0, kind: "Pod", name: "", namespace: "" },
  });
  const N = "topology.istio.io/network";
  const C = "topology.istio.io/cluster";
  const groups: LocalityGroup[] = [
    [
      ep("1.1.1.1", "region1", { [N]: "n1", [C]: "c1" }),
      ep("2.2.2.2", "region1", { key: "value", [N]: "n2", [C]: "c2" }),
    ],
    [
      ep("3.3.3.3", "region2", { key: "value", [N]: "n1", [C]: "c3" }),
      ep("4.4.4.4", "region2", { key: "value", [N]: "n2", [C]: "c4" }),
    ],
    [
      ep("1.2.3.4", "region3", { key: "value", [N]: "n1", [C]: "c1" }),
      ep("2.3.4.5", "region3", { key: "value", [N]: "n2", [C]: "c2" }),
    ],
  ].map((eps) => ({
    locality: (eps[0] as MeshEndpoint).locality,
    endpoints: eps,
    lbEndpoints: eps.map((e) => ({ address: e.address })),
    weight: eps.length,
    priority: 0,
  }));
  const proxyWith = (labels: Record<string, string>) =>
    proxyFromNode({
      id: "sidecar~10.9.0.3~p.demo~demo.svc.cluster.local",
      metadata: {
        fields: {
          LABELS: {
            structValue: {
              fields: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, { stringValue: v }])),
            },
          },
        },
      },
    });
  const priorities = (priorityLabels: string[], labels: Record<string, string>) => {
    const out: Record<string, number> = {};
    for (const g of applyLocalityLb(
      groups,
      { kind: "failover", failover: [], priorityLabels },
      proxyWith(labels),
      (e) => e.length,
    ))
      for (const e of g.lbEndpoints) out[String(e.address)] = g.priority;
    return out;
  };

  test("match network label: a mismatched network first lowers only", () => {
    expect(priorities([N, C], { [N]: "n1", [C]: "test" })).toEqual({
      "1.1.1.1": 0,
      "2.2.2.2": 1,
      "3.3.3.3": 0,
      "4.4.4.4": 1,
      "1.2.3.4": 0,
      "2.3.4.5": 1,
    });
  });

  test("match all labels", () => {
    expect(priorities(["key", N, C], { key: "value", [N]: "n2", [C]: "c2" })).toEqual({
      "1.1.1.1": 3,
      "2.2.2.2": 0,
      "3.3.3.3": 2,
      "4.4.4.4": 1,
      "1.2.3.4": 2,
      "2.3.4.5": 0,
    });
  });

  test("priority assignment as per the overridden value; no endpoint with it", () => {
    expect(priorities([`${N}=n1`], { [N]: "n2", [C]: "test" })).toEqual({
      "1.1.1.1": 0,
      "2.2.2.2": 1,
      "3.3.3.3": 0,
      "4.4.4.4": 1,
      "1.2.3.4": 0,
      "2.3.4.5": 1,
    });
    expect(new Set(Object.values(priorities([`${N}=n3`], { [N]: "n1", [C]: "test" })))).toEqual(new Set([0]));
  });
});
