/**
 * Compares what istiod and meshctl sent the same proxy, after normalisation (normalize.ts):
 * per proxy, per type, per resource, a structural diff with JSON paths. A diff a documented
 * deliberate deviation (deviations.ts) explains is tagged with its id; any other is a defect.
 */
import {
  type DeviationSubject,
  matchDeviation,
  PARITY_DEVIATIONS,
  type ParityDeviation,
} from "./deviations.js";
import { type CanonicalValue, canonicalJson, normalizeSnapshot, ORDER_KEY } from "./normalize.js";
import {
  type ConfigSnapshot,
  PARITY_TYPES,
  type ParityCase,
  type ParityCaseResult,
  type ParityDiff,
  type ParityDiffCounts,
  type ParityProxy,
  type ParityProxyVerdict,
  type ParityType,
  type ParityVerdict,
} from "./types.js";

/** Diffs kept per case (defects first); the counts cover all of them. */
export const MAX_DIFFS_PER_CASE = 100;
/** A diff's values longer than this (as JSON) are replaced by a summary. */
const MAX_VALUE_CHARS = 1200;

/** What both servers sent one proxy. */
export interface ParitySnapshotPair {
  readonly istiod: ConfigSnapshot;
  readonly meshctl: ConfigSnapshot;
}

export interface CompareCaseOptions {
  /** Reported as the case's duration (the runner knows how long serving and fetching took). */
  readonly durationMs?: number;
  readonly maxDiffs?: number;
  /** Defaults to PARITY_DEVIATIONS. */
  readonly deviations?: readonly ParityDeviation[];
}

type RawDiff = { path: string; istiod: CanonicalValue | undefined; meshctl: CanonicalValue | undefined };

function isObject(v: CanonicalValue | undefined): v is { readonly [key: string]: CanonicalValue } {
  return v !== null && v !== undefined && typeof v === "object" && !Array.isArray(v);
}

function joinPath(path: string, key: string): string {
  if (key.startsWith("[")) return `${path}${key}`;
  return path === "" ? key : `${path}.${key}`;
}

/**
 * In a keyed collection where each side has exactly one element the other lacks (a filter
 * chain whose match differs, a virtual host renamed), those two are compared with each other,
 * so the diff shows what inside them differs instead of two whole elements.
 */
function pairedLeftovers(
  a: { readonly [key: string]: CanonicalValue },
  b: { readonly [key: string]: CanonicalValue },
): [string, string] | undefined {
  // Filters (the collections with an order) are identified by name: another name is another
  // filter, and pairing it would let a deviation on one name cover the other.
  if (ORDER_KEY in a || ORDER_KEY in b) return undefined;
  const keyed = (k: string) => k.startsWith("[");
  const onlyA = Object.keys(a).filter((k) => keyed(k) && !(k in b));
  const onlyB = Object.keys(b).filter((k) => keyed(k) && !(k in a));
  if (onlyA.length !== 1 || onlyB.length !== 1) return undefined;
  const [ka, kb] = [onlyA[0] as string, onlyB[0] as string];
  // Only objects pair (set members are scalars: two different domains are two diffs).
  return isObject(a[ka]) && isObject(b[kb]) ? [ka, kb] : undefined;
}

/** Relative order of the elements both sides have; an element only one side has is its own diff. */
function diffOrder(path: string, a: CanonicalValue, b: CanonicalValue, out: RawDiff[]): void {
  const left = Array.isArray(a) ? (a as string[]) : [];
  const right = Array.isArray(b) ? (b as string[]) : [];
  const shared = new Set(left.filter((k) => right.includes(k)));
  const l = left.filter((k) => shared.has(k));
  const r = right.filter((k) => shared.has(k));
  if (canonicalJson(l) !== canonicalJson(r)) out.push({ path, istiod: l, meshctl: r });
}

/**
 * Structural diff of two canonical values: objects by key, arrays by position (normalisation
 * already turned unordered collections into keyed objects), scalars by value.
 */
function diffValues(
  path: string,
  a: CanonicalValue | undefined,
  b: CanonicalValue | undefined,
  out: RawDiff[],
): void {
  if (a === undefined && b === undefined) return;
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    const pair = pairedLeftovers(a, b);
    if (pair) {
      const [ka, kb] = pair;
      diffValues(`${path}[${ka.slice(1, -1)} ~ ${kb.slice(1, -1)}]`, a[ka], b[kb], out);
    }
    for (const key of keys) {
      if (pair?.includes(key)) continue;
      const p = joinPath(path, key);
      if (key === ORDER_KEY) diffOrder(p, a[key] ?? [], b[key] ?? [], out);
      else diffValues(p, a[key], b[key], out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) diffValues(`${path}[${i}]`, a[i], b[i], out);
    return;
  }
  if (canonicalJson(a ?? null) !== canonicalJson(b ?? null) || (a === undefined) !== (b === undefined))
    out.push({ path, istiod: a, meshctl: b });
}

/** Large values (a whole listener only one side has) are summarised so reports stay bounded. */
function summarizeValue(value: unknown): unknown {
  if (value === undefined) return undefined;
  const text = canonicalJson(value);
  if (text.length <= MAX_VALUE_CHARS) return value;
  if (value !== null && typeof value === "object" && !Array.isArray(value))
    return { "…": `${text.length} chars`, keys: Object.keys(value).slice(0, 20) };
  return `${text.slice(0, MAX_VALUE_CHARS)}… (${text.length} chars)`;
}

/**
 * Every difference between what two servers sent one proxy, with full values, untagged and
 * uncapped.
 *
 * @example
 * const diffs = diffSnapshots(proxy, { istiod, meshctl });
 * diffs.filter((d) => d.type === "routes").map((d) => `${d.resource} ${d.path}`);
 */
export function diffSnapshots(proxy: ParityProxy, pair: ParitySnapshotPair): ParityDiff[] {
  const left = normalizeSnapshot(pair.istiod);
  const right = normalizeSnapshot(pair.meshctl);
  const diffs: ParityDiff[] = [];
  for (const type of PARITY_TYPES) {
    const names = [...new Set([...Object.keys(left[type]), ...Object.keys(right[type])])].sort();
    for (const resource of names) {
      const raw: RawDiff[] = [];
      diffValues("", left[type][resource], right[type][resource], raw);
      for (const d of raw)
        diffs.push({ proxy: proxy.id, type, resource, path: d.path, istiod: d.istiod, meshctl: d.meshctl });
    }
  }
  return diffs;
}

/**
 * Tags each diff with the first deviation that explains it (deviations see the full values,
 * so tag before summarising).
 */
export function tagDeviations(
  proxy: ParityProxy,
  diffs: readonly ParityDiff[],
  deviations: readonly ParityDeviation[] = PARITY_DEVIATIONS,
): ParityDiff[] {
  return diffs.map((d) => {
    const subject: DeviationSubject = { ...d, proxyKind: proxy.kind };
    const match = deviations.find((dev) => matchDeviation(dev, subject));
    return match ? { ...d, deviation: match.id } : d;
  });
}

const IP = /(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])/g;
const HOST =
  /\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9][a-z0-9-]*)*\.(?:svc\.cluster\.local|svc|local|com|org|net|io)\b/gi;
const NUMBER = /(?<![A-Za-z\d.])\d+(?![A-Za-z\d.])/g;

/** A key or resource name with addresses, host names and numbers generalised. */
function shapeName(name: string): string {
  return name.replace(IP, "<ip>").replace(HOST, "<host>").replace(NUMBER, "<n>");
}

/** A virtual host domain generalised: `reviews.default:9080` → `<host>:<n>`, `a.b.svc.cluster.local.` → `<host>.` */
function shapeDomain(domain: string): string {
  const ip = domain.replace(IP, "<ip>");
  if (ip.startsWith("<ip>") || domain.startsWith("*")) return ip.replace(NUMBER, "<n>");
  return domain.replace(
    /^[^:]*?(\.?)(:\d+)?$/,
    (_m, dot: string, port: string | undefined) => `<host>${dot}${port ? ":<n>" : ""}`,
  );
}

/** Generalises every `[key]` of a path (keys may nest brackets: filter chain matches are JSON). */
function shapePath(path: string): string {
  let out = "";
  let depth = 0;
  let key = "";
  for (const ch of path) {
    if (depth === 0) {
      if (ch === "[") {
        depth = 1;
        key = "";
      } else out += ch;
      continue;
    }
    if (ch === "[") depth++;
    else if (ch === "]") depth--;
    if (depth === 0) {
      const hostKey = out.endsWith("domains") || (out.endsWith("virtual_hosts") && /[.:]/.test(key));
      const shaped = key === "#order" ? key : hostKey ? shapeDomain(key) : shapeName(key);
      out += `[${shaped}]`;
    } else key += ch;
  }
  return out;
}

/**
 * The class of a diff: its type and generalised path; a resource only one server has is
 * classed by its generalised name.
 *
 * @example
 * diffClass({ type: "routes", resource: "9080", path: "virtual_hosts[a.ns.svc.cluster.local:9080].domains[10.0.0.1]", ... });
 * // "routes virtual_hosts[<host>:<n>].domains[<ip>]"
 */
export function diffClass(d: Pick<ParityDiff, "type" | "resource" | "path" | "istiod" | "meshctl">): string {
  if (d.path === "") {
    const side = d.meshctl === undefined ? "only in istiod" : "only in meshctl";
    return `${d.type} ${side}: ${shapeName(d.resource)}`;
  }
  const side =
    d.meshctl === undefined ? " (only in istiod)" : d.istiod === undefined ? " (only in meshctl)" : "";
  return `${d.type} ${shapePath(d.path)}${side}`;
}

function countDiffs(diffs: readonly ParityDiff[]): ParityDiffCounts {
  const byDeviation: Record<string, number> = {};
  const defectClasses: Record<string, number> = {};
  const defectsByType = Object.fromEntries(PARITY_TYPES.map((t) => [t, 0])) as Record<ParityType, number>;
  let defects = 0;
  for (const d of diffs) {
    if (d.deviation) byDeviation[d.deviation] = (byDeviation[d.deviation] ?? 0) + 1;
    else {
      defects++;
      defectsByType[d.type]++;
      const cls = diffClass(d);
      defectClasses[cls] = (defectClasses[cls] ?? 0) + 1;
    }
  }
  return {
    total: diffs.length,
    defects,
    deliberate: diffs.length - defects,
    byDeviation,
    defectsByType,
    defectClasses,
  };
}

/**
 * The verdict on one case: every proxy, every type, every resource compared.
 *
 * @example
 * const result = compareCase(c, { "productpage-sidecar": { istiod, meshctl } }, { durationMs: 1200 });
 * result.verdict; // "equal" | "deliberate" | "different" | "error"
 */
export function compareCase(
  c: ParityCase,
  snapshots: Readonly<Record<string, ParitySnapshotPair>>,
  options: CompareCaseOptions = {},
): ParityCaseResult {
  const base = {
    name: c.name,
    origin: c.origin,
    features: c.features,
    durationMs: options.durationMs ?? 0,
  };
  const missing = c.proxies.filter((p) => !snapshots[p.id]).map((p) => p.id);
  if (missing.length > 0)
    return {
      ...base,
      verdict: "error",
      diffs: [],
      error: `no snapshots for proxy ${missing.join(", ")}`,
    };
  const all: ParityDiff[] = [];
  const proxyVerdicts: ParityProxyVerdict[] = [];
  for (const proxy of c.proxies) {
    const pair = snapshots[proxy.id] as ParitySnapshotPair;
    const diffs = tagDeviations(proxy, diffSnapshots(proxy, pair), options.deviations);
    const defects = diffs.filter((d) => !d.deviation).length;
    proxyVerdicts.push({
      proxy: proxy.id,
      kind: proxy.kind,
      verdict: diffs.length === 0 ? "equal" : defects === 0 ? "deliberate" : "different",
      defects,
    });
    all.push(...diffs);
  }
  const counts = countDiffs(all);
  const verdict: ParityVerdict =
    counts.total === 0 ? "equal" : counts.defects === 0 ? "deliberate" : "different";
  // Defects first: a capped list must not hide them behind deliberate ones.
  const ordered = [...all.filter((d) => !d.deviation), ...all.filter((d) => d.deviation)];
  return {
    ...base,
    verdict,
    diffs: ordered
      .slice(0, options.maxDiffs ?? MAX_DIFFS_PER_CASE)
      .map((d) => ({ ...d, istiod: summarizeValue(d.istiod), meshctl: summarizeValue(d.meshctl) })),
    diffCounts: counts,
    proxyVerdicts,
  };
}
