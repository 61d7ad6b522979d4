/**
 * Encoding of VPP binary-API messages as they travel on the API socket: all integers big-endian,
 * `string x[N]` NUL-padded to N bytes, `string x[]` as a u32 length plus bytes (no NUL).
 * Layouts were checked byte for byte against frames recorded from VPP 26.10-rc0.
 */

export type ApiFieldType =
  | "u8"
  | "bool"
  | "u16"
  | "u32"
  | "i32"
  | "u64"
  | { readonly string: number }
  | { readonly bytes: number }
  | { readonly array: "u32"; readonly length: number }
  | "vstring";

export interface ApiMessageSpec {
  /** Message name without CRC, e.g. `show_version`. */
  readonly name: string;
  /** The CRC this client was written against; the running VPP must list `<name>_<crc>`. */
  readonly crc: string;
  /** Fields after the u16 message id, in wire order. */
  readonly fields: readonly (readonly [string, ApiFieldType])[];
}

/** Size of the socket transport header (`msgbuf_t`: u64 q, u32 data_len, u32 gc_mark_timestamp). */
export const API_HEADER_SIZE = 16;

/** Wraps a payload in the 16-byte socket header. */
export function frameApiMessage(payload: Buffer): Buffer {
  const header = Buffer.alloc(API_HEADER_SIZE);
  header.writeUInt32BE(payload.length, 8);
  return Buffer.concat([header, payload]);
}

/**
 * Encodes a message payload (id first). Missing fields encode as zero/empty.
 *
 * @example
 * encodeApiMessage(CONTROL_PING, 23, { client_index: 1, context: 7 });
 */
export function encodeApiMessage(
  spec: ApiMessageSpec,
  id: number,
  values: Readonly<Record<string, unknown>>,
): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(2);
  head.writeUInt16BE(id);
  parts.push(head);
  for (const [name, type] of spec.fields) {
    const v = values[name];
    if (type === "u8" || type === "bool") parts.push(Buffer.from([Number(v ?? 0) & 0xff]));
    else if (type === "u16") {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(Number(v ?? 0));
      parts.push(b);
    } else if (type === "u32") {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(Number(v ?? 0) >>> 0);
      parts.push(b);
    } else if (type === "i32") {
      const b = Buffer.alloc(4);
      b.writeInt32BE(Number(v ?? 0));
      parts.push(b);
    } else if (type === "u64") {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt((v as number | bigint | undefined) ?? 0));
      parts.push(b);
    } else if (type === "vstring") {
      const s = Buffer.from(String(v ?? ""), "utf8");
      const len = Buffer.alloc(4);
      len.writeUInt32BE(s.length);
      parts.push(len, s);
    } else if ("string" in type) {
      const b = Buffer.alloc(type.string);
      Buffer.from(String(v ?? ""), "utf8").copy(b, 0, 0, type.string - 1);
      parts.push(b);
    } else if ("bytes" in type) {
      const b = Buffer.alloc(type.bytes);
      if (v instanceof Uint8Array) Buffer.from(v).copy(b);
      parts.push(b);
    } else {
      const b = Buffer.alloc(4 * type.length);
      const arr = (v as readonly number[] | undefined) ?? [];
      for (let i = 0; i < type.length; i++) b.writeUInt32BE((arr[i] ?? 0) >>> 0, 4 * i);
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

export class ApiDecodeError extends Error {}

/** Decodes a payload (starting at the u16 id) into `{ _vl_msg_id, ...fields }`. Trailing bytes are returned as `rest`. */
export function decodeApiMessage(
  spec: ApiMessageSpec,
  payload: Buffer,
): { values: Record<string, unknown>; offset: number } {
  const values: Record<string, unknown> = {};
  let o = 0;
  const need = (n: number, field: string) => {
    if (o + n > payload.length)
      throw new ApiDecodeError(`${spec.name}: payload too short for ${field} (${payload.length} bytes)`);
  };
  need(2, "_vl_msg_id");
  values._vl_msg_id = payload.readUInt16BE(0);
  o = 2;
  for (const [name, type] of spec.fields) {
    if (type === "u8" || type === "bool") {
      need(1, name);
      values[name] = type === "bool" ? payload[o] !== 0 : payload[o];
      o += 1;
    } else if (type === "u16") {
      need(2, name);
      values[name] = payload.readUInt16BE(o);
      o += 2;
    } else if (type === "u32") {
      need(4, name);
      values[name] = payload.readUInt32BE(o);
      o += 4;
    } else if (type === "i32") {
      need(4, name);
      values[name] = payload.readInt32BE(o);
      o += 4;
    } else if (type === "u64") {
      need(8, name);
      values[name] = payload.readBigUInt64BE(o);
      o += 8;
    } else if (type === "vstring") {
      need(4, name);
      const len = payload.readUInt32BE(o);
      o += 4;
      need(len, name);
      values[name] = payload.subarray(o, o + len).toString("utf8");
      o += len;
    } else if ("string" in type) {
      need(type.string, name);
      values[name] = cString(payload.subarray(o, o + type.string));
      o += type.string;
    } else if ("bytes" in type) {
      need(type.bytes, name);
      values[name] = Buffer.from(payload.subarray(o, o + type.bytes));
      o += type.bytes;
    } else {
      need(4 * type.length, name);
      const arr: number[] = [];
      for (let i = 0; i < type.length; i++) arr.push(payload.readUInt32BE(o + 4 * i));
      values[name] = arr;
      o += 4 * type.length;
    }
  }
  return { values, offset: o };
}

/** A fixed-size C string: everything up to the first NUL. */
export function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString("utf8");
}

const REQUEST = [
  ["client_index", "u32"],
  ["context", "u32"],
] as const;

// Handshake messages have fixed ids (15..18) in every VPP; the rest are resolved by name.
export const SOCKCLNT_CREATE: ApiMessageSpec = {
  name: "sockclnt_create",
  crc: "455fb9c4",
  fields: [
    ["context", "u32"],
    ["name", { string: 64 }],
  ],
};
export const SOCKCLNT_CREATE_REPLY: ApiMessageSpec = {
  name: "sockclnt_create_reply",
  crc: "35166268",
  fields: [
    ["client_index", "u32"],
    ["context", "u32"],
    ["response", "i32"],
    ["index", "u32"],
    ["count", "u16"],
  ],
};
export const SOCKCLNT_DELETE: ApiMessageSpec = {
  name: "sockclnt_delete",
  crc: "8ac76db6",
  fields: [...REQUEST, ["index", "u32"]],
};
export const SOCKCLNT_DELETE_REPLY: ApiMessageSpec = {
  name: "sockclnt_delete_reply",
  crc: "8f38b1ee",
  fields: [
    ["context", "u32"],
    ["response", "i32"],
  ],
};
export const CONTROL_PING: ApiMessageSpec = { name: "control_ping", crc: "51077d14", fields: REQUEST };
export const CONTROL_PING_REPLY: ApiMessageSpec = {
  name: "control_ping_reply",
  crc: "f6b0b8ca",
  fields: [
    ["context", "u32"],
    ["retval", "i32"],
    ["client_index", "u32"],
    ["vpe_pid", "u32"],
  ],
};
export const SHOW_VERSION: ApiMessageSpec = { name: "show_version", crc: "51077d14", fields: REQUEST };
export const SHOW_VERSION_REPLY: ApiMessageSpec = {
  name: "show_version_reply",
  crc: "c919bde1",
  fields: [
    ["context", "u32"],
    ["retval", "i32"],
    ["program", { string: 32 }],
    ["version", { string: 32 }],
    ["build_date", { string: 32 }],
    ["build_directory", { string: 256 }],
  ],
};
export const CLI_INBAND: ApiMessageSpec = {
  name: "cli_inband",
  crc: "f8377302",
  fields: [...REQUEST, ["cmd", "vstring"]],
};
export const CLI_INBAND_REPLY: ApiMessageSpec = {
  name: "cli_inband_reply",
  crc: "05879051",
  fields: [
    ["context", "u32"],
    ["retval", "i32"],
    ["reply", "vstring"],
  ],
};
export const SW_INTERFACE_DUMP: ApiMessageSpec = {
  name: "sw_interface_dump",
  crc: "aa610c27",
  fields: [...REQUEST, ["sw_if_index", "u32"], ["name_filter_valid", "bool"], ["name_filter", "vstring"]],
};
export const SW_INTERFACE_DETAILS: ApiMessageSpec = {
  name: "sw_interface_details",
  crc: "6c221fc7",
  fields: [
    ["context", "u32"],
    ["sw_if_index", "u32"],
    ["sup_sw_if_index", "u32"],
    ["l2_address", { bytes: 6 }],
    ["flags", "u32"],
    ["type", "u32"],
    ["link_duplex", "u32"],
    ["link_speed", "u32"],
    ["link_mtu", "u16"],
    ["mtu", { array: "u32", length: 4 }],
    ["sub_id", "u32"],
    ["sub_number_of_tags", "u8"],
    ["sub_outer_vlan_id", "u16"],
    ["sub_inner_vlan_id", "u16"],
    ["sub_if_flags", "u32"],
    ["vtr_op", "u32"],
    ["vtr_push_dot1q", "u32"],
    ["vtr_tag1", "u32"],
    ["vtr_tag2", "u32"],
    ["outer_tag", "u16"],
    ["b_dmac", { bytes: 6 }],
    ["b_smac", { bytes: 6 }],
    ["b_vlanid", "u16"],
    ["i_sid", "u32"],
    ["interface_name", { string: 64 }],
    ["interface_dev_type", { string: 64 }],
    ["tag", { string: 64 }],
  ],
};

/** The fixed handshake ids (the same in every VPP build observed). */
export const HANDSHAKE_IDS = { sockclnt_create: 15, sockclnt_create_reply: 16 } as const;

/** Parses sockclnt_create_reply's message table: `name_crc` → id. */
export function decodeMessageTable(payload: Buffer, offset: number, count: number): Map<string, number> {
  const table = new Map<string, number>();
  let o = offset;
  for (let i = 0; i < count; i++) {
    if (o + 66 > payload.length)
      throw new ApiDecodeError(`message table truncated at entry ${i} of ${count}`);
    const id = payload.readUInt16BE(o);
    table.set(cString(payload.subarray(o + 2, o + 66)), id);
    o += 66;
  }
  return table;
}
