import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { isMeshctlError } from "@meshctl/core";
import { afterEach, describe, expect, test } from "vitest";
import { encodeGrpcEcho } from "../engine/clients/http2.js";
import { runLoad } from "../engine/run-load.js";
import type { EchoServer, LoadProtocol } from "../engine/types.js";
import { startEchoServer } from "./echo-server.js";

const servers: EchoServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function echo(protocol: LoadProtocol, delayMs?: () => number): Promise<EchoServer> {
  const s = await startEchoServer({ protocol, port: 0, ...(delayMs ? { delayMs } : {}) });
  servers.push(s);
  return s;
}

const PROTOCOLS: LoadProtocol[] = ["http1", "http2", "grpc", "tcp"];

describe.each(PROTOCOLS)("%s against the echo server", (protocol) => {
  test("closed loop: every request succeeds", async () => {
    const s = await echo(protocol);
    const r = await runLoad({
      target: s.url,
      max: true,
      connections: 3,
      requests: 300,
      payloadBytes: 512,
      warmupMs: 100,
    });
    expect(r.protocol).toBe(protocol);
    expect(r.errors).toEqual({});
    expect(r.requests).toBe(300);
    expect(r.corrected.count).toBe(300);
    expect(r.corrected).toEqual(r.uncorrected);
    expect(r.corrected.min).toBeGreaterThan(0);
    expect(r.targetQps).toBeNull();
  });

  test("open loop: follows the schedule and records both figures", async () => {
    const s = await echo(protocol);
    const r = await runLoad({
      target: s.url,
      qps: 200,
      connections: 2,
      requests: 100,
      payloadBytes: 64,
      warmupMs: 0,
    });
    expect(r.errors).toEqual({});
    expect(r.requests).toBe(100);
    expect(r.uncorrected.count).toBe(100);
    // 100 requests at 200/s span ~0.5 s; corrected latencies are never below the service time.
    expect(r.durationMs).toBeGreaterThanOrEqual(500);
    expect(r.corrected.p50).toBeGreaterThanOrEqual(r.uncorrected.p50);
    expect(r.histogram.correctedHdr.startsWith("HISTF")).toBe(true);
    expect(r.histogram.buckets.reduce((a, b) => a + b.count, 0)).toBe(100);
  });
});

describe("echo servers", () => {
  test("HTTP/1.1 echoes the body", async () => {
    const s = await echo("http1");
    const res = await fetch(s.url, { method: "POST", body: "hello" });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello");
  });

  test("gRPC echoes the message with grpc-status 0, and rejects unknown methods", async () => {
    const s = await echo("grpc");
    const session = http2.connect(`http://127.0.0.1:${s.port}`);
    const call = (path: string): Promise<{ body: Buffer; status: string | undefined }> =>
      new Promise((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        const chunks: Buffer[] = [];
        let status: string | undefined;
        req.on("response", (h) => {
          if (h["grpc-status"]) status = String(h["grpc-status"]);
        });
        req.on("trailers", (t) => {
          status = String(t["grpc-status"]);
        });
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve({ body: Buffer.concat(chunks), status }));
        req.on("error", reject);
        req.end(encodeGrpcEcho(Buffer.from("ping")));
      });
    const ok = await call("/meshctl.bench.v1.Echo/Echo");
    expect(ok.status).toBe("0");
    expect(ok.body.equals(encodeGrpcEcho(Buffer.from("ping")))).toBe(true);
    expect((await call("/other.Service/Method")).status).toBe("12");
    session.close();
  });

  test("TCP echoes bytes", async () => {
    const s = await echo("tcp");
    const got = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(s.port, "127.0.0.1", () => sock.write("abc"));
      sock.on("data", (d) => {
        resolve(d.toString());
        sock.destroy();
      });
      sock.on("error", reject);
    });
    expect(got).toBe("abc");
  });

  test("a busy-polling TCP server echoes and still closes", async () => {
    const s = await startEchoServer({ protocol: "tcp", port: 0, busyPoll: true });
    const r = await runLoad({
      target: s.url,
      max: true,
      connections: 1,
      requests: 200,
      payloadBytes: 64,
      warmupMs: 0,
    });
    expect(r.errors).toEqual({});
    expect(r.requests).toBe(200);
    await s.close();
  });

  test("a busy port is a clear error", async () => {
    const s = await echo("tcp");
    const err = await startEchoServer({ protocol: "tcp", port: s.port }).catch((e: unknown) => e);
    expect(isMeshctlError(err) && err.code).toBe("BENCH_SERVER_LISTEN_FAILED");
  });
});

describe("errors by kind", () => {
  test("HTTP status codes count as http_<code>", async () => {
    let n = 0;
    const server = http.createServer((_req, res) => {
      res.writeHead(n++ % 2 === 0 ? 200 : 503, { "content-length": "0" });
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const r = await runLoad({
        target: `http://127.0.0.1:${port}/`,
        max: true,
        connections: 1,
        requests: 20,
        payloadBytes: 0,
        warmupMs: 0,
      });
      expect(r.requests).toBe(20);
      expect(r.errors).toEqual({ http_503: 10 });
      expect(r.corrected.count).toBe(10);
    } finally {
      server.close();
    }
  });

  test("unknown gRPC method counts as grpc_12", async () => {
    const s = await echo("grpc");
    const r = await runLoad({
      target: `grpc://127.0.0.1:${s.port}/no.Such/Method`,
      max: true,
      connections: 1,
      requests: 5,
      payloadBytes: 8,
      warmupMs: 0,
    });
    expect(r.errors).toEqual({ grpc_12: 5 });
  });

  test("slow responses past the timeout count as timeout", async () => {
    const s = await echo("http1", () => 2000);
    const r = await runLoad({
      target: s.url,
      max: true,
      connections: 1,
      requests: 1,
      payloadBytes: 0,
      warmupMs: 0,
      timeoutMs: 200,
    });
    expect(r.errors).toEqual({ timeout: 1 });
  });

  test("a closed port is BENCH_TARGET_UNREACHABLE", async () => {
    const s = await echo("tcp");
    const port = s.port;
    await s.close();
    servers.length = 0;
    const err = await runLoad({
      target: `http://127.0.0.1:${port}/`,
      max: true,
      connections: 1,
      requests: 1,
      payloadBytes: 0,
      warmupMs: 0,
    }).catch((e: unknown) => e);
    expect(isMeshctlError(err) && err.code).toBe("BENCH_TARGET_UNREACHABLE");
    expect(isMeshctlError(err) && err.details.code).toBe("ECONNREFUSED");
  });
});

describe("abort", () => {
  test("an aborted run stops early and returns the partial result", async () => {
    const s = await echo("http1");
    const controller = new AbortController();
    const progress: number[] = [];
    setTimeout(() => controller.abort(), 600);
    const r = await runLoad({
      target: s.url,
      qps: 100,
      connections: 1,
      durationMs: 30_000,
      payloadBytes: 0,
      warmupMs: 0,
      signal: controller.signal,
      onProgress: (p) => progress.push(p.requests),
    });
    expect(r.requests).toBeGreaterThan(0);
    expect(r.requests).toBeLessThan(3000);
    expect(progress.length).toBeGreaterThan(0);
    expect(r.warnings).toContain("stopped early (interrupted): this is a partial result");
  });
});

describe("a target that goes away", () => {
  test("a request-count run ends after the timeout instead of retrying forever", async () => {
    const s = await startEchoServer({ protocol: "tcp", port: 0 });
    const r = runLoad({
      target: s.url,
      max: true,
      connections: 1,
      requests: 1_000_000,
      payloadBytes: 1,
      warmupMs: 0,
      timeoutMs: 500,
    });
    setTimeout(() => void s.close(), 300);
    const result = await r;
    expect(result.requests).toBeLessThan(1_000_000);
    expect(result.requests).toBeGreaterThan(0);
    expect(Object.keys(result.errors).length).toBeGreaterThan(0);
  }, 15_000);
});
