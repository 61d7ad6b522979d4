/**
 * DiscoveryResponse and DeltaDiscoveryResponse bytes assembled from resources that are already
 * encoded. Every resource's Any is framed once (cached per encoded resource) and reused in every
 * response that carries it, so pushing one ClusterLoadAssignment to 2,000 proxies encodes the
 * protobuf envelope 2,000 times but the resource only once. Field numbers are those of
 * envoy/service/discovery/v3/discovery.proto; `wire.test.ts` checks the bytes against protobufjs.
 */

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2). */
function field(no: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((no << 3) | 2), varint(payload.length), payload]);
}

function stringField(no: number, text: string): Buffer {
  return text === "" ? Buffer.alloc(0) : field(no, Buffer.from(text, "utf8"));
}

export interface WireAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

const anyBytes = new WeakMap<WireAny, Buffer>();
const sotwFields = new WeakMap<WireAny, Buffer>();
const deltaFields = new WeakMap<WireAny, Buffer>();

/** google.protobuf.Any bytes of an encoded resource, computed once per resource. */
function encodedAny(any: WireAny): Buffer {
  let b = anyBytes.get(any);
  if (!b) {
    b = Buffer.concat([
      stringField(1, any.type_url),
      field(2, Buffer.from(any.value.buffer, any.value.byteOffset, any.value.byteLength)),
    ]);
    anyBytes.set(any, b);
  }
  return b;
}

const CONTROL_PLANE = (no: number) => field(no, stringField(1, "meshctl"));
const SOTW_CONTROL_PLANE = CONTROL_PLANE(6);
const DELTA_CONTROL_PLANE = CONTROL_PLANE(7);

/**
 * envoy.service.discovery.v3.DiscoveryResponse.
 *
 * @example
 * const bytes = sotwResponseBytes({ versionInfo: "v1", typeUrl, nonce: "1", resources: [encoded.any] });
 */
export function sotwResponseBytes(r: {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly WireAny[];
}): Buffer {
  const parts: Buffer[] = [stringField(1, r.versionInfo)];
  for (const any of r.resources) {
    let f = sotwFields.get(any);
    if (!f) {
      f = field(2, encodedAny(any));
      sotwFields.set(any, f);
    }
    parts.push(f);
  }
  parts.push(stringField(4, r.typeUrl), stringField(5, r.nonce), SOTW_CONTROL_PLANE);
  return Buffer.concat(parts);
}

/**
 * envoy.service.discovery.v3.DeltaDiscoveryResponse.
 *
 * @example
 * const bytes = deltaResponseBytes({ systemVersionInfo: "v1", typeUrl, nonce: "1", resources: [{ name, version, any }], removed: [] });
 */
export function deltaResponseBytes(r: {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly { readonly name: string; readonly version: string; readonly any: WireAny }[];
  removed: readonly string[];
}): Buffer {
  const parts: Buffer[] = [stringField(1, r.systemVersionInfo)];
  for (const res of r.resources) {
    // Name and version are fixed for an encoded resource: its framed Resource is cached with it.
    let f = deltaFields.get(res.any);
    if (!f) {
      f = field(
        2,
        Buffer.concat([stringField(1, res.version), field(2, encodedAny(res.any)), stringField(3, res.name)]),
      );
      deltaFields.set(res.any, f);
    }
    parts.push(f);
  }
  parts.push(stringField(4, r.typeUrl), stringField(5, r.nonce));
  for (const name of r.removed) parts.push(field(6, Buffer.from(name, "utf8")));
  parts.push(DELTA_CONTROL_PLANE);
  return Buffer.concat(parts);
}
