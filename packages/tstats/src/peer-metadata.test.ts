import { describe, expect, test } from "vitest";
import {
  decodeBaggagePeerMetadata,
  decodeMetadataExchangeFrame,
  decodePeerMetadataHeader,
  encodeMetadataExchangeFrame,
  encodePeerMetadataHeader,
  workloadMetadata,
} from "./peer-metadata.js";
import { decodeStruct } from "./protobuf-struct.js";

// Test vector written by hand from the documented encoding (reference B7): a Struct with
// LABELS{app: "echo"} and NAMESPACE "default", fields sorted by key.
//   0a 1b  entry { 0a 06 "LABELS"  12 11 Value{ 2a 0f Struct{ 0a 0d entry{ 0a 03 "app" 12 06 Value{ 1a 04 "echo" } } } } }
//   0a 16  entry { 0a 09 "NAMESPACE" 12 09 Value{ 1a 07 "default" } }
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const ascii = (s: string) => Buffer.from(s, "ascii").toString("hex");
const VECTOR = hex(
  `0a1b 0a06${ascii("LABELS")} 1211 2a0f 0a0d 0a03${ascii("app")} 1206 1a04${ascii("echo")}` +
    `0a16 0a09${ascii("NAMESPACE")} 1209 1a07${ascii("default")}`,
);

describe("x-envoy-peer-metadata", () => {
  test("encodes exactly the reference vector", () => {
    const header = encodePeerMetadataHeader(workloadMetadata({ namespace: "default", app: "echo" }));
    expect(Buffer.from(header, "base64").toString("hex")).toBe(VECTOR.toString("hex"));
    expect(header).toBe(VECTOR.toString("base64"));
  });

  test("decodes the reference vector, also without base64 padding", () => {
    const padded = VECTOR.toString("base64");
    expect(padded.endsWith("=")).toBe(true);
    for (const value of [padded, padded.replace(/=+$/, "")]) {
      const w = decodePeerMetadataHeader(value);
      expect(w.namespace).toBe("default");
      expect(w.app).toBe("echo");
      expect(w.workloadName).toBe("");
    }
  });

  test("sends only non-empty fields and always LABELS, with Istio's key names", () => {
    const header = encodePeerMetadataHeader(
      workloadMetadata({
        instanceName: "echo-1",
        namespace: "ns1",
        workloadName: "echo-v1",
        clusterId: "c1",
        identity: "spiffe://cluster.local/ns/ns1/sa/echo",
        owner: "kubernetes://apis/apps/v1/namespaces/ns1/deployments/echo-v1",
        region: "r1",
        zone: "z1",
        canonicalService: "echo",
        canonicalRevision: "v1",
        app: "echo",
        version: "v1",
      }),
    );
    expect(decodeStruct(Buffer.from(header, "base64"))).toEqual({
      NAME: "echo-1",
      NAMESPACE: "ns1",
      WORKLOAD_NAME: "echo-v1",
      CLUSTER_ID: "c1",
      IDENTITY: "spiffe://cluster.local/ns/ns1/sa/echo",
      OWNER: "kubernetes://apis/apps/v1/namespaces/ns1/deployments/echo-v1",
      REGION: "r1",
      AVAILABILITY_ZONE: "z1",
      LABELS: {
        "service.istio.io/canonical-name": "echo",
        "service.istio.io/canonical-revision": "v1",
        app: "echo",
        version: "v1",
      },
    });
    expect(decodeStruct(Buffer.from(encodePeerMetadataHeader(workloadMetadata({})), "base64"))).toEqual({
      LABELS: {},
    });
  });

  test("app.kubernetes.io labels win over app/version, like Envoy's decoder", () => {
    const header = encodePeerMetadataHeader(
      workloadMetadata({
        app: "legacy",
        labels: { "app.kubernetes.io/name": "modern", "app.kubernetes.io/version": "2" },
      }),
    );
    const w = decodePeerMetadataHeader(header);
    expect([w.app, w.version]).toEqual(["modern", "2"]);
  });

  test("garbage is rejected with TSTATS_METADATA_INVALID", () => {
    expect(() => decodePeerMetadataHeader(Buffer.from([0x0a, 0x7f, 0x01]).toString("base64"))).toThrow(
      expect.objectContaining({ code: "TSTATS_METADATA_INVALID" }),
    );
  });
});

describe("TCP istio-peer-exchange frame", () => {
  const peer = workloadMetadata({ namespace: "default", app: "echo" });
  const id = "sidecar~10.0.0.1~echo-1.default~default.svc.cluster.local";

  test("has the reference layout: BE magic 0x3D230467, BE size, Any(Struct{x-envoy-peer-metadata, -id})", () => {
    const frame = encodeMetadataExchangeFrame(peer, id);
    expect(frame.subarray(0, 4).toString("hex")).toBe("3d230467");
    expect(frame.readUInt32BE(4)).toBe(frame.length - 8);
    // Any: 0a <len> type_url, 12 <len> value
    const any = frame.subarray(8);
    const typeUrl = "type.googleapis.com/google.protobuf.Struct";
    expect(any[0]).toBe(0x0a);
    expect(any[1]).toBe(typeUrl.length);
    expect(any.subarray(2, 2 + typeUrl.length).toString()).toBe(typeUrl);
    expect(any[2 + typeUrl.length]).toBe(0x12);
    // value length is a varint (two bytes here: the payload is over 127 bytes)
    let pos = 3 + typeUrl.length;
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = any[pos++]!;
      len |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    expect(pos + len).toBe(any.length);
    const inner = decodeStruct(any.subarray(pos));
    expect(inner).toEqual({
      "x-envoy-peer-metadata": { NAMESPACE: "default", LABELS: { app: "echo" } },
      "x-envoy-peer-metadata-id": id,
    });
  });

  test("decodes incrementally and reports where application bytes start", () => {
    const frame = encodeMetadataExchangeFrame(peer, id);
    const withData = Buffer.concat([frame, Buffer.from("GET / HTTP/1.1\r\n")]);
    expect(decodeMetadataExchangeFrame(withData.subarray(0, 5))).toBeUndefined();
    expect(decodeMetadataExchangeFrame(withData.subarray(0, frame.length - 1))).toBeUndefined();
    const parsed = decodeMetadataExchangeFrame(withData)!;
    expect(parsed.peerId).toBe(id);
    expect(parsed.peer.app).toBe("echo");
    expect(withData.subarray(parsed.frameLength).toString()).toBe("GET / HTTP/1.1\r\n");
  });

  test("a wrong magic is refused like Envoy does", () => {
    const frame = encodeMetadataExchangeFrame(peer, id);
    frame.writeUInt32BE(0xabcd1234, 0);
    expect(() => decodeMetadataExchangeFrame(frame)).toThrow(
      expect.objectContaining({ code: "TSTATS_MX_BAD_MAGIC" }),
    );
  });
});

describe("baggage", () => {
  test("maps Istio's baggage keys", () => {
    const w = decodeBaggagePeerMetadata(
      "k8s.deployment.name=productpage-v1,k8s.namespace.name=bookinfo,service.name=productpage,service.version=v1,k8s.cluster.name=c1,cloud.region=r",
    );
    expect(w).toMatchObject({
      workloadName: "productpage-v1",
      namespace: "bookinfo",
      canonicalService: "productpage",
      canonicalRevision: "v1",
      app: "productpage",
      version: "v1",
      clusterId: "c1",
      region: "r",
      owner: "kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/productpage-v1",
    });
  });

  test("service.name falls back to app.name", () => {
    expect(decodeBaggagePeerMetadata("app.name=reviews,app.version=v2")).toMatchObject({
      canonicalService: "reviews",
      canonicalRevision: "v2",
    });
  });
});
