/**
 * The proto descriptors compiled into an Envoy binary: Envoy embeds every API file as a
 * serialized `FileDescriptorProto` (field 1, `name`, first). Reading them back gives the exact
 * messages and field numbers the installed Envoy parses, whatever version of the api/ tree a
 * dependency happens to ship.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);
const descriptor = require("protobufjs/ext/descriptor/index.js") as {
  FileDescriptorProto: protobuf.Type;
};

export interface DescribedField {
  readonly name: string;
  readonly number: number;
  /** `string`, `bool`, ... or the message/enum full name without the leading dot. */
  readonly type: string;
  readonly repeated: boolean;
}

const SCALARS: Record<number, string> = {
  1: "double",
  2: "float",
  3: "int64",
  4: "uint64",
  5: "int32",
  8: "bool",
  9: "string",
  12: "bytes",
  13: "uint32",
};

interface RawField {
  name: string;
  number: number;
  type: number;
  typeName?: string;
  label: number;
}

/** Message full name -> fields, for the named files (e.g. `envoy/extensions/wasm/v3/wasm.proto`). */
export async function envoyBinaryMessages(
  envoyPath: string,
  files: readonly string[],
): Promise<Map<string, DescribedField[]>> {
  const bin = await readFile(envoyPath);
  const out = new Map<string, DescribedField[]>();
  for (const name of files) {
    const needle = Buffer.concat([Buffer.from([0x0a, name.length]), Buffer.from(name)]);
    let found = false;
    for (let at = bin.indexOf(needle); at >= 0 && !found; at = bin.indexOf(needle, at + 1)) {
      // The message's length is not stored: read fields until the bytes stop looking like one.
      const reader = protobuf.Reader.create(bin.subarray(at, at + 1_000_000));
      let end = 0;
      try {
        while (reader.pos < reader.len) {
          const tag = reader.uint32();
          if (tag >>> 3 === 0 || tag >>> 3 > 20 || ![0, 2].includes(tag & 7)) break;
          reader.skipType(tag & 7);
          end = reader.pos;
        }
      } catch {
        // ran into the next object
      }
      let file: { name?: string; package?: string; messageType?: { name: string; field?: RawField[] }[] };
      try {
        file = descriptor.FileDescriptorProto.decode(bin.subarray(at, at + end)) as typeof file;
      } catch {
        continue;
      }
      if (file.name !== name) continue;
      found = true;
      for (const m of file.messageType ?? []) {
        out.set(
          `${file.package}.${m.name}`,
          (m.field ?? []).map((f) => ({
            name: f.name,
            number: f.number,
            type: f.typeName ? f.typeName.replace(/^\./, "") : (SCALARS[f.type] ?? `type${f.type}`),
            repeated: f.label === 3,
          })),
        );
      }
    }
    if (!found) throw new Error(`${envoyPath} holds no descriptor for ${name}`);
  }
  return out;
}
