import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { describe, expect, test } from "vitest";
import { loadEnvoyProtos } from "../test/envoy-protos.js";
import { localPeerMetadataHeader, localWorkload, localWorkloadFromBootstrap } from "./local-workload.js";
import {
  buildTstatsModuleFilter,
  buildTstatsModuleNetworkFilter,
  buildTstatsWasmFilter,
  DYNAMIC_MODULE_BOOTSTRAP_EXTENSION_TYPE_URL,
  DYNAMIC_MODULE_FILTER_TYPE_URL,
  DYNAMIC_MODULE_NETWORK_FILTER_TYPE_URL,
  envoyModuleProtoRoot,
  nodeHasTstatsTcp,
  TSTATS_TCP_NODE_METADATA_KEY,
  tstatsBootstrapExtension,
  tstatsModuleFiles,
  tstatsModuleFiltersForNode,
  tstatsObjDir,
  WASM_FILTER_TYPE_URL,
} from "./module-filter.js";
import { decodePeerMetadataHeader } from "./peer-metadata.js";

const envoy = loadEnvoyProtos(["envoy/extensions/filters/http/wasm/v3/wasm.proto"]);
const StringValue = new protobuf.Root()
  .addJSON(protobuf.common.get("google/protobuf/wrappers.proto")!.nested!)
  .lookupType("google.protobuf.StringValue");

const NODE_ID = "sidecar~10.0.0.7~web-1.demo~demo.svc.cluster.local";
const local = localWorkload({
  nodeId: NODE_ID,
  instanceName: "web-1",
  namespace: "demo",
  workloadName: "web",
  app: "web",
  version: "v2",
  clusterId: "Kubernetes",
});

/** The text a StringValue Any carries. */
function stringValueText(any: { type_url?: string; value?: Uint8Array }): string {
  expect(any.type_url).toBe("type.googleapis.com/google.protobuf.StringValue");
  return (StringValue.toObject(StringValue.decode(any.value!)) as { value: string }).value;
}

/** The module's config text as a map, checking the format of native/src/tstats_core.h. */
function configLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n").filter(Boolean)) {
    const eq = line.indexOf("=");
    expect(eq, line).toBeGreaterThan(0);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  expect(Object.keys(out).sort()).toEqual(["id", "metadata", "reporter"]);
  return out;
}

describe("the native module filter (DynamicModuleFilter)", () => {
  test("loads libtstats.so by absolute path, never unloads it, names its metrics istio.*", () => {
    const filter = buildTstatsModuleFilter({ local, direction: "inbound", path: "/opt/mesh/libtstats.so" });
    expect(filter.name).toBe("tstats");
    expect(filter.typed_config.type_url).toBe(DYNAMIC_MODULE_FILTER_TYPE_URL);
    const type = envoyModuleProtoRoot().lookupType(
      "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
    );
    const decoded = type.toObject(type.decode(filter.typed_config.value)) as {
      dynamic_module_config: Record<string, unknown>;
      filter_name: string;
      filter_config: { type_url: string; value: Uint8Array };
    };
    expect(decoded.dynamic_module_config).toEqual({
      name: "tstats",
      do_not_close: true,
      metrics_namespace: "istio",
      module: { local: { filename: "/opt/mesh/libtstats.so" } },
    });
    expect(decoded.filter_name).toBe("tstats");
    const config = configLines(stringValueText(decoded.filter_config));
    expect(config.reporter).toBe("destination");
    expect(config.id).toBe(NODE_ID);
    // Byte-compatible with the TS encoder (the gRPC interceptors send the same header).
    expect(config.metadata).toBe(localPeerMetadataHeader(local));
    expect(decodePeerMetadataHeader(config.metadata!)).toMatchObject({
      namespace: "demo",
      workloadName: "web",
      app: "web",
      version: "v2",
      clusterId: "Kubernetes",
    });
  });

  test("the wire bytes start with field 1 (dynamic_module_config), then 2 (filter_name), then 3", () => {
    const bytes = buildTstatsModuleFilter({ local, direction: "outbound", path: "/m/libtstats.so" })
      .typed_config.value;
    const reader = protobuf.Reader.create(bytes);
    const fields: number[] = [];
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      fields.push(tag >>> 3);
      reader.skipType(tag & 7);
    }
    expect(fields).toEqual([1, 2, 3]);
  });

  test("outbound reports as source; the default path is the package's obj/libtstats.so", () => {
    const filter = buildTstatsModuleFilter({ local, direction: "outbound" });
    const type = envoyModuleProtoRoot().lookupType(
      "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
    );
    const decoded = type.toObject(type.decode(filter.typed_config.value)) as {
      dynamic_module_config: { module: { local: { filename: string } } };
      filter_config: { type_url: string; value: Uint8Array };
    };
    expect(configLines(stringValueText(decoded.filter_config)).reporter).toBe("source");
    expect(decoded.dynamic_module_config.module.local.filename).toBe(tstatsModuleFiles().native.path);
  });

  test("a relative module path is a usage error (Envoy resolves it against its own cwd)", () => {
    expect(() => buildTstatsModuleFilter({ local, direction: "inbound", path: "obj/libtstats.so" })).toThrow(
      expect.objectContaining({ code: "TSTATS_CONFIG_INVALID", kind: "usage" }),
    );
  });
});

describe("the Wasm module filter", () => {
  test("decodes with Envoy's own wasm.proto: V8, vm_id/root_id tstats, code from the file", () => {
    const filter = buildTstatsWasmFilter({ local, direction: "outbound", path: "/opt/mesh/tstats.wasm" });
    expect(filter.name).toBe("tstats.wasm");
    expect(filter.typed_config.type_url).toBe(WASM_FILTER_TYPE_URL);
    const Wasm = envoy.lookupType("envoy.extensions.filters.http.wasm.v3.Wasm");
    const decoded = Wasm.toObject(Wasm.decode(filter.typed_config.value)) as {
      config: {
        name: string;
        root_id: string;
        vm_config: { vm_id: string; runtime: string; code: { local: { filename: string } } };
        configuration: { type_url: string; value: Uint8Array };
      };
    };
    expect(decoded.config).toMatchObject({
      name: "tstats",
      root_id: "tstats",
      vm_config: {
        vm_id: "tstats",
        runtime: "envoy.wasm.runtime.v8",
        code: { local: { filename: "/opt/mesh/tstats.wasm" } },
      },
    });
    const config = configLines(stringValueText(decoded.config.configuration));
    expect(config).toEqual({ reporter: "source", id: NODE_ID, metadata: localPeerMetadataHeader(local) });
  });
});

describe("filters per proxy, from its xDS Node", () => {
  const node = {
    id: NODE_ID,
    cluster: "web.demo",
    metadata: {
      NAMESPACE: "demo",
      NAME: "web-1",
      WORKLOAD_NAME: "web",
      LABELS: { app: "web", version: "v2" },
    },
  };

  test("the identity is the one localWorkloadFromBootstrap reads; same node, same bytes", () => {
    const a = tstatsModuleFiltersForNode("native", node, { path: "/m/libtstats.so" });
    const b = tstatsModuleFiltersForNode("native", structuredClone(node), { path: "/m/libtstats.so" });
    expect(a).toEqual(b);
    expect(a.http.inbound[0]).toEqual(
      buildTstatsModuleFilter({
        local: localWorkloadFromBootstrap({ node }),
        direction: "inbound",
        path: "/m/libtstats.so",
      }),
    );
    const other = tstatsModuleFiltersForNode(
      "native",
      { ...node, id: "sidecar~10.0.0.8~web-2.demo~demo.svc.cluster.local" },
      { path: "/m/libtstats.so" },
    );
    expect(Buffer.from(other.http.inbound[0]!.typed_config.value)).not.toEqual(
      Buffer.from(a.http.inbound[0]!.typed_config.value),
    );
    const wasm = tstatsModuleFiltersForNode("wasm", node);
    expect(wasm.http.outbound[0]?.typed_config.type_url).toBe(WASM_FILTER_TYPE_URL);
  });

  test("only a native proxy whose Node has MESHCTL_TSTATS_TCP=true also gets the TCP network filter", () => {
    const path = { path: "/m/libtstats.so" };
    expect(tstatsModuleFiltersForNode("native", node, path).network).toBeUndefined();
    for (const value of ["false", true, "1", ""])
      expect(
        tstatsModuleFiltersForNode(
          "native",
          { ...node, metadata: { ...node.metadata, [TSTATS_TCP_NODE_METADATA_KEY]: value } },
          path,
        ).network,
        String(value),
      ).toBeUndefined();
    const tcpNode = { ...node, metadata: { ...node.metadata, MESHCTL_TSTATS_TCP: "true" } };
    expect(nodeHasTstatsTcp(tcpNode)).toBe(true);
    expect(nodeHasTstatsTcp(node)).toBe(false);
    const withTcp = tstatsModuleFiltersForNode("native", tcpNode, path);
    const local = localWorkloadFromBootstrap({ node: tcpNode });
    expect(withTcp.http.inbound[0]?.typed_config.type_url).toBe(DYNAMIC_MODULE_FILTER_TYPE_URL);
    expect(withTcp.network).toEqual({
      inbound: [buildTstatsModuleNetworkFilter({ local, direction: "inbound", ...path })],
      outbound: [buildTstatsModuleNetworkFilter({ local, direction: "outbound", ...path })],
    });
    // The Wasm build has no TCP filter, flag or not.
    expect(tstatsModuleFiltersForNode("wasm", tcpNode).network).toBeUndefined();
  });
});

describe("the native module network filter (DynamicModuleNetworkFilter) and bootstrap extension", () => {
  test("the same module, options and text as the HTTP filter; reporter per direction", () => {
    const type = envoyModuleProtoRoot().lookupType(
      "envoy.extensions.filters.network.dynamic_modules.v3.DynamicModuleNetworkFilter",
    );
    for (const [direction, reporter] of [
      ["inbound", "destination"],
      ["outbound", "source"],
    ] as const) {
      const filter = buildTstatsModuleNetworkFilter({ local, direction, path: "/opt/m/libtstats.so" });
      expect(filter.name).toBe("tstats");
      expect(filter.typed_config.type_url).toBe(DYNAMIC_MODULE_NETWORK_FILTER_TYPE_URL);
      const decoded = type.toObject(type.decode(filter.typed_config.value)) as {
        dynamic_module_config: Record<string, unknown>;
        filter_name: string;
        filter_config: { type_url: string; value: Uint8Array };
      };
      expect(decoded.dynamic_module_config).toEqual({
        name: "tstats",
        do_not_close: true,
        metrics_namespace: "istio",
        module: { local: { filename: "/opt/m/libtstats.so" } },
      });
      expect(decoded.filter_name).toBe("tstats");
      const http = buildTstatsModuleFilter({ local, direction, path: "/opt/m/libtstats.so" });
      // Same field numbers as DynamicModuleFilter, so the same bytes.
      expect(Buffer.from(filter.typed_config.value)).toEqual(Buffer.from(http.typed_config.value));
      expect(stringValueText(decoded.filter_config)).toContain(`reporter=${reporter}\n`);
    }
    expect(() => buildTstatsModuleNetworkFilter({ local, direction: "inbound", path: "m.so" })).toThrow(
      /absolute/,
    );
  });

  test("the bootstrap extension loads the same file by absolute path", () => {
    expect(tstatsBootstrapExtension("/opt/m/libtstats.so")).toEqual({
      name: "envoy.bootstrap.dynamic_modules",
      typed_config: {
        "@type": DYNAMIC_MODULE_BOOTSTRAP_EXTENSION_TYPE_URL,
        dynamic_module_config: {
          name: "tstats",
          do_not_close: true,
          metrics_namespace: "istio",
          module: { local: { filename: "/opt/m/libtstats.so" } },
        },
        extension_name: "tstats",
      },
    });
    expect(() => tstatsBootstrapExtension("libtstats.so")).toThrow(/absolute/);
  });
});

describe("the module files", () => {
  test("live in the package's obj/ (resolved from src here, from dist when built)", () => {
    const pkgObj = fileURLToPath(new URL("../obj", import.meta.url));
    expect(tstatsObjDir()).toBe(pkgObj);
    const files = tstatsModuleFiles();
    expect(files.native).toEqual({
      kind: "native",
      path: `${pkgObj}/libtstats.so`,
      exists: existsSync(`${pkgObj}/libtstats.so`),
    });
    expect(files.wasm.path).toBe(`${pkgObj}/tstats.wasm`);
  });
});
