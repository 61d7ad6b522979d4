// The C core of the native and Wasm Envoy modules (native/src/tstats_core.c), compiled with clang
// and driven through native/test/tstats_driver.c, against this package's TypeScript: the same
// x-envoy-peer-metadata bytes (made by the TS encoder) must decode to the same workload, and the
// same request must get the same 25 label values as the proxyless recorder gives it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram } from "@meshctl/core";
import { requirementGate } from "@meshctl/core/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  CallSite,
  decodePeerMetadataHeader,
  destinationServiceFromTarget,
  encodePeerMetadataHeader,
  type LocalWorkload,
  localWorkload,
  TstatsRecorder,
  type WorkloadMetadata,
  workloadLabelValues,
  workloadMetadata,
} from "../src/index.js";
import { parseExposition, REFERENCE_HTTP_LABELS, REFERENCE_TCP_LABELS } from "./fixtures.js";

const nativeDir = join(import.meta.dirname, "..", "native");
const clang = await findProgram("clang");
const gate = requirementGate("clang", clang ? undefined : "clang is not installed", "tstats native core");

const PEERS: Record<string, WorkloadMetadata> = {
  full: workloadMetadata({
    instanceName: "echo-v2-7d9f-abcde",
    namespace: "demo",
    workloadName: "echo-v2",
    clusterId: "Kubernetes",
    canonicalService: "echo",
    canonicalRevision: "v2",
    app: "echo",
    version: "v2",
    owner: "kubernetes://apis/apps/v1/namespaces/demo/deployments/echo-v2",
    labels: { tier: "backend" },
  }),
  minimal: workloadMetadata({ namespace: "default", app: "echo" }),
  withIdentity: workloadMetadata({
    namespace: "shop",
    workloadName: "cart",
    identity: "spiffe://cluster.local/ns/payments/sa/cart",
    app: "cart",
  }),
  odd: workloadMetadata({ namespace: 'quote"ns', workloadName: "ünïcode-wörk", app: "a\\b" }),
};

describe.skipIf(gate.skip)("tstats C core vs the TypeScript recorder", () => {
  let dir = "";
  let driver = "";
  const run = (...args: string[]): unknown => JSON.parse(execFileSync(driver, args, { encoding: "utf8" }));
  const configFile = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(() => {
    if (gate.missing) throw new Error(gate.missing);
    dir = mkdtempSync(join(tmpdir(), "mct-tstats-core-"));
    driver = join(dir, "tstats_driver");
    execFileSync(clang!, [
      "-std=c11",
      "-O1",
      "-fsanitize=undefined,bounds",
      "-fsanitize-trap=all",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-D_POSIX_C_SOURCE=200809L",
      "-o",
      driver,
      join(nativeDir, "test", "tstats_driver.c"),
      join(nativeDir, "src", "tstats_core.c"),
    ]);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("decodes what the TS encoder writes, field for field (also without padding)", () => {
    for (const [name, peer] of Object.entries(PEERS)) {
      const header = encodePeerMetadataHeader(peer);
      const ts = decodePeerMetadataHeader(header);
      for (const value of [header, header.replace(/=+$/, "")]) {
        const c = run("decode", value) as Record<string, unknown>;
        expect(c, name).toEqual({
          ok: true,
          instanceName: ts.instanceName,
          namespace: ts.namespace,
          workloadName: ts.workloadName,
          clusterId: ts.clusterId,
          identity: ts.identity,
          canonicalService: ts.canonicalService,
          canonicalRevision: ts.canonicalRevision,
          app: ts.app,
          version: ts.version,
        });
      }
    }
  });

  test("decodes the package's hand-written reference vector (Istio's encoding), with and without padding", () => {
    // The same bytes as peer-metadata.test.ts's VECTOR: LABELS{app: "echo"}, NAMESPACE "default".
    const ascii = (t: string) => Buffer.from(t, "ascii").toString("hex");
    const vector = Buffer.from(
      `0a1b0a06${ascii("LABELS")}12112a0f0a0d0a03${ascii("app")}12061a04${ascii("echo")}` +
        `0a160a09${ascii("NAMESPACE")}12091a07${ascii("default")}`,
      "hex",
    ).toString("base64");
    for (const value of [vector, vector.replace(/=+$/, "")])
      expect(run("decode", value)).toMatchObject({
        ok: true,
        namespace: "default",
        app: "echo",
        workloadName: "",
      });
    expect(encodePeerMetadataHeader(workloadMetadata({ namespace: "default", app: "echo" }))).toBe(vector);
  });

  test("qualified app.kubernetes.io labels win, as in Envoy", () => {
    const header = encodePeerMetadataHeader(
      workloadMetadata({
        app: "short",
        version: "v0",
        labels: { "app.kubernetes.io/name": "qualified", "app.kubernetes.io/version": "v9" },
      }),
    );
    expect(run("decode", header)).toMatchObject({ app: "qualified", version: "v9" });
    expect(decodePeerMetadataHeader(header)).toMatchObject({ app: "qualified", version: "v9" });
  });

  test("rejects bytes that are not base64 or not a Struct", () => {
    for (const bad of ["!!!!", "a", Buffer.from([0x0a, 0x7f, 0x01]).toString("base64")])
      expect(run("decode", bad), bad).toEqual({ ok: false });
  });

  const local: LocalWorkload = localWorkload({
    instanceName: "frontend-1",
    namespace: "demo",
    workloadName: "frontend-v1",
    clusterId: "Kubernetes",
    app: "frontend",
    version: "v1",
  });
  const config = (reporter: "source" | "destination") =>
    `reporter=${reporter}\nid=sidecar~10.0.0.1~frontend-1.demo~demo.svc.cluster.local\nmetadata=${encodePeerMetadataHeader(local)}\n`;

  test("25 label values equal the recorder's for every reporter, peer and authority", () => {
    const authorities = [
      "echo.demo.svc.cluster.local:7070",
      "echo.other.svc",
      "echo",
      "10.0.0.7:80",
      "[::1]:80",
      "",
    ];
    const peers: Array<[string, WorkloadMetadata | null]> = [
      ...Object.entries(PEERS).map(([k, v]): [string, WorkloadMetadata] => [k, v]),
      ["absent", null],
      ["garbage", null],
    ];
    let cases = 0;
    for (const reporter of ["source", "destination"] as const) {
      const file = configFile(`${reporter}.txt`, config(reporter));
      for (const [peerName, peer] of peers) {
        const header =
          peerName === "absent" ? "-" : peerName === "garbage" ? "%%%" : encodePeerMetadataHeader(peer!);
        for (const authority of authorities) {
          for (const [ct, code, grpc] of [
            ["application/json", "200", ""],
            ["application/grpc+proto", "200", "5"],
            ["", "503", ""],
          ] as const) {
            const c = run("labels", file, header, authority, ct, code, grpc) as string[];
            const policy = reporter === "source" ? "unknown" : "none";
            const service = authority
              ? destinationServiceFromTarget(authority)
              : { host: "", name: "", namespace: "" };
            const site = new CallSite(reporter, service, "", "", policy);
            const isGrpc = ct.startsWith("application/grpc");
            const expected = [
              ...workloadLabelValues(local, site, peer === null ? null : decodePeerMetadataHeader(header)),
              isGrpc ? "grpc" : "http",
              code,
              isGrpc ? grpc : "",
              "-",
              policy,
            ];
            expect(c, `${reporter}/${peerName}/${authority}/${ct}`).toEqual(expected);
            expect(c).toHaveLength(REFERENCE_HTTP_LABELS.length);
            cases++;
          }
        }
      }
    }
    expect(cases).toBe(2 * 6 * 6 * 3);
  });

  test("a peer is decoded once per thread and then served from the cache", () => {
    const file = configFile("cache.txt", config("destination"));
    const a = encodePeerMetadataHeader(PEERS.full!);
    const b = encodePeerMetadataHeader(PEERS.minimal!);
    expect(run("cache", file, "100", a, b, "%%%")).toEqual({ hits: 297, decodes: 2, failures: 1, clears: 0 });
    // More distinct peers than the cache holds (1,024): it is cleared and refilled, never grows.
    const many = Array.from({ length: 1100 }, (_, i) =>
      encodePeerMetadataHeader(workloadMetadata({ namespace: "n", workloadName: `w${i}` })),
    );
    const stats = run("cache", file, "1", ...many) as Record<string, number>;
    expect(stats).toEqual({ hits: 0, decodes: 1100, failures: 0, clears: 1 });
  });

  test("a peer a stream still holds survives a cache clear", () => {
    const file = configFile("hold.txt", config("destination"));
    const held = encodePeerMetadataHeader(PEERS.full!);
    const others = Array.from({ length: 1100 }, (_, i) =>
      encodePeerMetadataHeader(
        workloadMetadata({ namespace: `x${i}`, workloadName: `other-${i}`, app: `o${i}` }),
      ),
    );
    const out = run("hold", file, held, ...others) as { clears: number; labels: string[] };
    const alone = run("labels", file, held, "echo.demo.svc:80", "", "200", "") as string[];
    expect(out.clears).toBe(1);
    expect(out.labels).toEqual(alone);
    expect(out.labels.slice(1, 3)).toEqual(["echo-v2", "echo"]);
  });

  test("a bad filter config is rejected with the reason", () => {
    const cases: Array<[string, RegExp]> = [
      ["reporter=sidecar\n", /reporter must be source or destination, not sidecar/],
      ["reporter=source\ncolour=blue\n", /unknown config key colour/],
      ["id=x\n", /needs reporter/],
      ["reporter=source\nmetadata=%%%\n", /metadata is not a base64/],
      ["reporter=source\njunk\n", /line without '='/],
    ];
    for (const [text, message] of cases) {
      const out = run("labels", configFile("bad.txt", text), "-", "a", "", "200", "") as { error?: string };
      expect(out.error, text).toMatch(message);
    }
  });

  test("23 TCP label values (unknown peer) equal the recorder's istio_tcp_* series, names in Istio's order", () => {
    const hosts = ["echo.demo.svc.cluster.local", "echo.other.svc", "echo", "10.0.0.7", ""];
    let cases = 0;
    for (const reporter of ["source", "destination"] as const) {
      const file = configFile(`tcp-${reporter}.txt`, config(reporter));
      for (const host of hosts) {
        const c = run("tcp-labels", file, host) as Array<[string, string]>;
        // The TS side: a connection recorded through the recorder's TCP series, rendered and parsed.
        const recorder = new TstatsRecorder({ local });
        const site = recorder.callSite(
          host ? { reporter, service: destinationServiceFromTarget(host) } : { reporter },
        );
        recorder.tcpSeries(site, recorder.resolvePeer(undefined)).opened++;
        const series = parseExposition(recorder.registry.renderPrometheus()).filter(
          (s) => s.name === "istio_tcp_connections_opened_total",
        );
        expect(series).toHaveLength(1);
        expect(c, `${reporter}/${host}`).toEqual(series[0]!.labels);
        expect(c.map(([name]) => name)).toEqual(REFERENCE_TCP_LABELS);
        cases++;
      }
    }
    expect(cases).toBe(2 * 5);
  });
});
