import { readFileSync } from "node:fs";
import {
  type StaticMeshSource,
  startXdsServer,
  staticMeshSource,
  TYPE_URLS,
  type XdsServerHandle,
} from "@meshctl/xds";
import {
  type AdsTestClient,
  connectAdsTestClient,
  endpointSlice,
  k8sService,
  type SotwResponse,
  waitFor,
} from "@meshctl/xds/testing";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  applyIstioCrds,
  createObjects,
  kubeApiserverGate,
  markComponentsReady,
  meshctlComponents,
  meshPod,
  namespace,
  sidecarResource,
  startTestCluster,
  type TestCluster,
} from "../../../../kube/test/fixtures/cluster.js";
import { runMeshctl } from "../../../test/helpers.js";
import { clusterCheckGroup } from "./cluster-checks.js";
import { runDiagnose } from "./index.js";
import type { Check } from "./types.js";

// Against a real kube-apiserver (no kubelet: pods stay Pending, workload status is written by the
// test as a controller would) and meshctl's real xDS server, with raw ADS clients that ACK, NACK
// or stay silent.
const gate = await kubeApiserverGate("cluster diagnose");

const ACKING = "sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local";
const NACKING = "sidecar~10.1.0.7~bad-1.demo~demo.svc.cluster.local";
const SILENT = "sidecar~10.1.0.9~slow-1.demo~demo.svc.cluster.local";
const NACK_MESSAGE = "cluster outbound|7070||echo.demo.svc.cluster.local: unsupported lb_policy MAGLEV";

const mesh = [
  k8sService({ name: "echo", namespace: "demo", port: 7070 }),
  ...endpointSlice({
    name: "echo",
    namespace: "demo",
    service: "echo",
    endpoints: [{ address: "10.1.0.5", port: 7070 }],
  }),
];

describe.skipIf(gate.skip)("meshctl diagnose: the cluster group against a real API server", () => {
  let cluster: TestCluster;
  let xds: XdsServerHandle;
  let source: StaticMeshSource;
  const clients: AdsTestClient<SotwResponse>[] = [];
  let controlPlaneUrl = "";

  const connect = async (nodeId: string, answer: "ack" | "nack" | "none") => {
    const c = await connectAdsTestClient({ address: xds.address, protocol: "sotw", nodeId });
    clients.push(c);
    c.send({ type_url: TYPE_URLS.cds, resource_names: [] });
    const r = await c.next();
    if (answer === "ack")
      c.send({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce });
    if (answer === "nack")
      c.send({
        type_url: r.type_url,
        version_info: "",
        response_nonce: r.nonce,
        error_detail: { code: 3, message: NACK_MESSAGE },
      });
    await waitFor(() => {
      const t = xds.clients().find((s) => s.nodeId === nodeId)?.types.cds;
      return answer === "ack" ? t?.acks === 1 : answer === "nack" ? t?.nacks === 1 : t?.pushes === 1;
    });
    return c;
  };

  const cluster_ = async (staleAfterMs?: number): Promise<Check[]> => {
    const report = await runDiagnose({
      groups: [
        clusterCheckGroup({
          kubeconfig: cluster.kubeconfig,
          controlPlaneUrl,
          ...(staleAfterMs !== undefined ? { staleAfterMs } : {}),
        }),
      ],
    });
    return [...report.checks];
  };
  const get = (checks: readonly Check[], id: string) => {
    const c = checks.find((x) => x.id === id);
    if (!c) throw new Error(`no ${id} in ${checks.map((x) => `${x.id}=${x.status}`).join(", ")}`);
    return c;
  };

  beforeAll(async () => {
    if (gate.missing) throw new Error(gate.missing);
    cluster = await startTestCluster();
    source = staticMeshSource(mesh);
    xds = await startXdsServer({ source, port: 0, debugPort: 0 });
    controlPlaneUrl = `http://127.0.0.1:${xds.debugPort}`;
  }, 90_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await xds?.close();
    await cluster?.close();
  });

  test("a broken setup: a missing CRD, a namespace without scoping and a NACKing proxy are found", async () => {
    await applyIstioCrds(cluster, ["WorkloadEntry"]);
    await createObjects(cluster, [
      ...meshctlComponents(),
      namespace("istio-system"),
      namespace("demo", { "istio-injection": "enabled" }),
      meshPod({ name: "echo-1", namespace: "demo", sidecar: "container" }),
      meshPod({ name: "bad-1", namespace: "demo", sidecar: "container" }),
      meshPod({ name: "grpc-1", namespace: "demo", proxyless: true }),
    ]);
    await connect(ACKING, "ack");
    await connect(NACKING, "nack");
    await connect(SILENT, "none");
    await new Promise((r) => setTimeout(r, 300)); // the silent proxy's push ages past staleAfterMs

    const checks = await cluster_(200);
    expect(get(checks, "cluster.api")).toMatchObject({
      status: "ok",
      summary: expect.stringContaining(cluster.server),
    });
    expect(get(checks, "cluster.istio-crds")).toMatchObject({
      status: "fail",
      summary: "Istio CRDs missing: WorkloadEntry; the control plane cannot read them",
      evidence: expect.arrayContaining(["workloadentries.networking.istio.io: missing"]),
    });
    expect(get(checks, "cluster.scoping.demo")).toMatchObject({
      status: "warn",
      summary: "demo: 3 of 3 proxies would receive the whole mesh (no Sidecar scoping)",
      recommendation: expect.stringContaining("Add a Sidecar to demo"),
    });
    const sync = get(checks, "cluster.sync.demo");
    expect(sync).toMatchObject({ status: "fail", summary: "demo: 3 proxies: 1 synced, 1 stale, 1 NACKed" });
    expect(sync.evidence).toContain(`${NACKING}: NACKed CDS (keeps version none): ${NACK_MESSAGE}`);
    expect(sync.evidence.find((l) => l.startsWith(SILENT))).toMatch(
      /: stale: CDS \S+ sent \d+s ago, ACKed none$/,
    );
    expect(sync.evidence.find((l) => l.startsWith(ACKING))).toMatch(/: synced CDS at /);
    // No controller-manager here: the Deployment and DaemonSet never get a status.
    expect(get(checks, "cluster.components")).toMatchObject({
      status: "fail",
      evidence: expect.arrayContaining([expect.stringContaining("no controller has processed it")]),
    });
    expect(get(checks, "cluster.injection.demo").status).toBe("ok");
    expect(get(checks, "cluster.capture.demo").status).toBe("ok");
    expect(get(checks, "cluster.control-plane")).toMatchObject({
      status: "ok",
      evidence: [`--control-plane ${controlPlaneUrl}: 3 connected proxies`],
    });
    for (const c of checks) if (c.status !== "ok") expect(c.recommendation, c.id).toBeTruthy();
  });

  test("a healthy setup: every cluster check is ok", async () => {
    await applyIstioCrds(cluster);
    await markComponentsReady(cluster);
    await createObjects(cluster, [
      sidecarResource({ name: "default", namespace: "demo", hosts: ["./*", "istio-system/*"] }),
    ]);
    for (const c of clients.splice(1)) c.close(); // the NACKing and the silent proxy go away
    await waitFor(() => xds.clients().length === 1, { what: "two proxies to disconnect" });

    const checks = await cluster_(200);
    expect(checks.map((c) => [c.id, c.status])).toEqual([
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
    expect(get(checks, "cluster.scoping.demo").evidence).toContain(
      "echo-1: Sidecar demo/default (egress ./*, istio-system/*)",
    );
    expect(get(checks, "cluster.namespaces").summary).toBe("1 namespace in the mesh: demo");
  });

  test("the built binary: --kubeconfig, --namespace, --control-plane and --json as everywhere", async () => {
    const { code, stdout, stderr } = await runMeshctl([
      "diagnose",
      "--kubeconfig",
      cluster.kubeconfig,
      "--namespace",
      "demo",
      "--control-plane",
      controlPlaneUrl,
      "--json",
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as { checks: Check[] };
    const schema = JSON.parse(
      readFileSync(new URL("../../../schemas/diagnose.schema.json", import.meta.url), "utf8"),
    );
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
    const clusterChecks = report.checks.filter((c) => c.group === "cluster");
    expect(clusterChecks.map((c) => [c.id, c.status])).toEqual([
      ["cluster.api", "ok"],
      ["cluster.istio-crds", "ok"],
      ["cluster.components", "ok"],
      ["cluster.control-plane", "ok"],
      ["cluster.sync.demo", "ok"],
      ["cluster.injection.demo", "ok"],
      ["cluster.capture.demo", "ok"],
      ["cluster.scoping.demo", "ok"],
    ]);
    // Without any cluster flag there is no cluster group.
    const host = await runMeshctl(["diagnose", "--json"]);
    expect((JSON.parse(host.stdout) as { checks: Check[] }).checks.some((c) => c.group === "cluster")).toBe(
      false,
    );
  });

  test("an unreachable API server is a failing finding, not a crash, and the binary exits promptly", async () => {
    const started = Date.now();
    const { code, stdout } = await runMeshctl([
      "diagnose",
      "--kubeconfig",
      "/nonexistent/kubeconfig",
      "--json",
    ]);
    expect(code).toBe(0);
    const api = (JSON.parse(stdout) as { checks: Check[] }).checks.find((c) => c.id === "cluster.api");
    expect(api).toMatchObject({
      status: "fail",
      summary: "The kubeconfig cannot be used; the other cluster checks were skipped",
    });
    const strict = await runMeshctl(["diagnose", "--kubeconfig", "/nonexistent/kubeconfig", "--strict"]);
    expect(strict.code).toBe(5);
    expect(strict.stdout).toContain("[cluster]");
    expect(strict.stdout).toContain("-> Pass --kubeconfig PATH");
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});
