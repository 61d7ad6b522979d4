/**
 * The parity harness (issue 18) on a few cases: istiod (with the loopback kube-apiserver) and
 * meshctl serve the same Istio sample and feature YAML, and both are fetched over ADS. istiod is
 * a required component here (CI builds it): when it is missing the test fails with the reason.
 * The verdicts are compare.ts's business; this checks the runner gets real config from both.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, test } from "vitest";
import { buildParityCorpus } from "../src/parity/corpus.js";
import { locateIstioModule } from "../src/parity/istio-samples.js";
import { renderParityText } from "../src/parity/report.js";
import { PARITY_RESULTS_FILE, parityRegressions } from "../src/parity/results-file.js";
import { type ParityRunResult, runParity } from "../src/parity/run-parity.js";
import type { ConfigSnapshot, ParityCase, ParityReport } from "../src/parity/types.js";

const CASES = ["bookinfo-destination-rule-all", "bookinfo-virtual-service-reviews-v3", "vs-weighted-routes"];
const REVIEWS = "reviews.default.svc.cluster.local";
/** Istio's outbound cluster name: `outbound|<port>|<subset>|<host>`. */
const OUTBOUND = /^outbound\|\d+\|[A-Za-z0-9._-]*\|[A-Za-z0-9.*-]+$/;

/** The endpoint IPs of one ClusterLoadAssignment (by EDS service name). */
function endpointIps(snapshot: ConfigSnapshot, cluster: string): string[] {
  const c = snapshot.clusters[cluster] as { eds_cluster_config?: { service_name?: string } } | undefined;
  const cla = snapshot.endpoints[c?.eds_cluster_config?.service_name || cluster] as
    | {
        endpoints?: {
          lb_endpoints?: { endpoint?: { address?: { socket_address?: { address?: string } } } }[];
        }[];
      }
    | undefined;
  return (cla?.endpoints ?? []).flatMap((l) =>
    (l.lb_endpoints ?? []).map((e) => e.endpoint?.address?.socket_address?.address ?? ""),
  );
}

/** The pod IP of a Deployment's first replica, from the case's own objects (the test oracle). */
function podIp(c: ParityCase, deployment: string): string {
  const pod = (
    c.kubernetes as { kind?: string; metadata?: { name?: string }; status?: { podIP?: string } }[]
  ).find((o) => o.kind === "Pod" && o.metadata?.name === `${deployment}-0`);
  return pod?.status?.podIP ?? "";
}

describe("the parity harness", () => {
  // The whole corpus, once (about 2–3 minutes): every case must run, and none may do worse
  // than in the committed results.
  let cases: ParityCase[] = [];
  let full: ParityRunResult;
  beforeAll(async () => {
    cases = buildParityCorpus({ istio: await locateIstioModule() });
    full = await runParity({ cases, caseTimeoutMs: 45_000 });
  }, 900_000);

  test("runs the whole corpus, reports every case, and no case regresses", () => {
    // The report in the CI log: each case equal / deliberately different / different.
    console.log(renderParityText(full.report));
    expect(full.report.cases.map((c) => c.name).sort()).toEqual(cases.map((c) => c.name).sort());
    expect(full.cases.filter((c) => c.error).map((c) => `${c.name}: ${c.error}`)).toEqual([]);
    const committed = JSON.parse(
      readFileSync(new URL(`../${PARITY_RESULTS_FILE}`, import.meta.url), "utf8"),
    ) as ParityReport;
    expect(parityRegressions(full.report, committed)).toEqual([]);
  });

  test("fetches real config for every proxy from istiod and meshctl", () => {
    const run = { cases: full.cases.filter((c) => CASES.includes(c.name)) };
    expect(run.cases.map((c) => c.name).sort()).toEqual([...CASES].sort());

    for (const c of run.cases) {
      const spec = cases.find((x) => x.name === c.name) as ParityCase;
      expect(c.error, `${c.name}: ${c.error}`).toBeUndefined();
      expect(Object.keys(c.snapshots).sort()).toEqual(spec.proxies.map((p) => p.id).sort());
      for (const [proxy, both] of Object.entries(c.snapshots))
        for (const server of ["istiod", "meshctl"] as const) {
          const s = both[server];
          const what = `${c.name} ${proxy} from ${server}`;
          expect(Object.keys(s.listeners).length, `${what}: listeners`).toBeGreaterThan(0);
          expect(Object.keys(s.clusters).length, `${what}: clusters`).toBeGreaterThan(0);
          const outbound = Object.keys(s.clusters).filter((n) => n.startsWith("outbound"));
          expect(outbound.length, `${what}: outbound clusters`).toBeGreaterThan(0);
          for (const name of outbound) expect(name, what).toMatch(OUTBOUND);
        }
    }

    // Subset endpoints come from Pod labels through the EndpointSlice targetRef, on both sides.
    const dr = run.cases.find((c) => c.name === "bookinfo-destination-rule-all");
    const drCase = cases.find((c) => c.name === "bookinfo-destination-rule-all") as ParityCase;
    const sidecar = dr?.snapshots["productpage-v1-sidecar"];
    expect(sidecar).toBeDefined();
    for (const server of ["istiod", "meshctl"] as const)
      for (const v of ["v1", "v2", "v3"]) {
        const cluster = `outbound|9080|${v}|${REVIEWS}`;
        const snapshot = sidecar?.[server] as ConfigSnapshot;
        expect(Object.keys(snapshot.clusters), `${server}: ${cluster}`).toContain(cluster);
        expect(endpointIps(snapshot, cluster), `${server}: endpoints of ${cluster}`).toEqual([
          podIp(drCase, `reviews-${v}`),
        ]);
      }

    // The proxyless client follows its target's route to the subset cluster on both sides.
    const v3 = run.cases.find((c) => c.name === "bookinfo-virtual-service-reviews-v3");
    const grpc = v3?.snapshots["productpage-v1-grpc"];
    for (const server of ["istiod", "meshctl"] as const) {
      const snapshot = grpc?.[server] as ConfigSnapshot;
      expect(Object.keys(snapshot.listeners), server).toContain(`${REVIEWS}:9080`);
      expect(Object.keys(snapshot.clusters), server).toContain(`outbound|9080|v3|${REVIEWS}`);
    }
  });
});
