/**
 * A small, dependency-free codec for `google.protobuf.Struct`, the payload of Istio's metadata
 * exchange. Encoding is deterministic the way protobuf's C++ `SetSerializationDeterministic(true)`
 * is: map entries (Struct fields) are written sorted by key. Decoding accepts any valid encoding.
 * Hand-rolled because the metadata-exchange miss path and the benchmark's decode-every-request
 * baseline both run it per request, and a generic reflection codec would distort both.
 */
import { MeshctlError } from "@meshctl/core";

/** A JSON-like value as `google.protobuf.Value` can carry it. */
export type StructValue = null | number | string | boolean | StructValue[] | StructObject;
export interface StructObject {
  [key: string]: StructValue;
}

class ByteWriter {
  private buf: Buffer = Buffer.allocUnsafe(256);
  private pos = 0;

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(value: number): void {
    this.ensure(10);
    let v = value;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

function encodeValue(value: StructValue): Buffer {
  const w = new ByteWriter();
  if (value === null) {
    w.varint((1 << 3) | 0);
    w.varint(0);
  } else if (typeof value === "number") {
    w.varint((2 << 3) | 1);
    w.double(value);
  } else if (typeof value === "string") {
    w.varint((3 << 3) | 2);
    w.bytes(Buffer.from(value, "utf8"));
  } else if (typeof value === "boolean") {
    w.varint((4 << 3) | 0);
    w.varint(value ? 1 : 0);
  } else if (Array.isArray(value)) {
    const list = new ByteWriter();
    for (const item of value) {
      list.varint((1 << 3) | 2);
      list.bytes(encodeValue(item));
    }
    w.varint((6 << 3) | 2);
    w.bytes(list.finish());
  } else {
    w.varint((5 << 3) | 2);
    w.bytes(encodeStruct(value));
  }
  return w.finish();
}

/**
 * Serializes a Struct deterministically (fields sorted by key, like protobuf C++ deterministic mode).
 *
 * @example
 * const bytes = encodeStruct({ NAMESPACE: "default", LABELS: { app: "echo" } });
 */
export function encodeStruct(object: StructObject): Buffer {
  const w = new ByteWriter();
  const keys = Object.keys(object).sort();
  for (const key of keys) {
    const value = object[key];
    if (value === undefined) continue;
    const entry = new ByteWriter();
    entry.varint((1 << 3) | 2);
    entry.bytes(Buffer.from(key, "utf8"));
    entry.varint((2 << 3) | 2);
    entry.bytes(encodeValue(value));
    w.varint((1 << 3) | 2);
    w.bytes(entry.finish());
  }
  return w.finish();
}

class ByteReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let shift = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw invalid("truncated varint");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
      shift *= 128;
    }
    throw invalid("varint too long");
  }

  lengthDelimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw invalid("length exceeds buffer");
    this.pos = end;
    return [start, end];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.lengthDelimited();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw invalid(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw invalid("truncated field");
  }
}

function invalid(reason: string): MeshctlError {
  return new MeshctlError("TSTATS_METADATA_INVALID", `Invalid google.protobuf.Struct: ${reason}.`, {
    kind: "external",
  });
}

function decodeValueAt(buf: Buffer, start: number, end: number): StructValue {
  const r = new ByteReader(buf, start, end);
  let value: StructValue = null;
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 0) {
      r.varint();
      value = null;
    } else if (field === 2 && wire === 1) {
      if (r.pos + 8 > end) throw invalid("truncated double");
      value = buf.readDoubleLE(r.pos);
      r.pos += 8;
    } else if (field === 3 && wire === 2) {
      const [s, e] = r.lengthDelimited();
      value = buf.toString("utf8", s, e);
    } else if (field === 4 && wire === 0) {
      value = r.varint() !== 0;
    } else if (field === 5 && wire === 2) {
      const [s, e] = r.lengthDelimited();
      value = decodeStructAt(buf, s, e);
    } else if (field === 6 && wire === 2) {
      const [s, e] = r.lengthDelimited();
      const list: StructValue[] = [];
      const lr = new ByteReader(buf, s, e);
      while (lr.pos < e) {
        const ltag = lr.varint();
        if (ltag === ((1 << 3) | 2)) {
          const [vs, ve] = lr.lengthDelimited();
          list.push(decodeValueAt(buf, vs, ve));
        } else lr.skip(ltag & 7);
      }
      value = list;
    } else r.skip(wire);
  }
  return value;
}

function decodeStructAt(buf: Buffer, start: number, end: number): StructObject {
  const out: StructObject = {};
  const r = new ByteReader(buf, start, end);
  while (r.pos < end) {
    const tag = r.varint();
    if (tag !== ((1 << 3) | 2)) {
      r.skip(tag & 7);
      continue;
    }
    const [es, ee] = r.lengthDelimited();
    const er = new ByteReader(buf, es, ee);
    let key = "";
    let value: StructValue = null;
    while (er.pos < ee) {
      const etag = er.varint();
      if (etag === ((1 << 3) | 2)) {
        const [ks, ke] = er.lengthDelimited();
        key = buf.toString("utf8", ks, ke);
      } else if (etag === ((2 << 3) | 2)) {
        const [vs, ve] = er.lengthDelimited();
        value = decodeValueAt(buf, vs, ve);
      } else er.skip(etag & 7);
    }
    out[key] = value;
  }
  return out;
}

/**
 * Parses a serialized `google.protobuf.Struct`.
 *
 * @example
 * const object = decodeStruct(encodeStruct({ a: "b" })); // { a: "b" }
 */
export function decodeStruct(bytes: Uint8Array): StructObject {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeStructAt(buf, 0, buf.length);
}

/** Internal helpers for the TCP frame's `google.protobuf.Any` (type_url = 1, value = 2). */
export function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  const w = new ByteWriter();
  w.varint((1 << 3) | 2);
  w.bytes(Buffer.from(typeUrl, "utf8"));
  w.varint((2 << 3) | 2);
  w.bytes(value);
  return w.finish();
}

export function decodeAny(bytes: Buffer): { typeUrl: string; value: Buffer } {
  const r = new ByteReader(bytes, 0, bytes.length);
  let typeUrl = "";
  let value: Buffer = Buffer.alloc(0);
  while (r.pos < bytes.length) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 2)) {
      const [s, e] = r.lengthDelimited();
      typeUrl = bytes.toString("utf8", s, e);
    } else if (tag === ((2 << 3) | 2)) {
      const [s, e] = r.lengthDelimited();
      value = bytes.subarray(s, e);
    } else r.skip(tag & 7);
  }
  return { typeUrl, value };
}
