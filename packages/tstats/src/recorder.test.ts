import { describe, expect, test } from "vitest";
import {
  labelsOf,
  localFixture,
  parseExposition,
  REFERENCE_BUCKETS,
  REFERENCE_HTTP_LABELS,
  REFERENCE_TCP_LABELS,
  workloadFixture,
} from "../test/fixtures.js";
import { encodePeerMetadataHeader } from "./peer-metadata.js";
import { destinationServiceFromTarget, TstatsRecorder } from "./recorder.js";

const productpage = localFixture("productpage");
const reviews = workloadFixture("reviews", {
  version: "v2",
  canonicalRevision: "v2",
  workloadName: "reviews-v2",
});
const reviewsHeader = encodePeerMetadataHeader(reviews);
const reviewsId = "sidecar~10.0.0.9~reviews-v2-abc.default~default.svc.cluster.local";
const reviewsService = destinationServiceFromTarget("reviews.default.svc.cluster.local:9080");

function samples(recorder: TstatsRecorder, name: string) {
  return parseExposition(recorder.registry.renderPrometheus()).filter((s) => s.name === name);
}

describe("HTTP metrics have Istio's names, labels, order and values", () => {
  test("reporter=source (client side, known peer)", () => {
    const r = new TstatsRecorder({ local: productpage });
    const site = r.callSite({ reporter: "source", service: reviewsService });
    r.recordHttp(site, r.resolvePeer(reviewsHeader, reviewsId), {
      protocol: "http",
      responseCode: 200,
      durationMs: 12,
      requestBytes: 300,
      responseBytes: 1200,
    });
    const [total] = samples(r, "istio_requests_total");
    expect(total!.labels.map(([k]) => k)).toEqual(REFERENCE_HTTP_LABELS);
    expect(total!.value).toBe(1);
    expect(labelsOf(total!)).toEqual({
      reporter: "source",
      source_workload: "productpage-v1",
      source_canonical_service: "productpage",
      source_canonical_revision: "v1",
      source_workload_namespace: "default",
      source_principal: "unknown",
      source_app: "productpage",
      source_version: "v1",
      source_cluster: "Kubernetes",
      destination_workload: "reviews-v2",
      destination_workload_namespace: "default",
      destination_principal: "unknown",
      destination_app: "reviews",
      destination_version: "v2",
      destination_service: "reviews.default.svc.cluster.local",
      destination_canonical_service: "reviews",
      destination_canonical_revision: "v2",
      destination_service_name: "reviews",
      destination_service_namespace: "default",
      destination_cluster: "Kubernetes",
      request_protocol: "http",
      response_code: "200",
      grpc_response_status: "",
      response_flags: "-",
      connection_security_policy: "unknown",
    });
    // No message counters for plain HTTP.
    expect(samples(r, "istio_request_messages_total")).toHaveLength(0);
  });

  test("reporter=destination (server side) with mTLS principals", () => {
    const r = new TstatsRecorder({
      local: localFixture("reviews", { workloadName: "reviews-v2", version: "v2", canonicalRevision: "v2" }),
    });
    const site = r.callSite({
      reporter: "destination",
      service: reviewsService,
      localPrincipal: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
      peerPrincipal: "spiffe://cluster.local/ns/frontend/sa/bookinfo-productpage",
      mutualTls: true,
    });
    const peer = r.resolvePeer(encodePeerMetadataHeader(workloadFixture("productpage")), "pp-id");
    r.recordHttp(site, peer, {
      protocol: "http",
      responseCode: 503,
      responseFlags: "UF",
      durationMs: 1,
      requestBytes: 10,
      responseBytes: 20,
    });
    const [total] = samples(r, "istio_requests_total");
    expect(total!.labels.map(([k]) => k)).toEqual(REFERENCE_HTTP_LABELS);
    expect(labelsOf(total!)).toEqual({
      reporter: "destination",
      source_workload: "productpage-v1",
      source_canonical_service: "productpage",
      source_canonical_revision: "v1",
      // The SAN's namespace wins over the peer's metadata.
      source_workload_namespace: "frontend",
      source_principal: "spiffe://cluster.local/ns/frontend/sa/bookinfo-productpage",
      source_app: "productpage",
      source_version: "v1",
      source_cluster: "Kubernetes",
      destination_workload: "reviews-v2",
      destination_workload_namespace: "default",
      destination_principal: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
      destination_app: "reviews",
      destination_version: "v2",
      destination_service: "reviews.default.svc.cluster.local",
      destination_canonical_service: "reviews",
      destination_canonical_revision: "v2",
      destination_service_name: "reviews",
      destination_service_namespace: "default",
      destination_cluster: "Kubernetes",
      request_protocol: "http",
      response_code: "503",
      grpc_response_status: "",
      response_flags: "UF",
      connection_security_policy: "mutual_tls",
    });
  });

  test("unknown peer: `unknown` everywhere, canonical revision `latest`, plaintext `none`", () => {
    const r = new TstatsRecorder({ local: productpage });
    const site = r.callSite({ reporter: "destination" });
    r.recordHttp(site, r.resolvePeer(undefined), {
      protocol: "http",
      responseCode: 404,
      durationMs: 2,
      requestBytes: 1,
      responseBytes: 2,
    });
    const l = labelsOf(samples(r, "istio_requests_total")[0]!);
    expect(l).toMatchObject({
      source_workload: "unknown",
      source_canonical_service: "unknown",
      source_canonical_revision: "latest",
      source_workload_namespace: "unknown",
      source_principal: "unknown",
      source_app: "unknown",
      source_version: "unknown",
      source_cluster: "unknown",
      // Server side without a known service: the canonical service stands in.
      destination_service: "productpage",
      destination_service_name: "productpage",
      connection_security_policy: "none",
    });
    const client = r.callSite({ reporter: "source" });
    r.recordHttp(client, r.resolvePeer(undefined), {
      protocol: "http",
      responseCode: 0,
      responseFlags: "UF",
      durationMs: 2,
      requestBytes: 1,
      responseBytes: 0,
    });
    const source = samples(r, "istio_requests_total")
      .map(labelsOf)
      .find((s) => s.reporter === "source")!;
    expect(source).toMatchObject({
      destination_workload: "unknown",
      destination_workload_namespace: "unknown",
      destination_principal: "unknown",
      destination_app: "unknown",
      destination_version: "unknown",
      destination_service: "unknown",
      destination_canonical_service: "unknown",
      destination_canonical_revision: "latest",
      destination_service_name: "unknown",
      destination_service_namespace: "unknown",
      destination_cluster: "unknown",
      response_code: "0",
    });
  });

  test("an undecodable header is an unknown peer, counted as a decode error", () => {
    const r = new TstatsRecorder({ local: productpage });
    const peer = r.resolvePeer(Buffer.from([0x0a, 0x7f]).toString("base64"), "bad");
    expect(peer.workload).toBeNull();
    expect(r.peerCacheStats().decodeErrors).toBe(1);
  });

  test("histograms use Envoy's default buckets and are cumulative", () => {
    const r = new TstatsRecorder({ local: productpage });
    const site = r.callSite({ reporter: "source", service: reviewsService });
    const peer = r.resolvePeer(reviewsHeader, reviewsId);
    for (const ms of [0.2, 3, 3, 70, 4000000]) {
      r.recordHttp(site, peer, {
        protocol: "http",
        responseCode: 200,
        durationMs: ms,
        requestBytes: 100,
        responseBytes: 100,
      });
    }
    const buckets = samples(r, "istio_request_duration_milliseconds_bucket");
    expect(buckets.map((b) => labelsOf(b).le)).toEqual(REFERENCE_BUCKETS);
    expect(buckets[0]!.labels.map(([k]) => k)).toEqual([...REFERENCE_HTTP_LABELS, "le"]);
    const byLe = Object.fromEntries(buckets.map((b) => [labelsOf(b).le, b.value]));
    expect(byLe).toMatchObject({ "0.5": 1, "1": 1, "5": 3, "50": 3, "100": 4, "3600000": 4, "+Inf": 5 });
    expect(samples(r, "istio_request_duration_milliseconds_count")[0]!.value).toBe(5);
    expect(samples(r, "istio_request_duration_milliseconds_sum")[0]!.value).toBeCloseTo(4000076.2);
    for (const name of ["istio_request_bytes_bucket", "istio_response_bytes_bucket"]) {
      expect(samples(r, name).map((b) => labelsOf(b).le)).toEqual(REFERENCE_BUCKETS);
    }
  });
});

describe("gRPC metrics", () => {
  test("request_protocol=grpc, grpc_response_status and message counters, both reporters", () => {
    const r = new TstatsRecorder({ local: productpage });
    const peer = r.resolvePeer(reviewsHeader, reviewsId);
    for (const reporter of ["source", "destination"] as const) {
      r.recordHttp(r.callSite({ reporter, service: reviewsService }), peer, {
        protocol: "grpc",
        responseCode: 200,
        grpcStatus: 14,
        durationMs: 5,
        requestBytes: 40,
        responseBytes: 50,
        requestMessages: 3,
        responseMessages: 2,
      });
    }
    const totals = samples(r, "istio_requests_total");
    expect(totals).toHaveLength(2);
    for (const t of totals) {
      expect(t.labels.map(([k]) => k)).toEqual(REFERENCE_HTTP_LABELS);
      expect(labelsOf(t)).toMatchObject({
        request_protocol: "grpc",
        response_code: "200",
        grpc_response_status: "14",
      });
    }
    expect(samples(r, "istio_request_messages_total").map((s) => s.value)).toEqual([3, 3]);
    expect(samples(r, "istio_response_messages_total").map((s) => s.value)).toEqual([2, 2]);
    expect(new Set(totals.map((t) => labelsOf(t).reporter))).toEqual(new Set(["source", "destination"]));
  });
});

describe("TCP metrics", () => {
  test("23 labels in order, request_protocol=tcp, all four counters, both reporters", () => {
    const r = new TstatsRecorder({ local: productpage });
    const peer = r.resolvePeer(reviewsHeader, reviewsId);
    for (const reporter of ["source", "destination"] as const) {
      const series = r.tcpSeries(r.callSite({ reporter, service: reviewsService, mutualTls: true }), peer);
      series.opened++;
      series.sentBytes += 100;
      series.receivedBytes += 250;
      series.closed++;
    }
    for (const name of [
      "istio_tcp_connections_opened_total",
      "istio_tcp_connections_closed_total",
      "istio_tcp_sent_bytes_total",
      "istio_tcp_received_bytes_total",
    ]) {
      const s = samples(r, name);
      expect(s, name).toHaveLength(2);
      for (const sample of s) {
        expect(sample.labels.map(([k]) => k)).toEqual(REFERENCE_TCP_LABELS);
        expect(labelsOf(sample).request_protocol).toBe("tcp");
      }
    }
    const policies = samples(r, "istio_tcp_sent_bytes_total").map((s) => [
      labelsOf(s).reporter,
      labelsOf(s).connection_security_policy,
    ]);
    expect(policies).toEqual(
      expect.arrayContaining([
        ["source", "unknown"],
        ["destination", "mutual_tls"],
      ]),
    );
    expect(samples(r, "istio_tcp_received_bytes_total")[0]!.value).toBe(250);
  });
});

describe("peer cache", () => {
  test("decodes a peer once per id; the request path reuses the handle", () => {
    const r = new TstatsRecorder({ local: productpage });
    const a = r.resolvePeer(reviewsHeader, reviewsId);
    const b = r.resolvePeer(reviewsHeader, reviewsId);
    expect(b).toBe(a);
    expect(r.peerCacheStats()).toMatchObject({ size: 1, hits: 1, misses: 1 });
  });

  test("is bounded; evicted peers keep their series", () => {
    const r = new TstatsRecorder({ local: productpage, peerCacheSize: 8 });
    const site = r.callSite({ reporter: "destination" });
    for (let i = 0; i < 20; i++) {
      const header = encodePeerMetadataHeader(workloadFixture(`svc${i}`));
      r.recordHttp(site, r.resolvePeer(header, `id-${i}`), {
        protocol: "http",
        responseCode: 200,
        durationMs: 1,
        requestBytes: 1,
        responseBytes: 1,
      });
    }
    expect(r.peerCacheStats().size).toBeLessThanOrEqual(8);
    expect(r.peerCacheStats().evictions).toBeGreaterThan(0);
    // Re-seeing an evicted peer adds to its existing series.
    r.recordHttp(site, r.resolvePeer(encodePeerMetadataHeader(workloadFixture("svc0")), "id-0"), {
      protocol: "http",
      responseCode: 200,
      durationMs: 1,
      requestBytes: 1,
      responseBytes: 1,
    });
    const svc0 = samples(r, "istio_requests_total").filter((s) => labelsOf(s).source_app === "svc0");
    expect(svc0.map((s) => s.value)).toEqual([2]);
    expect(samples(r, "istio_requests_total")).toHaveLength(20);
  });

  test("decode-every-request mode produces the same exposition", () => {
    const outputs = (["cached", "decode-every-request"] as const).map((mode) => {
      const r = new TstatsRecorder({ local: productpage, mode });
      const site = r.callSite({ reporter: "source", service: reviewsService });
      for (let i = 0; i < 3; i++) {
        r.recordHttp(site, r.resolvePeer(reviewsHeader, reviewsId), {
          protocol: "grpc",
          responseCode: 200,
          grpcStatus: 0,
          durationMs: 1,
          requestBytes: 1,
          responseBytes: 1,
          requestMessages: 1,
          responseMessages: 1,
        });
      }
      return r.registry.renderPrometheus();
    });
    expect(outputs[1]).toBe(outputs[0]);
  });
});

describe("destinationServiceFromTarget", () => {
  test.each([
    [
      "xds:///echo.default.svc.cluster.local:8080",
      { host: "echo.default.svc.cluster.local", name: "echo", namespace: "default" },
    ],
    [
      "dns:///reviews.bookinfo.svc:9080",
      { host: "reviews.bookinfo.svc", name: "reviews", namespace: "bookinfo" },
    ],
    ["localhost:50051", { host: "localhost", name: "localhost", namespace: "" }],
    ["[::1]:50051", { host: "::1", name: "::1", namespace: "" }],
    ["api.example.com", { host: "api.example.com", name: "api", namespace: "" }],
  ])("%s", (target, expected) => {
    expect(destinationServiceFromTarget(target)).toEqual(expected);
  });
});
