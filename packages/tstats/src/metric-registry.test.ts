import { describe, expect, test } from "vitest";
import { parseExposition } from "../test/fixtures.js";
import { escapeLabelValue, MetricRegistry, renderLabelText } from "./metric-registry.js";
import { PeerCache } from "./peer-cache.js";

describe("MetricRegistry", () => {
  test("escapes label values from the network (quotes, backslashes, newlines)", () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const r = new MetricRegistry();
    r.httpSeries(renderLabelText(["source_app"], ['evil"} 1\nistio_requests_total{x="']), false).requests++;
    const samples = parseExposition(r.renderPrometheus());
    const totals = samples.filter((s) => s.name === "istio_requests_total");
    expect(totals).toHaveLength(1);
    expect(totals[0]!.labels).toEqual([["source_app", 'evil"} 1\nistio_requests_total{x="']]);
  });

  test("caps the number of series and reports the overflow", () => {
    const r = new MetricRegistry({ maxSeries: 3 });
    for (let i = 0; i < 5; i++) r.httpSeries(`a="${i}"`, false).requests++;
    const s = parseExposition(r.renderPrometheus());
    expect(s.filter((x) => x.name === "istio_requests_total")).toHaveLength(3);
    expect(s.find((x) => x.name === "tstats_series_overflow_total")!.value).toBe(2);
  });

  test("istio_build carries the version, or unknown", () => {
    expect(new MetricRegistry({ istioVersion: "" }).renderPrometheus()).toContain(
      'istio_build{component="proxy",tag="unknown"} 1',
    );
    expect(new MetricRegistry({ istioVersion: "1.24.0" }).renderPrometheus()).toContain(
      'istio_build{component="proxy",tag="1.24.0"} 1',
    );
    expect(new MetricRegistry().renderPrometheus()).not.toContain("istio_build");
  });

  test("every family has one # TYPE line and renders nothing when empty", () => {
    const r = new MetricRegistry();
    expect(r.renderPrometheus()).toBe("");
    r.httpSeries('a="1"', true).requests++;
    const s2 = r.httpSeries('a="2"', true);
    s2.duration.observe(3);
    s2.requestBytes.observe(3);
    s2.responseBytes.observe(3);
    r.tcpSeries('a="3"').opened++;
    const types = r
      .renderPrometheus()
      .split("\n")
      .filter((l) => l.startsWith("# TYPE"));
    expect(types).toEqual([
      "# TYPE istio_requests_total counter",
      "# TYPE istio_request_duration_milliseconds histogram",
      "# TYPE istio_request_bytes histogram",
      "# TYPE istio_response_bytes histogram",
      "# TYPE istio_request_messages_total counter",
      "# TYPE istio_response_messages_total counter",
      "# TYPE istio_tcp_connections_opened_total counter",
      "# TYPE istio_tcp_connections_closed_total counter",
      "# TYPE istio_tcp_sent_bytes_total counter",
      "# TYPE istio_tcp_received_bytes_total counter",
    ]);
  });
});

describe("PeerCache", () => {
  test("drops the oldest quarter when full, like Istio's MX cache", () => {
    const c = new PeerCache<number>(8);
    for (let i = 0; i < 8; i++) c.set(`k${i}`, i);
    c.set("k8", 8);
    expect(c.size).toBe(7);
    expect(c.get("k0")).toBeUndefined();
    expect(c.get("k1")).toBeUndefined();
    expect(c.get("k2")).toBe(2);
    expect(c.get("k8")).toBe(8);
    expect(c.evictions).toBe(2);
  });

  test("refuses a useless capacity", () => {
    expect(() => new PeerCache(0)).toThrow(RangeError);
  });
});
