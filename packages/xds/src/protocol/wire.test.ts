import { describe, expect, test } from "vitest";
import { decodeMessage, packAny, TYPE_URLS } from "./protos.js";
import { deltaResponseBytes, sotwResponseBytes } from "./wire.js";

const cla = packAny("envoy.config.endpoint.v3.ClusterLoadAssignment", {
  cluster_name: "outbound|80||a.demo.svc.cluster.local",
  endpoints: [
    {
      lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } } }],
    },
  ],
});

describe("hand-assembled discovery responses", () => {
  test("a SotW response decodes with the real proto as the same message", () => {
    const bytes = sotwResponseBytes({
      versionInfo: "v7",
      typeUrl: TYPE_URLS.eds,
      nonce: "42",
      resources: [cla, cla],
    });
    const decoded = decodeMessage("envoy.service.discovery.v3.DiscoveryResponse", bytes);
    expect(decoded).toMatchObject({
      version_info: "v7",
      type_url: TYPE_URLS.eds,
      nonce: "42",
      control_plane: { identifier: "meshctl" },
    });
    const resources = decoded.resources as { type_url: string; value: string }[];
    expect(resources).toHaveLength(2);
    expect(resources[0]?.type_url).toBe(cla.type_url);
    expect(Buffer.from(resources[0]?.value ?? "", "base64")).toEqual(Buffer.from(cla.value));
  });

  test("a Delta response with resources and removals decodes likewise", () => {
    const bytes = deltaResponseBytes({
      systemVersionInfo: "v8",
      typeUrl: TYPE_URLS.eds,
      nonce: "9",
      resources: [{ name: "outbound|80||a.demo.svc.cluster.local", version: "abc", any: cla }],
      removed: ["gone-1", "gone-2"],
    });
    const decoded = decodeMessage("envoy.service.discovery.v3.DeltaDiscoveryResponse", bytes);
    expect(decoded).toMatchObject({
      system_version_info: "v8",
      type_url: TYPE_URLS.eds,
      nonce: "9",
      removed_resources: ["gone-1", "gone-2"],
      control_plane: { identifier: "meshctl" },
      resources: [{ name: "outbound|80||a.demo.svc.cluster.local", version: "abc" }],
    });
  });
});
