import { describe, expect, test } from "vitest";
import { parsePrometheusSamples, serverCacheHitRate } from "./server-metrics.js";

const TEXT = `# HELP meshctl_xds_pushes_total xDS responses sent, by type.
# TYPE meshctl_xds_pushes_total counter
meshctl_xds_pushes_total{type="eds"} 12
meshctl_xds_connected_clients 3
meshctl_xds_weird{reason="a b} c"} 1 1700000000000
meshctl_xds_push_duration_seconds_bucket{type="eds",le="+Inf"} 4
meshctl_xds_nan NaN
other_metric 5
pilot_xds 7
`;

describe("server metrics", () => {
  test("keeps every sample with the prefix, keyed name{labels}", () => {
    expect(parsePrometheusSamples(TEXT, "meshctl_xds_")).toEqual({
      'meshctl_xds_pushes_total{type="eds"}': 12,
      meshctl_xds_connected_clients: 3,
      'meshctl_xds_weird{reason="a b} c"}': 1,
      'meshctl_xds_push_duration_seconds_bucket{type="eds",le="+Inf"}': 4,
    });
    expect(parsePrometheusSamples(TEXT, ["pilot_"])).toEqual({ pilot_xds: 7 });
  });

  test("a cache hit rate from any hit/miss spelling, null without one", () => {
    expect(
      serverCacheHitRate({
        'meshctl_xds_cache_reads_total{result="hit",type="eds"}': 30,
        'meshctl_xds_cache_reads_total{result="hit",type="cds"}': 60,
        'meshctl_xds_cache_reads_total{result="miss",type="eds"}': 10,
      }),
    ).toBe(0.9);
    expect(serverCacheHitRate({ meshctl_xds_cache_hits_total: 1, meshctl_xds_cache_misses_total: 3 })).toBe(
      0.25,
    );
    expect(serverCacheHitRate({ 'meshctl_xds_pushes_total{type="eds"}': 12 })).toBeNull();
  });
});
