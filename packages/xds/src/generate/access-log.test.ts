import { MeshctlError } from "@meshctl/core";
import { describe, expect, test } from "vitest";
import { decodeAnyDeep, type EncodedAny } from "../protocol/protos.js";
import {
  type AccessLogOptions,
  buildFileAccessLog,
  ISTIO_JSON_ACCESS_LOG_FORMAT,
  ISTIO_TEXT_ACCESS_LOG_FORMAT,
} from "./access-log.js";
import { proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";
import { webMeshModel } from "./web-mesh.test-data.js";

const model = webMeshModel();
const sidecar = proxyFromNode({ id: "sidecar~10.0.0.9~web-1.demo~demo.svc.cluster.local" });
const grpc = proxyFromNode({ id: "grpc~10.0.0.100~client.demo~demo.svc.cluster.local" });

type FileAccessLog = {
  path: string;
  log_format: {
    text_format_source?: { inline_string: string };
    json_format?: { fields: Record<string, { stringValue?: string; structValue?: unknown }> };
  };
};
const fileLog = (options: AccessLogOptions) => {
  const al = buildFileAccessLog(options) as { name: string; typed_config: EncodedAny };
  expect(al.name).toBe("envoy.access_loggers.file");
  expect(al.typed_config.type_url).toBe(
    "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
  );
  return decodeAnyDeep(al.typed_config) as unknown as FileAccessLog;
};
const usageError = (options: AccessLogOptions) => {
  try {
    buildFileAccessLog(options);
  } catch (e) {
    expect(e).toBeInstanceOf(MeshctlError);
    expect((e as MeshctlError).code).toBe("XDS_ACCESS_LOG_INVALID");
    return (e as MeshctlError).message;
  }
  throw new Error("no error");
};

describe("the file access log (Istio's accessLogFile / Format / Encoding)", () => {
  test("TEXT by default, Istio's format; a custom format gets its newline", () => {
    expect(fileLog({ path: "/dev/stdout" })).toEqual({
      "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
      path: "/dev/stdout",
      log_format: { text_format_source: { inline_string: ISTIO_TEXT_ACCESS_LOG_FORMAT } },
    });
    expect(fileLog({ path: "/tmp/a.log", format: "%DURATION%" }).log_format.text_format_source).toEqual({
      inline_string: "%DURATION%\n",
    });
  });

  test("JSON: a field map, or the same as JSON text; Istio's fields by default", () => {
    const fields = {
      id: "%REQ(X-REQUEST-ID)%",
      t: { total_us: "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%" },
    };
    const expected = {
      id: { stringValue: "%REQ(X-REQUEST-ID)%" },
      t: {
        structValue: { fields: { total_us: { stringValue: "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%" } } },
      },
    };
    expect(
      fileLog({ path: "/dev/stdout", encoding: "JSON", format: JSON.stringify(fields) }).log_format
        .json_format?.fields,
    ).toEqual(expected);
    expect(
      fileLog({ path: "/dev/stdout", encoding: "JSON", format: fields as never }).log_format.json_format
        ?.fields,
    ).toEqual(expected);
    const istio = fileLog({ path: "/dev/stdout", encoding: "JSON" }).log_format.json_format?.fields ?? {};
    expect(Object.keys(istio).sort()).toEqual(Object.keys(ISTIO_JSON_ACCESS_LOG_FORMAT).sort());
  });

  test("bad options are usage errors that name the problem", () => {
    expect(usageError({ path: " " })).toMatch(/not a file path/);
    expect(usageError({ path: "/x", encoding: "YAML" as never })).toMatch(/not TEXT or JSON/);
    expect(usageError({ path: "/x", format: { a: "%DURATION%" } })).toMatch(
      /TEXT access log format is one format string/,
    );
    expect(usageError({ path: "/x", encoding: "JSON", format: "{nope" })).toMatch(/is not JSON/);
    expect(usageError({ path: "/x", encoding: "JSON", format: '{"a":1}' })).toMatch(/field a is 1/);
    expect(usageError({ path: "/x", encoding: "JSON", format: "[]" })).toMatch(/must be a JSON object/);
  });
});

describe("access logs in generated sidecar resources", () => {
  type Filter = { name: string; typed_config: { access_log?: { name: string }[] } & Record<string, unknown> };
  type Chain = { name?: string; filters: Filter[] };
  type Listener = { filter_chains: Chain[]; default_filter_chain?: Chain };
  const listeners = (ctx: PushContext, proxy = sidecar) =>
    [...generateProxyConfig(ctx, proxy).lds.values()].map(
      (r) => [r.name, decodeAnyDeep(r.any) as unknown as Listener] as const,
    );
  const loggedFilters = (ctx: PushContext) =>
    listeners(ctx).flatMap(([name, l]) =>
      [...l.filter_chains, ...(l.default_filter_chain ? [l.default_filter_chain] : [])].flatMap((c) =>
        c.filters.map((f) => `${name}/${c.name ?? ""}/${f.name}:${f.typed_config.access_log?.length ?? 0}`),
      ),
    );

  test("every HTTP connection manager and tcp_proxy (passthrough chains too) logs; nothing by default", () => {
    const ctx = new PushContext(model, "v1", undefined, {
      accessLog: { path: "/dev/stdout", encoding: "JSON" },
    });
    expect(loggedFilters(ctx).sort()).toEqual(
      [
        "0.0.0.0_80//envoy.filters.network.http_connection_manager:1",
        "0.0.0.0_80/PassthroughFilterChain/envoy.filters.network.tcp_proxy:1",
        "0.0.0.0_5432//envoy.filters.network.tcp_proxy:1",
        "virtualInbound/0.0.0.0_8080/envoy.filters.network.http_connection_manager:1",
        "virtualInbound/0.0.0.0_5432/envoy.filters.network.tcp_proxy:1",
        "virtualInbound/virtualInbound-blackhole/envoy.filters.network.tcp_proxy:1",
        "virtualInbound/virtualInbound-catchall-http/envoy.filters.network.http_connection_manager:1",
        "virtualInbound/virtualInbound/envoy.filters.network.tcp_proxy:1",
        "virtualInbound/virtualInbound/envoy.filters.network.tcp_proxy:1",
        "virtualOutbound/virtualOutbound-blackhole/envoy.filters.network.tcp_proxy:1",
        "virtualOutbound/virtualOutbound-catchall-tcp/envoy.filters.network.tcp_proxy:1",
      ].sort(),
    );
    expect(loggedFilters(new PushContext(model, "v1")).every((f) => f.endsWith(":0"))).toBe(true);
  });

  test("proxyless gRPC listeners never get one", () => {
    const ctx = new PushContext(model, "v1", undefined, { accessLog: { path: "/dev/stdout" } });
    const api = listeners(ctx, grpc).map(
      ([, l]) =>
        (l as unknown as { api_listener: { api_listener: Record<string, unknown> } }).api_listener
          .api_listener,
    );
    expect(api.length).toBeGreaterThan(0);
    for (const hcm of api) expect(hcm.access_log).toBeUndefined();
  });
});
