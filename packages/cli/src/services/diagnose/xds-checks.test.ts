import type { XdsProbeResult } from "@meshctl/xds";
import { describe, expect, test } from "vitest";
import { evaluateXdsChecks } from "./xds-checks.js";

const absent: XdsProbeResult = {
  url: "http://127.0.0.1:15014",
  reachable: false,
  error: "ECONNREFUSED",
  clients: [],
  rejectedFiles: [],
  diagnostics: [],
};

describe("evaluateXdsChecks", () => {
  test("no control plane running is fine", () => {
    const checks = evaluateXdsChecks({ ok: true, error: null }, absent);
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["xds.protos", "ok"],
      ["xds.control-plane", "ok"],
    ]);
  });

  test("NACKs and rejected files are warnings with evidence", () => {
    const probe: XdsProbeResult = {
      ...absent,
      reachable: true,
      error: null,
      rejectedFiles: ["echo.yaml"],
      diagnostics: [
        {
          severity: "error",
          file: "echo.yaml",
          line: 8,
          column: 13,
          path: "spec.ports[0].port",
          reason: "must be <= 65535, got 99999",
        },
      ],
      clients: [
        {
          id: "sotw-1",
          nodeId: "grpc~1~a.demo~demo.svc.cluster.local",
          proxyType: "grpc",
          namespace: "demo",
          view: "grpc|demo|",
          protocol: "sotw",
          peer: "ipv4:127.0.0.1:1",
          connectedAt: "",
          configVersion: "v1",
          types: {
            cds: {
              subscribed: [],
              wildcard: false,
              lastVersionSent: "v1",
              lastNonceSent: "3",
              lastSentAt: "",
              ackedVersion: "v0",
              nackedVersion: "v1",
              lastNackError: "unsupported lb_policy: MAGLEV",
              lastNackAt: "",
              pushes: 2,
              acks: 1,
              nacks: 1,
              staleNonces: 0,
            },
          },
        },
      ],
    };
    const checks = evaluateXdsChecks({ ok: true, error: null }, probe);
    expect(checks.find((c) => c.id === "xds.nacks")).toMatchObject({
      status: "warn",
      evidence: ["grpc~1~a.demo~demo.svc.cluster.local CDS: unsupported lb_policy: MAGLEV"],
    });
    expect(checks.find((c) => c.id === "xds.config")).toMatchObject({
      status: "warn",
      evidence: ["echo.yaml:8:13 spec.ports[0].port: must be <= 65535, got 99999"],
    });
  });

  test("protos that do not load fail", () => {
    expect(evaluateXdsChecks({ ok: false, error: "missing" }, absent)[0]).toMatchObject({
      id: "xds.protos",
      status: "fail",
    });
  });
});
