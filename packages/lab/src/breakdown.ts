/**
 * Where a meshed request's latency goes, from stock parts: the client's own per-request trace
 * (request id, send time, latency) joined by request id with both Envoy sidecars' access logs,
 * which record, per request, the time from the first request byte in to the last response byte
 * out (downstream) and the time from the first byte sent upstream to the last byte back
 * (upstream). Differences of durations measured inside one process need no clock alignment.
 */
import type { LabBreakdown, LabSegment, LabSegmentStats } from "./types.js";

/**
 * The access log format (Envoy JSON encoding) the lab's control plane gives its sidecars: the
 * request id, the whole downstream exchange and the upstream round trip, in µs.
 */
export const LAB_ACCESS_LOG_FORMAT: Readonly<Record<string, string>> = {
  id: "%REQ(X-REQUEST-ID)%",
  start: "%START_TIME(%s.%6f)%",
  downstreamUs: "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%",
  upstreamUs: "%COMMON_DURATION(US_TX_BEG:US_RX_END:us)%",
  serviceMs: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
};

/** The header that carries the request id (Envoy's and Istio's). */
export const REQUEST_ID_HEADER = "x-request-id";

/** One sidecar's timings of one request, µs. */
export interface SidecarTiming {
  /** First request byte received from downstream → last response byte sent downstream. */
  readonly downstreamUs: number;
  /** First request byte sent upstream → last response byte received from upstream. */
  readonly upstreamUs: number;
}

/**
 * Parses access log lines (JSON, one per request) into timings by request id; lines without an
 * id or a duration (e.g. a request that never reached upstream) are skipped.
 *
 * @example
 * parseAccessLog('{"id":"r-1","downstreamUs":310,"upstreamUs":250}\n').get("r-1"); // { downstreamUs: 310, upstreamUs: 250 }
 */
export function parseAccessLog(
  text: string,
  into = new Map<string, SidecarTiming>(),
): Map<string, SidecarTiming> {
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // a torn last line: the next read completes it
    }
    const id = entry.id;
    const downstreamUs = Number(entry.downstreamUs);
    const upstreamUs = Number(entry.upstreamUs);
    if (typeof id !== "string" || id === "" || id === "-") continue;
    if (!Number.isFinite(downstreamUs) || !Number.isFinite(upstreamUs) || entry.upstreamUs === null) continue;
    into.set(id, { downstreamUs, upstreamUs });
  }
  return into;
}

/** One traced request of the client: [id, ms since the measured phase began, latency µs, error]. */
export type TracedRequest = readonly [id: string, sentMs: number, latencyUs: number, error: number];

/** The five segments of one request, µs, in LAB_SEGMENTS order. */
export function segmentsOf(latencyUs: number, client: SidecarTiming, server: SidecarTiming): number[] {
  return [
    latencyUs - client.downstreamUs,
    client.downstreamUs - client.upstreamUs,
    client.upstreamUs - server.downstreamUs,
    server.downstreamUs - server.upstreamUs,
    server.upstreamUs,
  ];
}

function stats(values: number[]): LabSegmentStats {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, mean: 0 };
  values.sort((a, b) => a - b);
  const at = (q: number) =>
    values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))]!;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: Math.round(mean * 10) / 10 };
}

const SEGMENTS: readonly LabSegment[] = [
  "client-app-to-sidecar",
  "client-sidecar",
  "sidecar-to-sidecar",
  "server-sidecar",
  "server-sidecar-to-app",
];

/** Most points kept for the timeline scatter of one measurement. */
export const TIMELINE_POINTS = 2000;

/**
 * Joins the client's trace with both sidecars' timings and splits each successful request's
 * latency into the five segments (they add up to the client's latency). Percentiles are
 * nearest-rank per segment, so segment p99s need not add up to the total's p99.
 *
 * @example
 * const breakdown = joinBreakdown(trace, parseAccessLog(clientLog), parseAccessLog(serverLog));
 * breakdown.segments["client-sidecar"].p50;
 */
export function joinBreakdown(
  trace: readonly TracedRequest[],
  client: ReadonlyMap<string, SidecarTiming>,
  server: ReadonlyMap<string, SidecarTiming>,
  maxPoints = TIMELINE_POINTS,
): LabBreakdown {
  const columns: number[][] = SEGMENTS.map(() => []);
  const joined: (readonly [number, number, number])[] = [];
  let unmatched = 0;
  for (const [id, sentMs, latencyUs, error] of trace) {
    if (error) continue;
    const c = client.get(id);
    const s = server.get(id);
    if (!c || !s) {
      unmatched++;
      continue;
    }
    const parts = segmentsOf(latencyUs, c, s);
    for (const [i, v] of parts.entries()) columns[i]!.push(v);
    joined.push([Math.round(sentMs * 1000) / 1000, parts[1]!, parts[3]!]);
  }
  const step = Math.max(1, joined.length / maxPoints);
  const timeline: (readonly [number, number, number])[] = [];
  for (let i = 0; i < joined.length && timeline.length < maxPoints; i += step)
    timeline.push(joined[Math.floor(i)]!);
  const segments = Object.fromEntries(SEGMENTS.map((name, i) => [name, stats(columns[i]!)])) as Record<
    LabSegment,
    LabSegmentStats
  >;
  return { joined: joined.length, unmatched, segments, timeline };
}
