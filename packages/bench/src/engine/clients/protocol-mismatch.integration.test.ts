import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { startEchoServer } from "../../servers/echo-server.js";
import { runLoad } from "../run-load.js";
import type { EchoServer } from "../types.js";

const servers: EchoServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const quick = { connections: 2, requests: 20, payloadBytes: 0, warmupMs: 0, qps: 200 } as const;

describe("an HTTP/2 client against a server that does not speak HTTP/2", () => {
  test.each(["grpc", "h2c"])(
    "%s:// against an HTTP/1.1 server: BENCH_PROTOCOL_MISMATCH, no crash",
    async (scheme) => {
      const http1 = await startEchoServer({ protocol: "http1", port: 0 });
      servers.push(http1);
      const error = await runLoad({ ...quick, target: `${scheme}://127.0.0.1:${http1.port}/` }).catch(
        (e) => e,
      );
      expect(error).toMatchObject({
        code: "BENCH_PROTOCOL_MISMATCH",
        kind: "usage",
        message: expect.stringContaining(
          `127.0.0.1:${http1.port} accepted the connection but did not speak HTTP/2 (h2c`,
        ),
      });
      expect(error.suggestions.join(" ")).toMatch(/http:\/\//);
    },
  );

  test("a server that accepts and never answers: a mismatch after the connect timeout", async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const error = await runLoad({ ...quick, target: `grpc://127.0.0.1:${port}`, timeoutMs: 300 }).catch(
        (e) => e,
      );
      expect(error).toMatchObject({
        code: "BENCH_PROTOCOL_MISMATCH",
        message: expect.stringMatching(/SETTINGS/),
      });
    } finally {
      silent.close();
    }
  });

  test("nothing listening stays BENCH_TARGET_UNREACHABLE", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await runLoad({ ...quick, target: `grpc://127.0.0.1:${port}` }).catch((e) => e);
    expect(error).toMatchObject({ code: "BENCH_TARGET_UNREACHABLE", kind: "environment" });
  });
});

describe("interrupting a run", () => {
  test("an abort while connecting returns an empty, flagged result at once", async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const started = Date.now();
      // h2c waits for the server's SETTINGS, which never come: connecting would take 10 s.
      const r = await runLoad({ ...quick, target: `h2c://127.0.0.1:${port}/`, signal: controller.signal });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(r.requests).toBe(0);
      expect(r.warnings.join("\n")).toMatch(/interrupted/);
    } finally {
      silent.close();
    }
  });
});
