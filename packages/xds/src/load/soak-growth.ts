/**
 * Does the control plane's memory grow over a soak? RSS samples are split into process lifetimes
 * (a restart resets RSS), the warm-up of each lifetime is dropped, and one slope is fitted over
 * all lifetimes at once with an intercept per lifetime (least squares with fixed effects), with
 * a 95 % interval from Student's t. Samples every few seconds are autocorrelated, so the interval
 * is narrower than an honest one: "growth" is only called when it excludes 0 AND its upper bound
 * reaches the threshold, which a real leak over tens of minutes does by far.
 */

export interface RssSample {
  /** Seconds since the soak started. */
  readonly tSeconds: number;
  readonly rssMiB: number;
  /** Process lifetime: 0 for the first process, +1 per restart. */
  readonly segment: number;
}

export type RssGrowthVerdict = "no-growth" | "growth" | "insufficient-data";

export interface RssGrowth {
  readonly verdict: RssGrowthVerdict;
  /** Fitted slope, MiB per hour; null without enough data. */
  readonly slopeMiBPerHour: number | null;
  /** 95 % interval of the slope, MiB per hour. */
  readonly ci95MiBPerHour: readonly [number, number] | null;
  readonly thresholdMiBPerHour: number;
  /** Samples and lifetimes the fit used. */
  readonly points: number;
  readonly segmentsUsed: number;
  /** Only samples at or after this time were used (the second half of the soak). */
  readonly fromSeconds: number;
}

export interface RssGrowthOptions {
  /** Use samples from this time on (the second half of the soak). */
  readonly fromSeconds: number;
  /** Dropped at the start of each lifetime (caches filling after a start), seconds. Default 30. */
  readonly warmupSeconds?: number;
  /** A lifetime contributes only with this many samples left... Default 5. */
  readonly minPoints?: number;
  /** ...spanning at least this long, seconds. Default 30. */
  readonly minSpanSeconds?: number;
  /** "growth" needs the interval's upper bound at or above this, MiB/h. Default 20. */
  readonly thresholdMiBPerHour?: number;
}

/**
 * The 0.975 quantile of Student's t with `df` degrees of freedom (exact for 1 and 2, a
 * Cornish-Fisher expansion from 3 on: within 0.3 % there, and better as df grows).
 *
 * @example
 * tQuantile975(10); // ≈ 2.228
 */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) return Number.POSITIVE_INFINITY;
  if (df < 2) return 12.706;
  if (df < 3) return 4.303;
  const z = 1.959964;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  const z9 = z ** 9;
  return (
    z +
    (z3 + z) / (4 * df) +
    (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) +
    (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3) +
    (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92_160 * df ** 4)
  );
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/**
 * Fits RSS growth over the second half of a soak, per process lifetime.
 *
 * @example
 * rssGrowth(samples, { fromSeconds: 900 }); // { verdict: "no-growth", slopeMiBPerHour: 1.2, ci95MiBPerHour: [-3.1, 5.5], ... }
 */
export function rssGrowth(samples: readonly RssSample[], options: RssGrowthOptions): RssGrowth {
  const warmup = options.warmupSeconds ?? 30;
  const minPoints = options.minPoints ?? 5;
  const minSpan = options.minSpanSeconds ?? 30;
  const threshold = options.thresholdMiBPerHour ?? 20;
  const bySegment = new Map<number, RssSample[]>();
  for (const s of samples) {
    const list = bySegment.get(s.segment);
    if (list) list.push(s);
    else bySegment.set(s.segment, [s]);
  }
  // Per lifetime: centred times (hours) and RSS, so each lifetime has its own intercept.
  let sxx = 0;
  let sxy = 0;
  const used: { x: number[]; y: number[] }[] = [];
  for (const list of bySegment.values()) {
    const start = list.reduce((m, s) => Math.min(m, s.tSeconds), Number.POSITIVE_INFINITY);
    const kept = list.filter((s) => s.tSeconds >= options.fromSeconds && s.tSeconds >= start + warmup);
    if (kept.length < minPoints) continue;
    const t0 = Math.min(...kept.map((s) => s.tSeconds));
    const t1 = Math.max(...kept.map((s) => s.tSeconds));
    if (t1 - t0 < minSpan) continue;
    const x = kept.map((s) => s.tSeconds / 3600);
    const y = kept.map((s) => s.rssMiB);
    const mx = x.reduce((a, b) => a + b, 0) / x.length;
    const my = y.reduce((a, b) => a + b, 0) / y.length;
    const xc = x.map((v) => v - mx);
    const yc = y.map((v) => v - my);
    for (let i = 0; i < xc.length; i++) {
      sxx += (xc[i] as number) ** 2;
      sxy += (xc[i] as number) * (yc[i] as number);
    }
    used.push({ x: xc, y: yc });
  }
  const n = used.reduce((s, u) => s + u.x.length, 0);
  const df = n - used.length - 1;
  const base = {
    thresholdMiBPerHour: threshold,
    points: n,
    segmentsUsed: used.length,
    fromSeconds: options.fromSeconds,
  };
  if (used.length === 0 || df < 1 || sxx <= 0)
    return { verdict: "insufficient-data", slopeMiBPerHour: null, ci95MiBPerHour: null, ...base };
  const slope = sxy / sxx;
  let sse = 0;
  for (const u of used)
    for (let i = 0; i < u.x.length; i++) sse += ((u.y[i] as number) - slope * (u.x[i] as number)) ** 2;
  const se = Math.sqrt(sse / df / sxx);
  const half = tQuantile975(df) * se;
  const lo = slope - half;
  const hi = slope + half;
  // "No growth" only when the interval rules out growth above the threshold; "growth" when it
  // excludes zero beyond that. An interval that straddles zero but reaches past the threshold
  // cannot tell growth from warm-up: too little data, however the slope looks.
  const verdict: RssGrowthVerdict = hi < threshold ? "no-growth" : lo > 0 ? "growth" : "insufficient-data";
  return { verdict, slopeMiBPerHour: round2(slope), ci95MiBPerHour: [round2(lo), round2(hi)], ...base };
}

/**
 * At most `maxPoints` samples for a report: consecutive samples of one lifetime are merged,
 * keeping their highest RSS (a peak is never averaged away) at their middle time.
 *
 * @example
 * downsampleRss(samples, 120).length; // <= 120
 */
export function downsampleRss(samples: readonly RssSample[], maxPoints = 120): RssSample[] {
  if (samples.length <= maxPoints)
    return samples.map((s) => ({ ...s, rssMiB: Math.round(s.rssMiB * 10) / 10 }));
  const per = Math.ceil(samples.length / maxPoints);
  const out: RssSample[] = [];
  let bucket: RssSample[] = [];
  const flush = () => {
    if (bucket.length === 0) return;
    const first = bucket[0] as RssSample;
    const last = bucket[bucket.length - 1] as RssSample;
    out.push({
      tSeconds: Math.round(((first.tSeconds + last.tSeconds) / 2) * 10) / 10,
      rssMiB: Math.round(Math.max(...bucket.map((s) => s.rssMiB)) * 10) / 10,
      segment: first.segment,
    });
    bucket = [];
  };
  for (const s of samples) {
    if (bucket.length >= per || (bucket.length > 0 && (bucket[0] as RssSample).segment !== s.segment))
      flush();
    bucket.push(s);
  }
  flush();
  // Lifetime boundaries may add buckets: merge neighbours of one lifetime until it fits.
  while (out.length > maxPoints) {
    let merged = false;
    for (let i = 0; i + 1 < out.length && out.length > maxPoints; i++) {
      const a = out[i] as RssSample;
      const b = out[i + 1] as RssSample;
      if (a.segment !== b.segment) continue;
      out.splice(i, 2, {
        tSeconds: Math.round(((a.tSeconds + b.tSeconds) / 2) * 10) / 10,
        rssMiB: Math.max(a.rssMiB, b.rssMiB),
        segment: a.segment,
      });
      merged = true;
    }
    if (!merged) out.splice(maxPoints);
  }
  return out;
}
