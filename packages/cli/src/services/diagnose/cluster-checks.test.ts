import type { ClusterFacts, PodFact } from "@meshctl/kube";
import { describe, expect, test } from "vitest";
import { evaluateClusterChecks } from "./cluster-checks.js";
import {
  ALL_CRDS,
  ago,
  clusterFactsFixture,
  crd,
  ISTIO_INIT,
  ns,
  pod,
  proxy,
  proxyless,
  sidecar,
  workload,
} from "./cluster-facts.test-data.js";
import type { Check } from "./types.js";

const byId = (checks: readonly Check[], id: string): Check => {
  const c = checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${checks.map((x) => x.id).join(", ")}`);
  return c;
};
const statuses = (checks: readonly Check[]) => checks.map((c) => [c.id, c.status]);
const demoPods = (...pods: PodFact[]): ClusterFacts["pods"] => ({ ok: true, value: pods });

describe("evaluateClusterChecks", () => {
  test("a healthy cluster: every check ok, in a stable order", () => {
    const checks = evaluateClusterChecks(clusterFactsFixture());
    expect(statuses(checks)).toEqual([
      ["cluster.api", "ok"],
      ["cluster.istio-crds", "ok"],
      ["cluster.components", "ok"],
      ["cluster.control-plane", "ok"],
      ["cluster.sync.demo", "ok"],
      ["cluster.namespaces", "ok"],
      ["cluster.injection.demo", "ok"],
      ["cluster.capture.demo", "ok"],
      ["cluster.scoping.demo", "ok"],
    ]);
    expect(byId(checks, "cluster.api").summary).toBe(
      "Kubernetes API at https://10.0.0.1:6443 answers: v1.37.2",
    );
    expect(byId(checks, "cluster.sync.demo").summary).toBe("demo: 2 proxies: 2 synced, 0 stale, 0 NACKed");
    expect(byId(checks, "cluster.injection.demo").summary).toBe(
      "demo: injection enabled (istio-injection=enabled); 2 pods: 1 with istio-proxy, 1 proxyless gRPC, 0 without",
    );
    for (const c of checks) expect(c.recommendation).toBeNull();
  });

  test("a kubeconfig that cannot be used: one failing check, the rest skipped", () => {
    const checks = evaluateClusterChecks(
      clusterFactsFixture({
        target: { kubeconfig: "/nope", context: null, server: null, user: null },
        api: {
          ok: false,
          error: {
            code: "KUBE_CONFIG_INVALID",
            message: "The kubeconfig /nope does not exist.",
            request: "load the kubeconfig",
            httpStatus: null,
          },
        },
        crds: null,
        components: null,
        namespaces: null,
        pods: null,
        sidecars: null,
        controlPlane: null,
      }),
    );
    expect(checks).toEqual([
      {
        id: "cluster.api",
        group: "cluster",
        status: "fail",
        summary: "The kubeconfig cannot be used; the other cluster checks were skipped",
        evidence: ["load the kubeconfig: The kubeconfig /nope does not exist.", "kubeconfig /nope"],
        recommendation:
          "Pass --kubeconfig PATH of a valid kubeconfig (and --context NAME when it has several).",
      },
    ]);
  });

  test("an unreachable API server names the server and says what to check", () => {
    const [api] = evaluateClusterChecks(
      clusterFactsFixture({
        api: {
          ok: false,
          error: {
            code: "KUBE_UNREACHABLE",
            message: "connect ECONNREFUSED 10.0.0.1:6443",
            request: "GET https://10.0.0.1:6443/version",
            httpStatus: null,
          },
        },
        crds: null,
        components: null,
        namespaces: null,
        pods: null,
        sidecars: null,
        controlPlane: null,
      }),
    );
    expect(api).toMatchObject({
      status: "fail",
      summary: expect.stringContaining("https://10.0.0.1:6443 is not reachable"),
      evidence: expect.arrayContaining([
        "GET https://10.0.0.1:6443/version: connect ECONNREFUSED 10.0.0.1:6443",
      ]),
      recommendation: expect.stringContaining("reachable from here"),
    });
  });

  test("a missing CRD fails, naming it; scoping then cannot be checked", () => {
    const checks = evaluateClusterChecks(
      clusterFactsFixture({
        crds: {
          ok: true,
          value: ALL_CRDS.map((c) =>
            c.kind === "Sidecar"
              ? crd("Sidecar", "sidecars", {
                  present: false,
                  servedVersions: [],
                  storageVersion: null,
                  established: false,
                })
              : c,
          ),
        },
        sidecars: {
          ok: false,
          error: {
            code: "KUBE_API_ERROR",
            message: "the Sidecar CRD (sidecars.networking.istio.io) is not installed",
            request: "list sidecars.networking.istio.io",
            httpStatus: 404,
          },
        },
      }),
    );
    expect(byId(checks, "cluster.istio-crds")).toMatchObject({
      status: "fail",
      summary: "Istio CRDs missing: Sidecar; the control plane cannot read them",
      evidence: expect.arrayContaining(["sidecars.networking.istio.io: missing"]),
      recommendation: expect.stringContaining("meshctl install --install-crds"),
    });
    expect(byId(checks, "cluster.scoping.demo")).toMatchObject({
      status: "warn",
      summary: expect.stringContaining("cannot be checked"),
    });
  });

  test("CRDs that do not serve v1 warn", () => {
    const checks = evaluateClusterChecks(
      clusterFactsFixture({
        crds: { ok: true, value: ALL_CRDS.map((c) => ({ ...c, servedVersions: ["v1alpha3", "v1beta1"] })) },
      }),
    );
    expect(byId(checks, "cluster.istio-crds").status).toBe("warn");
  });

  describe("Sidecar scoping", () => {
    test("a namespace without a Sidecar and no mesh-wide default receives the whole mesh", () => {
      const c = byId(
        evaluateClusterChecks(clusterFactsFixture({ sidecars: { ok: true, value: [] } })),
        "cluster.scoping.demo",
      );
      expect(c).toMatchObject({
        status: "warn",
        summary: "demo: 2 of 2 proxies would receive the whole mesh (no Sidecar scoping)",
        evidence: [
          "Sidecars in demo: none; mesh-wide default in istio-system: none",
          "echo-1: no Sidecar in demo or istio-system: whole mesh",
          "grpc-1: no Sidecar in demo or istio-system: whole mesh",
        ],
      });
      expect(c.recommendation).toContain('hosts ["./*", "istio-system/*"]');
    });

    test("a mesh-wide default in the root namespace covers it", () => {
      const c = byId(
        evaluateClusterChecks(
          clusterFactsFixture({
            sidecars: { ok: true, value: [sidecar("default", "istio-system", ["./*"])] },
          }),
        ),
        "cluster.scoping.demo",
      );
      expect(c.status).toBe("ok");
      expect(c.evidence).toContain("echo-1: Sidecar istio-system/default (egress ./*)");
    });

    test("a selector Sidecar scopes only what it selects; */* is no scoping", () => {
      const c = byId(
        evaluateClusterChecks(
          clusterFactsFixture({
            sidecars: {
              ok: true,
              value: [
                sidecar("echo", "demo", ["./*"], { app: "echo-1" }),
                sidecar("wide", "istio-system", ["*/*"]),
              ],
            },
          }),
        ),
        "cluster.scoping.demo",
      );
      expect(c.status).toBe("warn");
      expect(c.evidence).toEqual([
        "Sidecars in demo: echo (selector); mesh-wide default in istio-system: wide",
        "echo-1: Sidecar demo/echo (egress ./*)",
        "grpc-1: Sidecar istio-system/wide (egress */*): whole mesh",
      ]);
    });

    test("RBAC refusing Sidecars is a warning that names the request", () => {
      const c = byId(
        evaluateClusterChecks(
          clusterFactsFixture({
            sidecars: {
              ok: false,
              error: {
                code: "KUBE_FORBIDDEN",
                message:
                  'sidecars.networking.istio.io is forbidden: User "me" cannot list resource "sidecars"',
                request: "list sidecars.networking.istio.io in all namespaces",
                httpStatus: 403,
              },
            },
          }),
        ),
        "cluster.scoping.demo",
      );
      expect(c).toMatchObject({
        status: "warn",
        summary:
          "RBAC refused to list sidecars.networking.istio.io in all namespaces, so Sidecar scoping of demo cannot be checked",
        recommendation: expect.stringContaining(
          "Grant user me read access for: list sidecars.networking.istio.io",
        ),
      });
    });
  });

  describe("pods: injection and capture", () => {
    test("a sidecar pod without istio-init fails capture; an empty -b warns; istio-cni is fine", () => {
      const checks = evaluateClusterChecks(
        clusterFactsFixture({
          pods: demoPods(
            pod("echo-1", "demo"),
            pod("bare-1", "demo", { istioInit: null }),
            pod("narrow-1", "demo", { istioInit: { ...ISTIO_INIT, inboundPorts: "" } }),
            pod("cni-1", "demo", { istioInit: null, cniValidation: true }),
            pod("nocap-1", "demo", { istioInit: { ...ISTIO_INIT, capabilities: [] } }),
          ),
        }),
      );
      const capture = byId(checks, "cluster.capture.demo");
      expect(capture.status).toBe("fail");
      expect(capture.summary).toBe("demo: 3 of 5 sidecar pods without full traffic capture");
      expect(capture.evidence).toEqual([
        "echo-1: istio-iptables -p 15001 -z 15006 -i '*' -b '*' -m REDIRECT",
        "bare-1: no istio-init: traffic is not redirected to the sidecar",
        "narrow-1: istio-iptables -p 15001 -z 15006 -i '*' -b '' -m REDIRECT; inbound not captured (-b empty)",
        "cni-1: captured by istio-cni (istio-validation init container)",
        "nocap-1: istio-iptables -p 15001 -z 15006 -i '*' -b '*' -m REDIRECT; without NET_ADMIN iptables fails and the pod never starts",
      ]);
    });

    test("injection enabled but pods without a sidecar warns; opted-out pods do not count", () => {
      const checks = evaluateClusterChecks(
        clusterFactsFixture({
          pods: demoPods(
            pod("echo-1", "demo"),
            pod("old-1", "demo", { sidecar: null, istioInit: null }),
            pod("optout-1", "demo", { sidecar: null, istioInit: null, injectOverride: "false" }),
          ),
        }),
      );
      expect(byId(checks, "cluster.injection.demo")).toMatchObject({
        status: "warn",
        summary: "demo: 1 pod without a sidecar although injection is enabled",
        evidence: expect.arrayContaining([
          "old-1: no proxy",
          "optout-1: no proxy (sidecar.istio.io/inject=false)",
        ]),
      });
    });

    test("--namespace of a namespace outside the mesh says so; one that does not exist fails", () => {
      const outside = evaluateClusterChecks(
        clusterFactsFixture({
          namespace: "default",
          namespaces: { ok: true, value: [ns("default")] },
          pods: demoPods(pod("web-1", "default", { sidecar: null, istioInit: null })),
          controlPlane: { source: "none", reason: "no Service" },
        }),
      );
      expect(statuses(outside)).toEqual([
        ["cluster.api", "ok"],
        ["cluster.istio-crds", "ok"],
        ["cluster.components", "ok"],
        ["cluster.control-plane", "warn"],
        ["cluster.injection.default", "warn"],
      ]);
      const missing = evaluateClusterChecks(
        clusterFactsFixture({
          namespace: "nope",
          namespaces: {
            ok: false,
            error: {
              code: "KUBE_API_ERROR",
              message: 'namespaces "nope" not found',
              request: "get namespace nope",
              httpStatus: 404,
            },
          },
        }),
      );
      expect(byId(missing, "cluster.namespaces")).toMatchObject({
        status: "fail",
        summary: "Namespace nope does not exist",
      });
    });

    test("no namespace in the mesh warns; RBAC refusing pods fails the injection check, naming the user", () => {
      const none = evaluateClusterChecks(
        clusterFactsFixture({ namespaces: { ok: true, value: [ns("default")] }, pods: demoPods() }),
      );
      expect(byId(none, "cluster.namespaces").status).toBe("warn");
      const refused = evaluateClusterChecks(
        clusterFactsFixture({
          pods: {
            ok: false,
            error: {
              code: "KUBE_FORBIDDEN",
              message:
                'pods is forbidden: User "me" cannot list resource "pods" in API group "" at the cluster scope',
              request: "list pods in all namespaces",
              httpStatus: 403,
            },
          },
        }),
      );
      expect(byId(refused, "cluster.injection.demo")).toMatchObject({
        status: "fail",
        summary: "RBAC refused to list pods in all namespaces, so the pods of demo cannot be checked",
        evidence: [
          'list pods in all namespaces: HTTP 403: pods is forbidden: User "me" cannot list resource "pods" in API group "" at the cluster scope',
        ],
      });
    });
  });

  describe("meshctl components", () => {
    test("not installed warns with the install command", () => {
      const c = byId(
        evaluateClusterChecks(
          clusterFactsFixture({
            components: {
              ok: true,
              value: {
                selector: "app.kubernetes.io/part-of=meshctl",
                searched: "all namespaces",
                workloads: [],
                services: [],
              },
            },
            controlPlane: {
              source: "none",
              reason: "no Service labelled app.kubernetes.io/part-of=meshctl (is meshctl installed?)",
            },
          }),
        ),
        "cluster.components",
      );
      expect(c).toMatchObject({ status: "warn", summary: "meshctl is not installed in this cluster" });
      expect(c.recommendation).toContain("meshctl install");
    });

    test("a workload no controller processed, or with too few ready pods, fails; a DaemonSet on no node warns", () => {
      const c = byId(
        evaluateClusterChecks(
          clusterFactsFixture({
            components: {
              ok: true,
              value: {
                selector: "app.kubernetes.io/part-of=meshctl",
                searched: "all namespaces",
                workloads: [
                  workload({
                    kind: "Deployment",
                    name: "meshctl-xds",
                    observedGeneration: null,
                    ready: 0,
                    available: 0,
                  }),
                  workload({
                    kind: "DaemonSet",
                    name: "meshctl-ebpf",
                    desired: 3,
                    ready: 1,
                    available: 1,
                    conditions: [],
                  }),
                  workload({
                    kind: "DaemonSet",
                    name: "meshctl-vpp",
                    component: "vpp",
                    desired: 0,
                    ready: 0,
                    available: 0,
                    updated: 0,
                  }),
                ],
                services: [],
              },
            },
          }),
        ),
        "cluster.components",
      );
      expect(c.status).toBe("fail");
      expect(c.summary).toBe("3 of 3 meshctl workloads not ready");
      expect(c.evidence).toEqual([
        "Deployment meshctl-system/meshctl-xds (xds): no status: no controller has processed it (is kube-controller-manager running?)",
        "DaemonSet meshctl-system/meshctl-ebpf (ebpf): 1/3 ready",
        "DaemonSet meshctl-system/meshctl-vpp (vpp): scheduled on no node (node selector, taints, or no nodes)",
      ]);
      expect(c.recommendation).toContain("kubectl -n meshctl-system describe deployment meshctl-xds");
    });
  });

  describe("control plane and proxy sync", () => {
    const withProxies = (...proxies: ReturnType<typeof proxy>[]) =>
      clusterFactsFixture({
        controlPlane: {
          source: "flag",
          endpoint: "http://127.0.0.1:15014",
          sync: { ok: true, value: { now: ago(0), proxies } },
        },
      });

    test("a NACKing proxy fails its namespace's sync check with the NACK message", () => {
      const checks = evaluateClusterChecks(
        withProxies(
          proxy("sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local"),
          proxy("sidecar~10.1.0.7~bad-1.demo~demo.svc.cluster.local", {
            cds: {
              lastVersionSent: "v8",
              lastSentAt: ago(5000),
              ackedVersion: "v7",
              nackedVersion: "v7",
              lastNackError: "unsupported lb_policy: MAGLEV",
              lastNackAt: ago(4990),
            },
          }),
        ),
      );
      expect(byId(checks, "cluster.sync.demo")).toMatchObject({
        status: "fail",
        summary: "demo: 2 proxies: 1 synced, 0 stale, 1 NACKed",
        evidence: [
          "sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local: synced CDS, EDS, LDS, RDS at v7",
          "sidecar~10.1.0.7~bad-1.demo~demo.svc.cluster.local: NACKed CDS (keeps version v7): unsupported lb_policy: MAGLEV",
        ],
        recommendation: expect.stringContaining(
          "meshctl xds config-dump --node-id sidecar~10.1.0.7~bad-1.demo",
        ),
      });
    });

    test("an un-ACKed push is pending until staleAfterMs, then stale", () => {
      const late = proxy("sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local", {
        lds: { lastVersionSent: "v8", lastSentAt: ago(3000), ackedVersion: "v7" },
      });
      expect(byId(evaluateClusterChecks(withProxies(late)), "cluster.sync.demo")).toMatchObject({
        status: "ok",
        evidence: [expect.stringContaining("(ACK pending for LDS)")],
      });
      expect(
        byId(evaluateClusterChecks(withProxies(late), { staleAfterMs: 1000 }), "cluster.sync.demo"),
      ).toMatchObject({
        status: "warn",
        summary: "demo: 1 proxy: 0 synced, 1 stale, 0 NACKed",
        evidence: [
          "sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local: stale: LDS v8 sent 3s ago, ACKed v7",
        ],
      });
    });

    test("a synced proxy that was not sent filters it lacks says which", () => {
      const stock = {
        ...proxy("sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local"),
        skippedFilters: [
          { name: "istio.stats", reason: "no envoy.filters.http extension with type stats.PluginConfig" },
          { name: "istio.stats", reason: "no envoy.filters.network extension with type stats.PluginConfig" },
        ],
      };
      const checks = evaluateClusterChecks(withProxies(stock));
      expect(byId(checks, "cluster.sync.demo")).toMatchObject({
        status: "ok",
        evidence: [
          "sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local: synced CDS, EDS, LDS, RDS at v7; not sent, the proxy lacks them: istio.stats",
        ],
      });
    });

    test("a NACK followed by a newer, ACKed push is synced again", () => {
      const healed = proxy("sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local", {
        cds: { lastNackAt: ago(30_000), lastNackError: "old", nackedVersion: "v6", lastSentAt: ago(10_000) },
      });
      expect(byId(evaluateClusterChecks(withProxies(healed)), "cluster.sync.demo").status).toBe("ok");
    });

    test("a running mesh pod the control plane does not know warns", () => {
      const checks = evaluateClusterChecks(
        withProxies(proxy("sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local")),
      );
      expect(byId(checks, "cluster.control-plane")).toMatchObject({
        status: "warn",
        summary: "1 running mesh pod not connected to the control plane at http://127.0.0.1:15014",
        evidence: [
          "--control-plane http://127.0.0.1:15014: 1 connected proxy",
          "demo/grpc-1: ready, no ADS stream",
        ],
      });
    });

    test("no control plane to ask warns with the port-forward recipe; one that does not answer fails", () => {
      const none = byId(
        evaluateClusterChecks(
          clusterFactsFixture({
            controlPlane: { source: "none", reason: "no meshctl Service exposes a debug port" },
          }),
        ),
        "cluster.control-plane",
      );
      expect(none).toMatchObject({
        status: "warn",
        recommendation: expect.stringContaining("--control-plane http://127.0.0.1:15014"),
      });
      const down = byId(
        evaluateClusterChecks(
          clusterFactsFixture({
            controlPlane: {
              source: "service-proxy",
              endpoint: "meshctl-system/meshctl-xds:http-debug",
              sync: {
                ok: false,
                error: {
                  code: "CONTROL_PLANE_UNREACHABLE",
                  message: 'no endpoints available for service "meshctl-xds"',
                  request: "GET services/proxy meshctl-system/meshctl-xds:http-debug/debug/clients",
                  httpStatus: 503,
                },
              },
            },
          }),
        ),
        "cluster.control-plane",
      );
      expect(down).toMatchObject({
        status: "fail",
        summary: "The control plane at meshctl-system/meshctl-xds:http-debug does not answer",
        evidence: [
          'GET services/proxy meshctl-system/meshctl-xds:http-debug/debug/clients: HTTP 503: no endpoints available for service "meshctl-xds"',
        ],
      });
    });

    test("--namespace keeps only that namespace's proxies", () => {
      const checks = evaluateClusterChecks({
        ...withProxies(
          proxy("sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local"),
          proxy("sidecar~10.2.0.5~x-1.other~other.svc.cluster.local"),
        ),
        namespace: "demo",
        namespaces: { ok: true, value: [ns("demo", { "istio-injection": "enabled" })] },
        pods: demoPods(pod("echo-1", "demo")),
      });
      expect(checks.filter((c) => c.id.startsWith("cluster.sync.")).map((c) => c.id)).toEqual([
        "cluster.sync.demo",
      ]);
    });
  });

  test("the API server answering an old version warns; proxyless pods need no capture", () => {
    const checks = evaluateClusterChecks(
      clusterFactsFixture({
        api: {
          ok: true,
          value: {
            server: "https://old",
            gitVersion: "v1.21.3",
            major: "1",
            minor: "21",
            platform: "linux/amd64",
          },
        },
        pods: demoPods(proxyless("grpc-1", "demo")),
      }),
    );
    expect(byId(checks, "cluster.api").status).toBe("warn");
    expect(checks.some((c) => c.id === "cluster.capture.demo")).toBe(false);
  });
});
