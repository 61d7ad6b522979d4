/**
 * The server's own metrics, scraped once at the end of a run: every sample whose name starts
 * with a prefix (`meshctl_xds_`, `pilot_`), keyed as printed (`name{labels}`). Names are not
 * hard-coded, so new server counters show up in the report by themselves.
 */

/**
 * Parses Prometheus text exposition into `{ "name{labels}": value }` for names with `prefix`.
 * Non-finite values (NaN, +Inf) are skipped: JSON cannot carry them.
 *
 * @example
 * parsePrometheusSamples('meshctl_xds_pushes_total{type="eds"} 12\n', "meshctl_xds_");
 * // { 'meshctl_xds_pushes_total{type="eds"}': 12 }
 */
export function parsePrometheusSamples(
  text: string,
  prefixes: string | readonly string[],
): Record<string, number> {
  const wanted = typeof prefixes === "string" ? [prefixes] : prefixes;
  const out: Record<string, number> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!wanted.some((p) => line.startsWith(p))) continue;
    // Label values may hold spaces: the series ends at the last '}' when there are labels.
    const close = line.indexOf("{") >= 0 ? line.lastIndexOf("}") : -1;
    const end = close >= 0 ? close + 1 : line.search(/\s/);
    if (end <= 0) continue;
    const value = Number(line.slice(end).trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) out[line.slice(0, end)] = value;
  }
  return out;
}

/** Fetches and parses a /metrics endpoint; an unreachable endpoint yields an error message instead. */
export async function scrapeServerMetrics(
  url: string,
  prefixes: string | readonly string[],
  timeoutMs = 5000,
): Promise<{ samples: Record<string, number>; error?: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { samples: {}, error: `${url}: HTTP ${res.status}` };
    return { samples: parsePrometheusSamples(await res.text(), prefixes) };
  } catch (error) {
    return { samples: {}, error: `${url}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/**
 * A cache hit rate, when the server reports cache hits and misses (by name or label, any
 * spelling containing "cache" and "hit"/"miss"); null otherwise.
 *
 * @example
 * serverCacheHitRate({ 'meshctl_xds_cache_total{result="hit"}': 90, 'meshctl_xds_cache_total{result="miss"}': 10 }); // 0.9
 */
export function serverCacheHitRate(samples: Readonly<Record<string, number>>): number | null {
  let hits = 0;
  let misses = 0;
  for (const [key, value] of Object.entries(samples)) {
    const k = key.toLowerCase();
    if (!k.includes("cache") || /_bucket\b|_sum\b|_count\b/.test(k)) continue;
    if (/hit/.test(k)) hits += value;
    else if (/miss/.test(k)) misses += value;
  }
  return hits + misses > 0 ? Math.round((hits / (hits + misses)) * 1000) / 1000 : null;
}
