import protobuf from "protobufjs";
import { describe, expect, test } from "vitest";
import { decodeStruct, encodeStruct } from "./protobuf-struct.js";

// protobufjs's bundled google/protobuf/struct.proto: an independent implementation of the format.
const root = protobuf.Root.fromJSON(protobuf.common.get("google/protobuf/struct.proto")!);
const StructType = root.lookupType("google.protobuf.Struct");

function toProtobufJsStruct(value: Record<string, unknown>): Uint8Array {
  // protobufjs writes map entries in insertion order; sorted insertion = deterministic order.
  const wrap = (v: unknown): unknown => {
    if (v === null) return { nullValue: 0 };
    if (typeof v === "number") return { numberValue: v };
    if (typeof v === "string") return { stringValue: v };
    if (typeof v === "boolean") return { boolValue: v };
    if (Array.isArray(v)) return { listValue: { values: v.map(wrap) } };
    return { structValue: { fields: fieldsOf(v as Record<string, unknown>) } };
  };
  const fieldsOf = (o: Record<string, unknown>) =>
    Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, wrap(o[k])]),
    );
  return StructType.encode(StructType.fromObject({ fields: fieldsOf(value) })).finish();
}

describe("google.protobuf.Struct codec", () => {
  const sample = {
    WORKLOAD_NAME: "echo-v1",
    NAMESPACE: "default",
    LABELS: { app: "echo", "service.istio.io/canonical-revision": "v1" },
    PORT: 8080,
    ENABLED: true,
    NOTHING: null,
    LIST: ["a", 1.5, { nested: "yes" }],
    UNICODE: "naïve ☃",
  };

  test("encodes byte-for-byte like protobufjs with sorted keys (deterministic serialization)", () => {
    expect(Buffer.from(encodeStruct(sample)).toString("hex")).toBe(
      Buffer.from(toProtobufJsStruct(sample)).toString("hex"),
    );
  });

  test("key order of the input does not change the bytes", () => {
    const reversed = Object.fromEntries(Object.entries(sample).reverse());
    expect(encodeStruct(reversed).equals(encodeStruct(sample))).toBe(true);
  });

  test("decodes what protobufjs encodes", () => {
    expect(decodeStruct(toProtobufJsStruct(sample))).toEqual(sample);
  });

  test("round-trips", () => {
    expect(decodeStruct(encodeStruct(sample))).toEqual(sample);
  });

  test("rejects truncated input with a stable code", () => {
    const bytes = encodeStruct(sample);
    expect(() => decodeStruct(bytes.subarray(0, bytes.length - 3))).toThrow(
      expect.objectContaining({ code: "TSTATS_METADATA_INVALID" }),
    );
  });
});
