import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  loadLocalWorkloadFromBootstrap,
  localWorkload,
  localWorkloadFromBootstrap,
} from "./local-workload.js";
import { decodePeerMetadataHeader } from "./peer-metadata.js";
import { TstatsRecorder } from "./recorder.js";

// The node section of an Istio proxyless gRPC bootstrap (GRPC_XDS_BOOTSTRAP).
const bootstrap = {
  xds_servers: [
    {
      server_uri: "localhost:15010",
      channel_creds: [{ type: "insecure" }],
      server_features: ["xds_v3", "ignore_resource_deletion"],
    },
  ],
  node: {
    id: "sidecar~10.244.0.7~echo-v1-6d5f9-xk2p.default~default.svc.cluster.local",
    cluster: "echo.default",
    metadata: {
      NAMESPACE: "default",
      WORKLOAD_NAME: "echo-v1",
      CLUSTER_ID: "Kubernetes",
      ISTIO_VERSION: "1.24.0",
      LABELS: { app: "echo", version: "v1", "service.istio.io/canonical-name": "echo-svc" },
      INSTANCE_IPS: "10.244.0.7",
    },
    locality: { region: "eu-west", zone: "eu-west-1a" },
  },
};

describe("local workload", () => {
  test("reads Istio's node metadata from an xDS bootstrap", () => {
    const local = localWorkloadFromBootstrap(bootstrap);
    expect(local).toMatchObject({
      nodeId: bootstrap.node.id,
      instanceName: "echo-v1-6d5f9-xk2p",
      namespace: "default",
      workloadName: "echo-v1",
      clusterId: "Kubernetes",
      app: "echo",
      version: "v1",
      canonicalService: "echo-svc",
      // Injector default: the version label.
      canonicalRevision: "v1",
      region: "eu-west",
      zone: "eu-west-1a",
      istioVersion: "1.24.0",
    });
    // ...and sends exactly that to peers.
    const sent = decodePeerMetadataHeader(new TstatsRecorder({ local }).localMetadataHeader);
    expect(sent).toMatchObject({ workloadName: "echo-v1", canonicalService: "echo-svc", region: "eu-west" });
  });

  test("reads meshctl's own proxyless bootstrap (`meshctl xds bootstrap --kind grpc`)", () => {
    // The shape packages/xds renderBootstrap() writes: NAME, NAMESPACE, INSTANCE_IPS, LABELS; no WORKLOAD_NAME.
    const local = localWorkloadFromBootstrap({
      xds_servers: [
        {
          server_uri: "127.0.0.1:15010",
          channel_creds: [{ type: "insecure" }],
          server_features: ["xds_v3", "ignore_resource_deletion"],
        },
      ],
      node: {
        id: "grpc~10.0.0.4~client-1.demo~demo.svc.cluster.local",
        cluster: "client-1.demo",
        locality: {},
        metadata: {
          NAMESPACE: "demo",
          NAME: "client-1",
          INSTANCE_IPS: "10.0.0.4",
          GENERATOR: "grpc",
          LABELS: { app: "client" },
        },
      },
    });
    expect(local).toMatchObject({
      nodeId: "grpc~10.0.0.4~client-1.demo~demo.svc.cluster.local",
      instanceName: "client-1",
      namespace: "demo",
      workloadName: "client-1",
      app: "client",
      canonicalService: "client",
      canonicalRevision: "latest",
    });
  });

  test("fills canonical labels like Istio's injector", () => {
    expect(localWorkload({ workloadName: "w" })).toMatchObject({
      canonicalService: "w",
      canonicalRevision: "latest",
    });
    expect(localWorkload({ workloadName: "w", app: "a", version: "v9" })).toMatchObject({
      canonicalService: "a",
      canonicalRevision: "v9",
    });
  });

  test("a bootstrap without node is a usage error; the file loader reports paths", async () => {
    expect(() => localWorkloadFromBootstrap({})).toThrow(
      expect.objectContaining({ code: "TSTATS_BOOTSTRAP_INVALID" }),
    );
    const dir = await mkdtemp(join(tmpdir(), "mct-tstats-boot-"));
    try {
      const good = join(dir, "bootstrap.json");
      await writeFile(good, JSON.stringify(bootstrap));
      expect((await loadLocalWorkloadFromBootstrap(good)).workloadName).toBe("echo-v1");
      const bad = join(dir, "bad.json");
      await writeFile(bad, "{not json");
      await expect(loadLocalWorkloadFromBootstrap(bad)).rejects.toMatchObject({
        code: "TSTATS_BOOTSTRAP_INVALID",
      });
      await expect(loadLocalWorkloadFromBootstrap(join(dir, "missing.json"))).rejects.toMatchObject({
        code: "TSTATS_BOOTSTRAP_MISSING",
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
