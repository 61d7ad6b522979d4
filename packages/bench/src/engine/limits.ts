import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { MeshctlError } from "@meshctl/core";

/**
 * Upper (and lower) bounds of every load option. A value beyond them is a usage error naming the
 * flag, the value and the range, raised before anything is opened or allocated: without them
 * `--connections 100000000` grew to 7.9 GB and `--duration 99999999999h` overflowed Node's timer
 * (2^31-1 ms ≈ 24.8 days) and ran for 1 ms.
 */
export const LOAD_LIMITS = {
  /**
   * Each connection holds a socket, a file descriptor and its buffers (~50–100 KiB with HTTP/2
   * windows). Beyond ten thousand from one process the generator, not the target, is measured;
   * the process's open-file limit is checked separately when the run starts.
   */
  maxConnections: 10_000,
  /** Worker threads beyond 4 per CPU (or 64) only contend with each other and the target. */
  maxWorkersPerCpu: 4,
  maxWorkersAbsolute: 64,
  /** One process sends at most a few hundred thousand requests a second; 10x that is a typo. */
  maxQps: 1_000_000,
  /** Well below Node's timer limit of 2^31-1 ms (≈ 24.8 days). */
  maxDurationMs: 7 * 24 * 3_600_000,
  /** Warm-up only settles caches and connection pools. */
  maxWarmupMs: 3_600_000,
  /** The latency histogram tracks values up to one hour; a longer timeout could not be recorded. */
  maxTimeoutMs: 3_600_000,
  minTimeoutMs: 1,
  maxRequests: 1_000_000_000,
  /** Request body; every connection may hold a response of this size in flight. */
  maxPayloadBytes: 16 * 1024 * 1024,
  /** connections × payload: the memory responses in flight may take at once. */
  maxInFlightBytes: 1024 * 1024 * 1024,
  /** Extra headers: count and total size (Node's and Envoy's default header limits are 16–60 KiB). */
  maxHeaders: 64,
  maxHeaderBytes: 16 * 1024,
} as const;

/**
 * The most worker threads a run may ask for on this machine: 4 per CPU, at most 64.
 *
 * @example
 * maxLoadWorkers(); // 8 on a 2-CPU machine
 */
export function maxLoadWorkers(cpus: number = availableParallelism()): number {
  return Math.min(LOAD_LIMITS.maxWorkersAbsolute, Math.max(1, cpus) * LOAD_LIMITS.maxWorkersPerCpu);
}

/** A usage error about one option, with the flag, value and range in `details`. */
export function optionRangeError(
  flag: string,
  shown: string,
  range: { min: number; max: number; unit?: string; exclusiveMin?: boolean },
  why: string,
): MeshctlError {
  const unit = range.unit ? ` ${range.unit}` : "";
  const allowed = range.exclusiveMin
    ? `more than ${fmt(range.min)} and at most ${fmt(range.max)}${unit}`
    : `${fmt(range.min)} to ${fmt(range.max)}${unit}`;
  return new MeshctlError(
    "BENCH_OPTIONS_INVALID",
    `--${flag} ${shown} is out of range: allowed ${allowed}. ${why}`,
    {
      kind: "usage",
      suggestions: [`Pass --${flag} ${allowed}.`],
      details: {
        flag,
        value: shown,
        min: range.min,
        max: range.max,
        ...(range.unit ? { unit: range.unit } : {}),
      },
    },
  );
}

/**
 * Throws a range error unless `min <= value <= max` (and an integer when asked). NaN and ±Infinity
 * are out of every range.
 */
export function checkOptionRange(
  flag: string,
  value: number,
  range: { min: number; max: number; unit?: string; integer?: boolean; exclusiveMin?: boolean },
  why: string,
  shown: string = fmt(value),
): void {
  const aboveMin = range.exclusiveMin ? value > range.min : value >= range.min;
  const ok =
    Number.isFinite(value) && aboveMin && value <= range.max && (!range.integer || Number.isInteger(value));
  if (ok) return;
  if (range.integer && Number.isFinite(value) && !Number.isInteger(value))
    throw new MeshctlError("BENCH_OPTIONS_INVALID", `--${flag} must be a whole number, got ${shown}.`, {
      kind: "usage",
      details: { flag, value: shown },
    });
  throw optionRangeError(
    flag,
    shown,
    {
      min: range.min,
      max: range.max,
      ...(range.unit ? { unit: range.unit } : {}),
      ...(range.exclusiveMin ? { exclusiveMin: true } : {}),
    },
    why,
  );
}

function fmt(n: number): string {
  return Number.isFinite(n) && Math.abs(n) < 1e15 ? n.toLocaleString("en-US") : String(n);
}

/** RFC 9110 token: what a header name may be. */
export const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 field-value: visible ASCII, obs-text, space and tab; no CR, LF, NUL or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Written by the engine from the payload: a second copy would break the message framing. */
const FRAMING_HEADERS = new Set(["content-length", "transfer-encoding"]);
/** Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2); node:http2 throws on them. */
const H2_FORBIDDEN = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Checks extra request headers: names are tokens, values carry no CR/LF or other control bytes
 * (they would split the request: header injection), framing headers stay the engine's, and
 * HTTP/2 targets get no connection-specific headers.
 *
 * @example
 * checkLoadHeaders({ "x-user": "1" }, "http1"); // ok
 * checkLoadHeaders({ x: "a\r\nb" }, "http1"); // throws BENCH_OPTIONS_INVALID
 */
export function checkLoadHeaders(headers: Readonly<Record<string, string>>, protocol: string): void {
  const entries = Object.entries(headers);
  const usage = (message: string, header: string): MeshctlError =>
    new MeshctlError("BENCH_OPTIONS_INVALID", message, {
      kind: "usage",
      suggestions: ['Pass each header as -H "Name: value" with a visible-ASCII value.'],
      details: { flag: "header", header },
    });
  if (entries.length > LOAD_LIMITS.maxHeaders)
    throw optionRangeError(
      "header",
      `(${entries.length} headers)`,
      { min: 0, max: LOAD_LIMITS.maxHeaders, unit: "headers" },
      "Servers and proxies refuse requests with more.",
    );
  let bytes = 0;
  for (const [name, value] of entries) {
    if (typeof value !== "string")
      throw usage(`--header "${name}" has no string value (got ${typeof value}).`, name);
    if (!HEADER_TOKEN.test(name))
      throw usage(
        `--header name ${JSON.stringify(name)} is not a valid header name: letters, digits and !#$%&'*+-.^_\`|~ only.`,
        name,
      );
    if (!FIELD_VALUE.test(value))
      throw usage(
        `--header "${name}" has a value with a control character (${JSON.stringify(value)}): CR, LF and NUL would split or corrupt the request.`,
        name,
      );
    const lower = name.toLowerCase();
    if (FRAMING_HEADERS.has(lower))
      throw usage(
        `--header "${name}" cannot be set: the load generator writes it from --payload, and a second one would corrupt the message framing.`,
        name,
      );
    if ((protocol === "http2" || protocol === "grpc") && H2_FORBIDDEN.has(lower))
      throw usage(
        `--header "${name}" is a connection-specific header, which HTTP/2 (and so ${protocol}) forbids.`,
        name,
      );
    if (protocol === "tcp")
      throw usage(
        `--header "${name}" has nowhere to go: a tcp:// target carries raw bytes, no headers.`,
        name,
      );
    bytes += name.length + value.length + 4;
  }
  if (bytes > LOAD_LIMITS.maxHeaderBytes)
    throw optionRangeError(
      "header",
      `(${bytes} bytes of headers)`,
      { min: 0, max: LOAD_LIMITS.maxHeaderBytes, unit: "bytes" },
      "Servers refuse larger request heads (Node's default limit is 16 KiB).",
    );
}

/** File descriptors the process keeps for itself beyond the load connections (stdio, workers, DNS). */
const FD_RESERVE = 64;

/**
 * Reads the process's open-file limit (Linux `/proc/self/limits`); null where it cannot be read.
 *
 * @example
 * await openFileLimit(); // 20000
 */
export async function openFileLimit(): Promise<number | null> {
  try {
    const text = await readFile("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (!m) return null;
    return m[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * Throws BENCH_FD_LIMIT (environment) when `connections` would not fit in the open-file limit,
 * instead of failing part of the connections with EMFILE.
 *
 * @example
 * await checkOpenFileLimit(5000, 1024); // throws: ulimit -n is 1024
 */
export async function checkOpenFileLimit(
  connections: number,
  limit: number | null | Promise<number | null> = openFileLimit(),
): Promise<void> {
  const max = await limit;
  if (max === null || connections + FD_RESERVE <= max) return;
  throw new MeshctlError(
    "BENCH_FD_LIMIT",
    `--connections ${connections} needs ${connections + FD_RESERVE} file descriptors, but this process may open ${max} (ulimit -n).`,
    {
      kind: "environment",
      suggestions: [
        `Lower --connections to ${Math.max(1, max - FD_RESERVE)} or less, or raise the limit (ulimit -n ${connections + FD_RESERVE}).`,
      ],
      details: { flag: "connections", connections, openFileLimit: max },
    },
  );
}
