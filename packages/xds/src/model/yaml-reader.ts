/**
 * The YAML implementation of FieldReader: positions are file:line:column of the node a field
 * path points at. Converters read fields through FieldReader so every diagnostic points at the
 * source, whichever source it is.
 */
import { type Document, isMap, isSeq, type LineCounter, type Node } from "yaml";
import { type FieldPath, FieldReader } from "./field-reader.js";

export class YamlReader extends FieldReader {
  constructor(
    file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {
    super(file);
  }

  /** Line/column of the deepest existing node on `path`. */
  position(path: FieldPath): { line: number; column: number } {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = (depth === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, depth), true)) as
        | Node
        | null
        | undefined;
      if (node && typeof node === "object" && "range" in node && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return { line: 1, column: 1 };
  }

  /** Line/column of the key of the field at `path` (its value's, for list items). */
  override keyPosition(path: FieldPath): { line: number; column: number } {
    const last = path[path.length - 1];
    if (typeof last === "string") {
      const parent = path.length === 1 ? this.doc.contents : this.doc.getIn(path.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find(
          (p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === last,
        );
        const key = pair?.key as Node | null | undefined;
        if (key && typeof key === "object" && "range" in key && key.range) {
          const pos = this.lines.linePos(key.range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
    }
    return this.position(path);
  }

  protected read(path: FieldPath): unknown {
    const value = this.doc.getIn(path, false);
    if (value && typeof value === "object" && "toJSON" in (value as object))
      return (value as { toJSON(): unknown }).toJSON();
    return value;
  }

  protected shape(path: FieldPath): "absent" | "list" | "map" | "scalar" {
    const node = this.doc.getIn(path, true);
    if (node === undefined || node === null) return "absent";
    if (isSeq(node)) return "list";
    if (isMap(node)) return "map";
    return "scalar";
  }

  protected listLength(path: FieldPath): number {
    const node = this.doc.getIn(path, true);
    return isSeq(node) ? node.items.length : 0;
  }

  protected mapKeys(path: FieldPath): string[] {
    const node = this.doc.getIn(path, true);
    if (!isMap(node)) return [];
    return node.items.map((pair) => String((pair.key as { value?: unknown } | null)?.value ?? pair.key));
  }
}
