/**
 * VirtualService -> VirtualServiceModel. What Istio's validation rejects (a bad regex, a route
 * with both `route` and `redirect`, weights not adding to 100) is an error and rejects the
 * object, as istiod rejects it; a field meshctl reads but some clients cannot apply (proxyless
 * gRPC has no redirects) is a warning at its path, and the rest of the object applies.
 */
import type { FieldPath, FieldReader } from "./field-reader.js";
import { GRPC_STATUS_CODES, resolveHost } from "./parse-documents.js";
import type {
  CorsPolicy,
  HeaderOperations,
  HeadersPolicy,
  HttpDirectResponse,
  HttpFault,
  HttpMatch,
  HttpMirror,
  HttpRedirect,
  HttpRetry,
  HttpRewrite,
  HttpRoute,
  L4Match,
  L4Route,
  RouteDestination,
  SourceRef,
  StringMatch,
  ValueMatch,
  VirtualServiceModel,
} from "./types.js";

/** Where proxyless gRPC cannot follow: said once per field, so users know what gRPC clients get. */
const GRPC_IGNORES = "proxyless gRPC clients do not support";

/**
 * A StringMatch (`{exact|prefix|regex: value}`). With `allowEmpty`, `{}` means "present"
 * (headers, query parameters).
 *
 * @example
 * parseStringMatch(reader, ["spec", "http", 0, "match", 0, "uri"]); // { prefix: "/api" }
 */
export function parseStringMatch(r: FieldReader, path: FieldPath): StringMatch | undefined;
export function parseStringMatch(
  r: FieldReader,
  path: FieldPath,
  opts: { allowEmpty: true },
): ValueMatch | undefined;
export function parseStringMatch(
  r: FieldReader,
  path: FieldPath,
  opts: { allowEmpty?: boolean } = {},
): ValueMatch | undefined {
  const raw = r.raw(path);
  const keys = raw === null ? [] : r.keys(path);
  for (const k of keys) r.has([...path, k]);
  if (keys.length === 0 && opts.allowEmpty) return { present: true };
  const supported = keys.filter((k) => k === "exact" || k === "prefix" || k === "regex");
  if (supported.length !== 1 || keys.length !== 1) {
    r.error(path, `expected exactly one of exact, prefix or regex, got ${keys.join(", ") || "nothing"}`);
    return undefined;
  }
  const key = supported[0] as "exact" | "prefix" | "regex";
  const value = r.str([...path, key], { required: key === "regex" }) ?? "";
  if (key === "regex" && !checkRegex(r, [...path, key], value)) return undefined;
  return key === "exact" ? { exact: value } : key === "prefix" ? { prefix: value } : { regex: value };
}

/** RE2 is close enough to JS regexes for a syntax check; lookarounds and backrefs are RE2 errors. */
function checkRegex(r: FieldReader, path: FieldPath, value: string): boolean {
  try {
    new RegExp(value);
  } catch (e) {
    r.error(path, `invalid regex: ${(e as Error).message}`);
    return false;
  }
  if (/\(\?<?[=!]|\\[1-9]/.test(value)) {
    r.error(path, "invalid regex: lookarounds and backreferences are not RE2 syntax");
    return false;
  }
  return true;
}

function exportToOf(r: FieldReader, path: FieldPath): string[] {
  const list = r.strings(path);
  return list.length > 0 ? list : ["*"];
}

function valueMatches(
  r: FieldReader,
  path: FieldPath,
  lowerCase: boolean,
): Record<string, ValueMatch> | undefined {
  if (!r.has(path)) return undefined;
  const out: Record<string, ValueMatch> = {};
  for (const key of r.keys(path)) {
    const sm = parseStringMatch(r, [...path, key], { allowEmpty: true });
    // Istio's validation: "prefix string match should not be empty" (use {} for presence).
    if (sm && "prefix" in sm && sm.prefix === "") {
      r.error([...path, key, "prefix"], "prefix string match should not be empty (use {} to match presence)");
      continue;
    }
    if (sm) out[lowerCase ? key.toLowerCase() : key] = sm;
  }
  return out;
}

function labelsIfAny(r: FieldReader, path: FieldPath): Record<string, string> | undefined {
  return r.has(path) ? r.labels(path) : undefined;
}

function parseHttpMatch(r: FieldReader, m: FieldPath): HttpMatch {
  const name = r.str([...m, "name"]);
  const uri = r.has([...m, "uri"]) ? parseStringMatch(r, [...m, "uri"]) : undefined;
  const scheme = r.has([...m, "scheme"]) ? parseStringMatch(r, [...m, "scheme"]) : undefined;
  const method = r.has([...m, "method"]) ? parseStringMatch(r, [...m, "method"]) : undefined;
  const authority = r.has([...m, "authority"]) ? parseStringMatch(r, [...m, "authority"]) : undefined;
  const headers = valueMatches(r, [...m, "headers"], true) ?? {};
  const withoutHeaders = valueMatches(r, [...m, "withoutHeaders"], true);
  const queryParams = valueMatches(r, [...m, "queryParams"], false);
  if (queryParams) {
    r.warn(
      [...m, "queryParams"],
      `${GRPC_IGNORES} query parameter matches: gRPC-Go and C-core skip the route, grpc-js matches it without checking the query (sent as istiod does)`,
    );
  }
  const ignoreUriCase = r.bool([...m, "ignoreUriCase"]);
  const port = r.port([...m, "port"]);
  const sourceLabels = labelsIfAny(r, [...m, "sourceLabels"]);
  const sourceNamespace = r.str([...m, "sourceNamespace"]);
  const gateways = r.has([...m, "gateways"]) ? r.strings([...m, "gateways"]) : undefined;
  if (r.has([...m, "statPrefix"]))
    r.unsupported([...m, "statPrefix"], "statPrefix is not supported (Istio's proxy build only); ignored");
  return {
    headers,
    ...(name ? { name } : {}),
    ...(uri ? { uri } : {}),
    ...(scheme ? { scheme } : {}),
    ...(method ? { method } : {}),
    ...(authority ? { authority } : {}),
    ...(withoutHeaders ? { withoutHeaders } : {}),
    ...(queryParams ? { queryParams } : {}),
    ...(ignoreUriCase ? { ignoreUriCase } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(sourceLabels ? { sourceLabels } : {}),
    ...(sourceNamespace ? { sourceNamespace } : {}),
    ...(gateways ? { gateways } : {}),
  };
}

function parseHeaderOperations(r: FieldReader, path: FieldPath): HeaderOperations | undefined {
  if (!r.has(path)) return undefined;
  const set = r.has([...path, "set"]) ? r.labels([...path, "set"]) : undefined;
  const add = r.has([...path, "add"]) ? r.labels([...path, "add"]) : undefined;
  const remove = r.has([...path, "remove"]) ? r.strings([...path, "remove"]) : undefined;
  return { ...(set ? { set } : {}), ...(add ? { add } : {}), ...(remove ? { remove } : {}) };
}

function parseHeadersPolicy(r: FieldReader, path: FieldPath): HeadersPolicy | undefined {
  if (!r.has(path)) return undefined;
  const request = parseHeaderOperations(r, [...path, "request"]);
  const response = parseHeaderOperations(r, [...path, "response"]);
  if (request || response) r.warn(path, `${GRPC_IGNORES} header manipulation; ignored for them`, "key");
  return { ...(request ? { request } : {}), ...(response ? { response } : {}) };
}

function parseDestination(
  r: FieldReader,
  d: FieldPath,
  namespace: string,
  suffix: string,
): { host: string; subset?: string; port?: number } | undefined {
  const host = r.str([...d, "host"], { required: true });
  const subset = r.str([...d, "subset"]);
  const port = r.port([...d, "port", "number"]);
  if (host === undefined || host === "") return undefined;
  return {
    host: resolveHost(host, namespace, suffix),
    ...(subset ? { subset } : {}),
    ...(port ? { port } : {}),
  };
}

function parseDestinations(
  r: FieldReader,
  base: FieldPath,
  namespace: string,
  suffix: string,
  required: boolean,
): RouteDestination[] {
  const destinations: RouteDestination[] = [];
  const rn = r.list([...base, "route"], { required });
  for (let j = 0; j < rn; j++) {
    const d = [...base, "route", j];
    const dest = parseDestination(r, [...d, "destination"], namespace, suffix);
    const weight =
      r.num([...d, "weight"], { integer: true, min: 0, max: 100 }) ?? (rn === 1 ? 100 : undefined);
    if (weight === undefined && rn > 1 && !r.has([...d, "weight"]))
      r.error([...d, "weight"], "weight is required when a route has several destinations");
    const headers = parseHeadersPolicy(r, [...d, "headers"]);
    if (!dest) continue;
    destinations.push({ ...dest, weight: weight ?? 0, ...(headers ? { headers } : {}) });
  }
  if (rn > 1) {
    const sum = destinations.reduce((s, d) => s + d.weight, 0);
    if (sum !== 100) r.error([...base, "route"], `destination weights must add up to 100, got ${sum}`);
  }
  return destinations;
}

function parseRetries(r: FieldReader, path: FieldPath): HttpRetry {
  const attempts = r.num([...path, "attempts"], { integer: true, min: 0 }) ?? 0;
  const perTry = r.durationMs([...path, "perTryTimeout"]);
  const retryOnText = r.str([...path, "retryOn"]);
  const retryOn = retryOnText
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const remote = r.bool([...path, "retryRemoteLocalities"]);
  for (const key of ["retryIgnorePreviousHosts", "backoff"])
    if (r.has([...path, key])) r.unsupported([...path, key], `${key} is not supported yet; ignored`);
  return {
    attempts,
    ...(perTry !== undefined ? { perTryTimeoutMs: perTry } : {}),
    ...(retryOn && retryOn.length > 0 ? { retryOn } : {}),
    ...(remote !== undefined ? { retryRemoteLocalities: remote } : {}),
  };
}

function percentOf(r: FieldReader, path: FieldPath): number {
  if (r.has([...path, "percentage"]))
    return r.num([...path, "percentage", "value"], { min: 0, max: 100, required: true }) ?? 0;
  if (r.has([...path, "percent"])) return r.num([...path, "percent"], { min: 0, max: 100 }) ?? 0;
  return 100;
}

/**
 * `fault` of an http route (abort and delay; gRPC clients apply both, gRFC A33).
 *
 * @example
 * parseFault(reader, ["spec", "http", 0, "fault"]); // { abort: { percent: 10, httpStatus: 503 } }
 */
export function parseFault(r: FieldReader, path: FieldPath): HttpFault {
  let abort: HttpFault["abort"];
  let delay: HttpFault["delay"];
  if (r.has([...path, "abort"])) {
    const a = [...path, "abort"];
    const percent = percentOf(r, a);
    const httpStatus = r.num([...a, "httpStatus"], { integer: true, min: 200, max: 599 });
    const grpcName = r.str([...a, "grpcStatus"]);
    let grpcStatus: number | undefined;
    if (grpcName !== undefined) {
      grpcStatus = GRPC_STATUS_CODES[grpcName.toUpperCase()];
      if (grpcStatus === undefined) r.error([...a, "grpcStatus"], `unknown gRPC status ${grpcName}`);
    }
    if (httpStatus === undefined && grpcStatus === undefined)
      r.error(a, "abort needs httpStatus or grpcStatus");
    abort = {
      percent,
      ...(httpStatus !== undefined ? { httpStatus } : {}),
      ...(grpcStatus !== undefined ? { grpcStatus } : {}),
    };
  }
  if (r.has([...path, "delay"])) {
    const d = [...path, "delay"];
    const fixedDelayMs = r.durationMs([...d, "fixedDelay"]);
    if (fixedDelayMs === undefined) r.error([...d, "fixedDelay"], "delay needs fixedDelay");
    delay = { percent: percentOf(r, d), fixedDelayMs: fixedDelayMs ?? 0 };
  }
  return { ...(abort ? { abort } : {}), ...(delay ? { delay } : {}) };
}

function parseRewrite(r: FieldReader, path: FieldPath): HttpRewrite | undefined {
  if (!r.has(path)) return undefined;
  const uri = r.str([...path, "uri"]);
  const authority = r.str([...path, "authority"]);
  let uriRegexRewrite: HttpRewrite["uriRegexRewrite"];
  const rx = [...path, "uriRegexRewrite"];
  if (r.has(rx)) {
    const match = r.str([...rx, "match"], { required: true }) ?? "";
    const rewrite = r.str([...rx, "rewrite"], { required: true }) ?? "";
    if (match) checkRegex(r, [...rx, "match"], match);
    uriRegexRewrite = { match, rewrite };
    if (uri !== undefined) r.error(path, "rewrite: uri and uriRegexRewrite cannot both be set");
  }
  r.warn(path, `${GRPC_IGNORES} rewrites; ignored for them`, "key");
  return {
    ...(uri !== undefined ? { uri } : {}),
    ...(authority ? { authority } : {}),
    ...(uriRegexRewrite ? { uriRegexRewrite } : {}),
  };
}

const REDIRECT_CODES = [301, 302, 303, 307, 308];

function parseRedirect(r: FieldReader, path: FieldPath): HttpRedirect {
  const uri = r.str([...path, "uri"]);
  const authority = r.str([...path, "authority"]);
  const port = r.port([...path, "port"]);
  const derive = r.str([...path, "derivePort"]);
  if (derive !== undefined && derive !== "FROM_PROTOCOL_DEFAULT" && derive !== "FROM_REQUEST_PORT")
    r.error([...path, "derivePort"], `expected FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT, got ${derive}`);
  if (port !== undefined && derive !== undefined)
    r.error(path, "redirect: port and derivePort cannot both be set");
  const scheme = r.str([...path, "scheme"]);
  const code = r.num([...path, "redirectCode"], { integer: true }) ?? 301;
  if (!REDIRECT_CODES.includes(code))
    r.error(
      [...path, "redirectCode"],
      `redirect code must be one of ${REDIRECT_CODES.join(", ")}, got ${code}`,
    );
  r.warn(path, `${GRPC_IGNORES} redirects; this route is left out for them`, "key");
  return {
    redirectCode: code,
    ...(uri !== undefined ? { uri } : {}),
    ...(authority ? { authority } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(derive === "FROM_PROTOCOL_DEFAULT" || derive === "FROM_REQUEST_PORT" ? { derivePort: derive } : {}),
    ...(scheme ? { scheme } : {}),
  };
}

function parseDirectResponse(r: FieldReader, path: FieldPath): HttpDirectResponse {
  const status = r.num([...path, "status"], { integer: true, min: 200, max: 599, required: true }) ?? 200;
  let body: HttpDirectResponse["body"];
  const b = [...path, "body"];
  if (r.has(b)) {
    const s = r.str([...b, "string"]);
    const bytes = r.str([...b, "bytes"]);
    if (s !== undefined && bytes !== undefined) r.error(b, "body: string and bytes cannot both be set");
    if (s !== undefined) body = { string: s };
    else if (bytes !== undefined) body = { bytes };
  }
  r.warn(path, `${GRPC_IGNORES} direct responses; this route is left out for them`, "key");
  return { status, ...(body ? { body } : {}) };
}

function parseMirrors(
  r: FieldReader,
  base: FieldPath,
  namespace: string,
  suffix: string,
): HttpMirror[] | undefined {
  const out: HttpMirror[] = [];
  if (r.has([...base, "mirror"])) {
    if (r.has([...base, "mirrors"])) r.error([...base, "mirrors"], "mirror and mirrors cannot both be set");
    const dest = parseDestination(r, [...base, "mirror"], namespace, suffix);
    let percent: number | undefined;
    if (r.has([...base, "mirrorPercentage"]))
      percent = r.num([...base, "mirrorPercentage", "value"], { min: 0, max: 100 });
    else if (r.has([...base, "mirrorPercent"]))
      percent = r.num([...base, "mirrorPercent"], { integer: true, min: 0, max: 100 });
    if (dest) out.push({ ...dest, ...(percent !== undefined ? { percent } : {}) });
  } else {
    for (const key of ["mirrorPercentage", "mirrorPercent"])
      if (r.has([...base, key])) r.warn([...base, key], `${key} without mirror; ignored`, "key");
    const n = r.list([...base, "mirrors"]);
    for (let i = 0; i < n; i++) {
      const m = [...base, "mirrors", i];
      const dest = parseDestination(r, [...m, "destination"], namespace, suffix);
      const percent = r.has([...m, "percentage"])
        ? r.num([...m, "percentage", "value"], { min: 0, max: 100 })
        : undefined;
      if (dest) out.push({ ...dest, ...(percent !== undefined ? { percent } : {}) });
    }
  }
  if (out.length === 0) return undefined;
  r.warn(
    r.has([...base, "mirror"]) ? [...base, "mirror"] : [...base, "mirrors"],
    `${GRPC_IGNORES} mirroring; ignored for them`,
    "key",
  );
  return out;
}

function parseCors(r: FieldReader, path: FieldPath): CorsPolicy | undefined {
  if (!r.has(path)) return undefined;
  const allowOrigins: StringMatch[] = [];
  const n = r.list([...path, "allowOrigins"]);
  for (let i = 0; i < n; i++) {
    const sm = parseStringMatch(r, [...path, "allowOrigins", i]);
    if (sm) allowOrigins.push(sm);
  }
  // The deprecated `allowOrigin` list is exact matches (Istio converts it the same way).
  if (n === 0) for (const o of r.strings([...path, "allowOrigin"])) allowOrigins.push({ exact: o });
  const maxAgeMs = r.durationMs([...path, "maxAge"]);
  const allowCredentials = r.bool([...path, "allowCredentials"]);
  const unmatched = r.str([...path, "unmatchedPreflights"]);
  if (unmatched !== undefined && !["FORWARD", "IGNORE", "UNSPECIFIED"].includes(unmatched))
    r.error([...path, "unmatchedPreflights"], `expected FORWARD or IGNORE, got ${unmatched}`);
  r.warn(path, `${GRPC_IGNORES} CORS; ignored for them`, "key");
  return {
    allowOrigins,
    allowMethods: r.strings([...path, "allowMethods"]),
    allowHeaders: r.strings([...path, "allowHeaders"]),
    exposeHeaders: r.strings([...path, "exposeHeaders"]),
    ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
    ...(allowCredentials !== undefined ? { allowCredentials } : {}),
    ...(unmatched === "FORWARD" || unmatched === "IGNORE" ? { unmatchedPreflights: unmatched } : {}),
  };
}

function parseHttpRoute(
  r: FieldReader,
  base: FieldPath,
  index: number,
  vsName: string,
  namespace: string,
  suffix: string,
): HttpRoute {
  const matches: HttpMatch[] = [];
  const mn = r.list([...base, "match"]);
  for (let j = 0; j < mn; j++) matches.push(parseHttpMatch(r, [...base, "match", j]));
  const hasRoute = r.has([...base, "route"]);
  const hasRedirect = r.has([...base, "redirect"]);
  const hasDirect = r.has([...base, "directResponse"]);
  const hasDelegate = r.has([...base, "delegate"]);
  const actions = [hasRoute, hasRedirect, hasDirect, hasDelegate].filter(Boolean).length;
  if (actions === 0) r.error(base, "an http route needs one of route, redirect, directResponse or delegate");
  else if (actions > 1)
    r.error(
      base,
      "route, redirect, directResponse and delegate are mutually exclusive (redirect may not be combined with route)",
    );
  const destinations = hasRoute ? parseDestinations(r, base, namespace, suffix, true) : [];
  const redirect = hasRedirect ? parseRedirect(r, [...base, "redirect"]) : undefined;
  const directResponse = hasDirect ? parseDirectResponse(r, [...base, "directResponse"]) : undefined;
  let delegate: HttpRoute["delegate"];
  if (hasDelegate) {
    const name = r.str([...base, "delegate", "name"], { required: true }) ?? "";
    const ns = r.str([...base, "delegate", "namespace"]) || namespace;
    delegate = { name, namespace: ns };
  }
  const retries = r.has([...base, "retries"]) ? parseRetries(r, [...base, "retries"]) : undefined;
  const fault = r.has([...base, "fault"]) ? parseFault(r, [...base, "fault"]) : undefined;
  const timeoutMs = r.durationMs([...base, "timeout"]);
  const rewrite = parseRewrite(r, [...base, "rewrite"]);
  if (rewrite && redirect) r.error([...base, "rewrite"], "rewrite cannot be combined with redirect");
  const mirrors = parseMirrors(r, base, namespace, suffix);
  const corsPolicy = parseCors(r, [...base, "corsPolicy"]);
  const headers = parseHeadersPolicy(r, [...base, "headers"]);
  return {
    name: r.str([...base, "name"]) ?? `${vsName}-${index}`,
    matches,
    destinations,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(retries ? { retries } : {}),
    ...(fault ? { fault } : {}),
    ...(rewrite ? { rewrite } : {}),
    ...(redirect ? { redirect } : {}),
    ...(directResponse ? { directResponse } : {}),
    ...(mirrors ? { mirrors } : {}),
    ...(corsPolicy ? { corsPolicy } : {}),
    ...(headers ? { headers } : {}),
    ...(delegate ? { delegate } : {}),
  };
}

function parseL4Routes(
  r: FieldReader,
  kind: "tcp" | "tls",
  namespace: string,
  suffix: string,
): L4Route[] | undefined {
  if (!r.has(["spec", kind])) return undefined;
  const out: L4Route[] = [];
  const n = r.list(["spec", kind]);
  for (let i = 0; i < n; i++) {
    const base = ["spec", kind, i];
    const matches: L4Match[] = [];
    const mn = r.list([...base, "match"], { required: kind === "tls" });
    for (let j = 0; j < mn; j++) {
      const m = [...base, "match", j];
      const port = r.port([...m, "port"]);
      const destinationSubnets = r.has([...m, "destinationSubnets"])
        ? r.strings([...m, "destinationSubnets"])
        : undefined;
      if (destinationSubnets)
        r.warn(
          [...m, "destinationSubnets"],
          "destinationSubnets is not supported yet (meshctl has no per-IP listeners); this match is left out",
          "key",
        );
      const sniHosts = kind === "tls" ? r.strings([...m, "sniHosts"], { required: true }) : undefined;
      const sourceLabels = labelsIfAny(r, [...m, "sourceLabels"]);
      const sourceNamespace = r.str([...m, "sourceNamespace"]);
      const gateways = r.has([...m, "gateways"]) ? r.strings([...m, "gateways"]) : undefined;
      if (r.has([...m, "sourceSubnet"]))
        r.unsupported([...m, "sourceSubnet"], "sourceSubnet is not supported (deprecated in Istio); ignored");
      matches.push({
        ...(port !== undefined ? { port } : {}),
        ...(destinationSubnets ? { destinationSubnets } : {}),
        ...(sniHosts ? { sniHosts } : {}),
        ...(sourceLabels ? { sourceLabels } : {}),
        ...(sourceNamespace ? { sourceNamespace } : {}),
        ...(gateways ? { gateways } : {}),
      });
    }
    const destinations = parseDestinations(r, base, namespace, suffix, true);
    out.push({ matches, destinations });
  }
  return out;
}

/**
 * One VirtualService (`spec.hosts`, `gateways`, `http`, `tcp`, `tls`, `exportTo`).
 *
 * @example
 * const vs = parseVirtualService(reader, "echo", "demo", source, "cluster.local");
 * vs.http[0]?.destinations; // [{ host: "echo.demo.svc.cluster.local", weight: 100 }]
 */
export function parseVirtualService(
  r: FieldReader,
  name: string,
  namespace: string,
  source: SourceRef,
  suffix: string,
): VirtualServiceModel {
  // No hosts: a delegate (Istio's "child" VirtualService), reachable only through a root's delegate.
  let hosts = r.strings(["spec", "hosts"]).map((h) => resolveHost(h, namespace, suffix));
  // Istio: without `gateways` a VirtualService applies to sidecars (`mesh`); with it, only to
  // the gateways listed, and to sidecars only when `mesh` is one of them.
  const gateways = r.strings(["spec", "gateways"]);
  if (gateways.length > 0 && !gateways.includes("mesh")) {
    r.warn(
      ["spec", "gateways"],
      `this VirtualService applies only to gateways (${gateways.join(", ")}), which meshctl does not serve; ignored (add "mesh" to apply it to sidecars)`,
      "key",
    );
    hosts = [];
  } else
    gateways.forEach((g, i) => {
      if (g !== "mesh")
        r.warn(
          ["spec", "gateways", i],
          `gateway ${g} is not served by meshctl; ignored (the VirtualService applies to sidecars through "mesh")`,
        );
    });
  const http: HttpRoute[] = [];
  const n = r.list(["spec", "http"]);
  for (let i = 0; i < n; i++) http.push(parseHttpRoute(r, ["spec", "http", i], i, name, namespace, suffix));
  const tcp = parseL4Routes(r, "tcp", namespace, suffix);
  const tls = parseL4Routes(r, "tls", namespace, suffix);
  return {
    name,
    namespace,
    hosts,
    http,
    ...(tcp ? { tcp } : {}),
    ...(tls ? { tls } : {}),
    exportTo: exportToOf(r, ["spec", "exportTo"]),
    source,
  };
}
