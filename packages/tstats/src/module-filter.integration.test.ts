/**
 * The module filters against the installed stock Envoy 1.40:
 * - the proto subsets in proto/envoy match the descriptors compiled into the binary;
 * - a bootstrap carrying the dynamic-module filter and the Wasm filter, encoded byte for byte as
 *   the builders produce them (binary .pb, so nothing is re-encoded through JSON), passes
 *   `envoy --mode validate`, which loads both modules (built here by native/build.sh through
 *   buildTstatsModules) and has each parse its configuration text.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, runCommand } from "@meshctl/core";
import { requirementGate } from "@meshctl/core/testing";
import protobuf from "protobufjs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { envoyBinaryMessages } from "../test/envoy-descriptors.js";
import { loadEnvoyProtos } from "../test/envoy-protos.js";
import type { EncodedEnvoyFilter } from "./envoy-config.js";
import { tstatsEnvoyStatsConfig } from "./envoy-module.js";
import { localWorkload } from "./local-workload.js";
import { buildTstatsModules, type TstatsBuildResult } from "./module-build.js";
import {
  buildTstatsModuleFilter,
  buildTstatsWasmFilter,
  DYNAMIC_MODULE_FILTER_TYPE_URL,
  envoyModuleProtoRoot,
} from "./module-filter.js";

const envoyPath = await findProgram("envoy");
const clangPath = await findProgram("clang");
const gate = requirementGate(
  "envoy",
  !envoyPath
    ? "no `envoy` binary on PATH (bash scripts/install-envoy.sh)"
    : !clangPath
      ? "no clang to build the module (apt-get install clang)"
      : undefined,
  "tstats module filters in Envoy",
);

const envoy = loadEnvoyProtos([
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
]);
const any = (typeName: string, value: Record<string, unknown>) => {
  const type = envoy.lookupType(typeName);
  return { type_url: `type.googleapis.com/${typeName}`, value: type.encode(type.fromObject(value)).finish() };
};

const local = localWorkload({
  nodeId: "sidecar~127.0.0.1~web-1.demo~demo.svc.cluster.local",
  instanceName: "web-1",
  namespace: "demo",
  workloadName: "web",
  app: "web",
});

/** A static listener: HCM with `filter` before the router, answering 200 itself. */
function listener(name: string, port: number, filter: EncodedEnvoyFilter) {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: any(
              "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              {
                stat_prefix: name,
                route_config: {
                  virtual_hosts: [
                    {
                      name: "all",
                      domains: ["*"],
                      routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }],
                    },
                  ],
                },
                http_filters: [
                  filter,
                  {
                    name: "envoy.filters.http.router",
                    typed_config: any("envoy.extensions.filters.http.router.v3.Router", {}),
                  },
                ],
              },
            ),
          },
        ],
      },
    ],
  };
}

describe.skipIf(gate.skip)("the module filters in a real Envoy", () => {
  let dir = "";
  let built: TstatsBuildResult | undefined;

  beforeAll(async () => {
    if (gate.missing) throw new Error(gate.missing);
    dir = await mkdtemp(join(tmpdir(), "mct-tstats-validate-"));
    built = await buildTstatsModules({ outDir: join(dir, "obj"), target: "all" });
  }, 240_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function validate(filters: readonly EncodedEnvoyFilter[], statsConfig = true) {
    const Bootstrap = envoy.lookupType("envoy.config.bootstrap.v3.Bootstrap");
    const bootstrap = {
      node: { id: local.nodeId, cluster: "web.demo" },
      ...(statsConfig ? { stats_config: tstatsEnvoyStatsConfig() } : {}),
      // Validation binds nothing: the ports only have to be distinct.
      static_resources: { listeners: filters.map((f, i) => listener(`l${i}`, 18_000 + i, f)) },
    };
    const file = join(dir, `bootstrap-${Math.random().toString(36).slice(2)}.pb`);
    await writeFile(file, Bootstrap.encode(Bootstrap.fromObject(bootstrap)).finish());
    const result = await runCommand(
      envoyPath!,
      ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"],
      { reject: false, timeoutMs: 60_000 },
    );
    return { ok: result.exitCode === 0, output: `${result.stdout}\n${result.stderr}` };
  }

  test("the build produced both modules, with sizes and digests", () => {
    expect(built?.files.map((f) => f.kind)).toEqual(["native", "wasm"]);
    for (const f of built?.files ?? []) {
      expect(f.bytes).toBeGreaterThan(1000);
      expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  test("proto/envoy subsets: every field has the binary's number and type", async () => {
    const binary = await envoyBinaryMessages(envoyPath!, [
      "envoy/config/core/v3/base.proto",
      "envoy/extensions/dynamic_modules/v3/dynamic_modules.proto",
      "envoy/extensions/filters/http/dynamic_modules/v3/dynamic_modules.proto",
      "envoy/extensions/filters/network/dynamic_modules/v3/dynamic_modules.proto",
      "envoy/extensions/wasm/v3/wasm.proto",
      "envoy/extensions/filters/http/wasm/v3/wasm.proto",
    ]);
    const ours = envoyModuleProtoRoot().lookup("envoy") as protobuf.Namespace;
    const checked: string[] = [];
    const visit = (ns: protobuf.NamespaceBase) => {
      for (const nested of ns.nestedArray) {
        if (nested instanceof protobuf.Type) {
          const name = nested.fullName.slice(1);
          const fields = binary.get(name);
          expect(fields, `${name} is in Envoy`).toBeDefined();
          for (const f of nested.fieldsArray) {
            f.resolve();
            const type = f.resolvedType ? f.resolvedType.fullName.slice(1) : f.type;
            expect(
              fields?.find((b) => b.name === f.name),
              `${name}.${f.name}`,
            ).toEqual({
              name: f.name,
              number: f.id,
              type,
              repeated: f.repeated,
            });
            checked.push(`${name}.${f.name}`);
          }
        }
        if (nested instanceof protobuf.Namespace) visit(nested);
      }
    };
    visit(ours);
    expect(checked).toContain("envoy.extensions.dynamic_modules.v3.DynamicModuleConfig.module");
    expect(checked).toContain(
      "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter.filter_config",
    );
    for (const field of ["dynamic_module_config", "filter_name", "filter_config", "terminal_filter"])
      expect(checked).toContain(
        `envoy.extensions.filters.network.dynamic_modules.v3.DynamicModuleNetworkFilter.${field}`,
      );
  });

  test("a bootstrap with the native module and the Wasm filter (and Istio's buckets) validates", {
    timeout: 60_000,
  }, async () => {
    const [native, wasm] = built!.files;
    const { ok, output } = await validate([
      buildTstatsModuleFilter({ local, direction: "inbound", path: native!.path }),
      buildTstatsWasmFilter({ local, direction: "outbound", path: wasm!.path }),
    ]);
    expect(ok, output).toBe(true);
    expect(output).toMatch(/OK/);
  });

  test("negative controls: validation loads the module and has it parse the text", {
    timeout: 60_000,
  }, async () => {
    const missing = await validate([
      buildTstatsModuleFilter({ local, direction: "inbound", path: join(dir, "nope", "libtstats.so") }),
    ]);
    expect(missing.ok).toBe(false);
    expect(missing.output).toMatch(/Failed to load dynamic module/);
    // The same filter with a configuration the module refuses (reporter must be source|destination).
    const type = envoyModuleProtoRoot().lookupType(
      "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
    );
    const good = buildTstatsModuleFilter({ local, direction: "inbound", path: built!.files[0]!.path });
    const decoded = type.toObject(type.decode(good.typed_config.value)) as Record<string, unknown>;
    const wrappers = new protobuf.Root().addJSON(
      protobuf.common.get("google/protobuf/wrappers.proto")!.nested!,
    );
    const StringValue = wrappers.lookupType("google.protobuf.StringValue");
    const bad = {
      ...good,
      typed_config: {
        type_url: DYNAMIC_MODULE_FILTER_TYPE_URL,
        value: type
          .encode(
            type.fromObject({
              ...decoded,
              filter_config: {
                type_url: "type.googleapis.com/google.protobuf.StringValue",
                value: StringValue.encode({ value: "reporter=waypoint" }).finish(),
              },
            }),
          )
          .finish(),
      },
    };
    const refused = await validate([bad]);
    expect(refused.ok).toBe(false);
    expect(refused.output).toMatch(/Failed to initialize dynamic module/);
  });
});
