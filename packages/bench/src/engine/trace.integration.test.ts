import http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import { performance } from "node:perf_hooks";
import { Ajv } from "ajv";
import { afterEach, describe, expect, test } from "vitest";
import { LOAD_RESULT_JSON_SCHEMA } from "../report/schema.js";
import { buildResult, findWorkerScript, resolveLoadOptions, runLoad, shardOptions } from "./run-load.js";
import { LoadShard } from "./shard.js";
import type { LoadOptions, LoadProtocol, LoadResult } from "./types.js";

const HEADER = "x-request-id";
const PREFIX = "mcl-1a2b-sidecar-r3";
const ID = /^mcl-1a2b-sidecar-r3-(\d+)$/;

/** A target that records the trace header of every request it receives, in arrival order. */
interface RecordingServer {
  readonly url: string;
  /** Header value per request (undefined when absent). */
  readonly seen: (string | undefined)[];
  close(): Promise<void>;
}

/**
 * Node's own HTTP/1.1 and HTTP/2 servers (not the engine's echo server): an independent parser
 * checks what went on the wire. `fail(i)` answers the i-th request with 503.
 */
async function startRecordingServer(
  protocol: Exclude<LoadProtocol, "tcp">,
  fail: (i: number) => boolean = () => false,
): Promise<RecordingServer> {
  const seen: (string | undefined)[] = [];
  const record = (value: string | string[] | undefined): number => {
    seen.push(Array.isArray(value) ? value.join(",") : value);
    return seen.length - 1;
  };
  const sockets = new Set<net.Socket>();
  let server: http.Server | http2.Http2Server;
  if (protocol === "http1") {
    server = http.createServer((req, res) => {
      const i = record(req.headers[HEADER]);
      req.resume();
      req.on("end", () => {
        res.writeHead(fail(i) ? 503 : 200, { "content-type": "text/plain" });
        res.end("ok");
      });
    });
  } else {
    const h2 = http2.createServer();
    h2.on("stream", (stream, headers) => {
      const i = record(headers[HEADER]);
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", () => {});
      stream.on("end", () => {
        if (protocol === "http2") {
          stream.respond({ ":status": fail(i) ? 503 : 200 });
          stream.end("ok");
          return;
        }
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": fail(i) ? "14" : "0" }));
        stream.end(Buffer.concat(chunks));
      });
    });
    server = h2;
  }
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const scheme = { http1: "http", http2: "h2c", grpc: "grpc" }[protocol];
  return {
    url: `${scheme}://127.0.0.1:${port}${protocol === "grpc" ? "" : "/"}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let server: RecordingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const traced = (url: string, extra: Partial<LoadOptions> = {}): LoadOptions => ({
  target: url,
  qps: 200,
  connections: 2,
  durationMs: 700,
  payloadBytes: 32,
  warmupMs: 300,
  trace: { header: HEADER, idPrefix: PREFIX },
  ...extra,
});

const idNumber = (id: string | undefined): number => Number(ID.exec(id ?? "")?.[1] ?? Number.NaN);

/** What every traced run must satisfy, whatever the protocol. */
function expectConsistentTrace(r: LoadResult, seen: readonly (string | undefined)[]): void {
  const trace = r.trace;
  if (!trace) throw new Error("no trace in the result");
  expect(trace.header).toBe(HEADER);
  expect(trace.idPrefix).toBe(PREFIX);
  // Every request carried a well-formed id, and no id was sent twice.
  expect(seen.every((v) => v !== undefined && ID.test(v))).toBe(true);
  expect(new Set(seen).size).toBe(seen.length);
  // One entry per measured request; each was seen by the server.
  expect(trace.requests).toHaveLength(r.requests);
  const onWire = new Set(seen);
  for (const [id] of trace.requests) expect(onWire.has(id)).toBe(true);
  // Warm-up requests went out with ids too, but are not in the trace.
  expect(seen.length).toBeGreaterThan(trace.requests.length);
  // Ordered by send time, within the measured phase (plus the last responses' lag).
  const sent = trace.requests.map((q) => q[1]);
  expect(sent).toEqual([...sent].sort((a, b) => a - b));
  expect(Math.min(...sent)).toBeGreaterThanOrEqual(0);
  expect(Math.max(...sent)).toBeLessThan(r.durationMs + 50);
  for (const [, sentMs, latencyUs, error] of trace.requests) {
    expect(Math.round(sentMs * 1000)).toBeCloseTo(sentMs * 1000, 6); // µs precision
    expect(Number.isInteger(latencyUs)).toBe(true);
    expect(latencyUs).toBeGreaterThan(0);
    expect([0, 1]).toContain(error);
  }
  const validate = new Ajv({ strict: false }).compile(LOAD_RESULT_JSON_SCHEMA);
  validate(JSON.parse(JSON.stringify(r)));
  expect(validate.errors ?? []).toEqual([]);
}

describe("request ids on the wire", () => {
  test.each(["http1", "http2", "grpc"] as const)(
    "%s: every request carries a unique id; the trace has the measured ones",
    async (protocol) => {
      server = await startRecordingServer(protocol);
      const r = await runLoad(traced(server.url, { protocol }));
      expect(r.errors).toEqual({});
      expectConsistentTrace(r, server.seen);
      // One thread numbers its requests 0, 1, 2, ... in send order: warm-up ids come first.
      const numbers = server.seen.map(idNumber).sort((a, b) => a - b);
      expect(numbers).toEqual(numbers.map((_, i) => i));
      const measured = new Set(r.trace?.requests.map(([id]) => id));
      const warmup = server.seen.filter((id) => !measured.has(id as string)).map(idNumber);
      const firstMeasured = Math.min(...[...measured].map(idNumber));
      expect(warmup.length).toBeGreaterThanOrEqual(40); // ~300 ms at 200 req/s
      expect(Math.max(...warmup)).toBeLessThan(firstMeasured);
    },
  );

  test("failed requests are traced with error 1", async () => {
    server = await startRecordingServer("http1", (i) => i % 4 === 0);
    const r = await runLoad(traced(server.url));
    expectConsistentTrace(r, server.seen);
    const failed = r.trace?.requests.filter((q) => q[3] === 1).length ?? 0;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBe(r.errors.http_503);
  });

  test("a run without trace sends no id and has no trace field", async () => {
    server = await startRecordingServer("http1");
    const { trace: _, ...options } = traced(server.url);
    const r = await runLoad(options);
    expect(r.requests).toBeGreaterThan(0);
    expect("trace" in r).toBe(false);
    expect("trace" in r.options).toBe(false);
    expect(server.seen.every((v) => v === undefined)).toBe(true);
  });
});

describe("ids across shards", () => {
  // The same two shards runLoad gives two worker threads, run on this thread: numbering and the
  // merge are checked without the built worker script.
  test("two shards send disjoint ids and merge into one trace", async () => {
    server = await startRecordingServer("http2");
    const resolved = resolveLoadOptions(traced(server.url, { connections: 4, workers: 2 }));
    const shards = shardOptions(resolved, 2, "precise");
    expect(shards.map((s) => s.trace)).toEqual([
      { header: HEADER, idPrefix: PREFIX, shard: 0, shards: 2 },
      { header: HEADER, idPrefix: PREFIX, shard: 1, shards: 2 },
    ]);
    const connected = await Promise.all(shards.map((s) => LoadShard.connect(s)));
    const startAt = performance.now() + 20;
    const results = await Promise.all(connected.map((s) => s.run(startAt)));
    const r = buildResult(resolved, results, [], Date.now());
    expectConsistentTrace(r, server.seen);
    const numbers = server.seen.map(idNumber);
    expect(numbers.some((n) => n % 2 === 0) && numbers.some((n) => n % 2 === 1)).toBe(true);
    // Both shards' requests are in the measured trace, interleaved in time.
    const parity = r.trace?.requests.slice(0, 20).map(([id]) => idNumber(id) % 2) ?? [];
    expect(new Set(parity)).toEqual(new Set([0, 1]));
  });

  test.skipIf(findWorkerScript() === null)("two worker threads send disjoint ids", async () => {
    server = await startRecordingServer("http1");
    const r = await runLoad(traced(server.url, { connections: 4, workers: 2 }));
    expect(r.warnings.join("\n")).not.toMatch(/ran on one thread/);
    expectConsistentTrace(r, server.seen);
    const numbers = server.seen.map(idNumber);
    expect(numbers.filter((n) => n % 2 === 0).length).toBeGreaterThan(50);
    expect(numbers.filter((n) => n % 2 === 1).length).toBeGreaterThan(50);
  });
});
