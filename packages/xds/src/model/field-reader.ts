/**
 * FieldReader: typed, diagnosing access to one Kubernetes-shaped object, whatever it was read
 * from. Parsers (parse-documents.ts) only see this interface, so a YAML file (positions
 * file:line:column, see yaml-reader.ts) and a plain object from an API server or a test
 * (positions `Kind/namespace/name`, see ObjectReader) are validated by the same code.
 */
import type { ConfigDiagnostic } from "./types.js";

export type FieldPath = readonly (string | number)[];

export function formatPath(path: FieldPath): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out === "" ? part : `.${part}`;
  return out;
}

/**
 * What a parser has read, as a tree of path parts: `true` a field read (its children, if any,
 * not), a node a field some of whose children were read, `"opaque"` a subtree taken whole
 * (user keys such as labels, or a field already reported as ignored).
 */
type ReadMark = true | "opaque" | ReadNode;
interface ReadNode {
  [part: string]: ReadMark;
}

export abstract class FieldReader {
  readonly diagnostics: ConfigDiagnostic[] = [];
  private readonly marks: ReadNode = Object.create(null) as ReadNode;

  /** `file` names the source in diagnostics: a file path, or `Kind/namespace/name` for objects. */
  constructor(readonly file: string) {}

  /** Where a field is, as precisely as the source knows (objects have no lines: 0). */
  abstract position(path: FieldPath): { line: number; column: number };
  /** Where a field's key is (for "unknown field"); the value's position where keys have none. */
  keyPosition(path: FieldPath): { line: number; column: number } {
    return this.position(path);
  }
  /** The plain value at `path` (undefined when absent), without recording a read. */
  protected abstract read(path: FieldPath): unknown;
  protected abstract shape(path: FieldPath): "absent" | "list" | "map" | "scalar";
  protected abstract listLength(path: FieldPath): number;
  protected abstract mapKeys(path: FieldPath): string[];

  /** The plain value at `path` (undefined when absent). */
  raw(path: FieldPath): unknown {
    this.mark(path);
    return this.read(path);
  }

  /** Records that the parser looked at `path` (so it is not reported by `unreadKeys`). */
  protected mark(path: FieldPath, opaque = false): void {
    let node = this.marks;
    for (let i = 0; i < path.length; i++) {
      const part = String(path[i]);
      const cur = node[part];
      if (cur === "opaque") return;
      if (i === path.length - 1) {
        if (opaque) node[part] = "opaque";
        else if (cur === undefined) node[part] = true;
        return;
      }
      if (cur === undefined || cur === true) {
        const next = Object.create(null) as ReadNode;
        node[part] = next;
        node = next;
      } else node = cur;
    }
  }

  /** Takes the subtree at `path` whole: nothing under it is reported by `unreadKeys`. */
  opaque(path: FieldPath): void {
    this.mark(path, true);
  }

  /**
   * Mapping keys in the object that no parser read, deepest first read ancestor's child: a key
   * under an unread key is not listed again (the unread key covers it). Subtrees taken whole
   * (`opaque`) and fields that already have a diagnostic are skipped.
   *
   * @example
   * parseVirtualService(r); for (const p of r.unreadKeys()) r.warn(p, "unknown field");
   */
  unreadKeys(): FieldPath[] {
    const diagnosed = new Set(this.diagnostics.map((d) => d.path));
    const out: FieldPath[] = [];
    const walk = (path: FieldPath, marks: ReadNode | true): void => {
      const shape = this.shape(path);
      if (shape === "map") {
        for (const key of this.mapKeys(path)) {
          const p = [...path, key];
          const m = marks === true ? undefined : marks[key];
          if (m === "opaque") continue;
          if (diagnosed.has(formatPath(p))) continue;
          if (m === undefined) out.push(p);
          else walk(p, m);
        }
      } else if (shape === "list") {
        const n = this.listLength(path);
        for (let i = 0; i < n; i++) {
          const p = [...path, i];
          const m = marks === true ? true : (marks[String(i)] ?? true);
          if (m === "opaque" || diagnosed.has(formatPath(p))) continue;
          walk(p, m);
        }
      }
    };
    walk([], this.marks);
    return out;
  }

  error(path: FieldPath, reason: string): void {
    this.diagnostics.push({
      severity: "error",
      file: this.file,
      ...this.position(path),
      path: formatPath(path),
      reason,
    });
  }

  warn(path: FieldPath, reason: string, at: "value" | "key" = "value"): void {
    this.diagnostics.push({
      severity: "warning",
      file: this.file,
      ...(at === "key" ? this.keyPosition(path) : this.position(path)),
      path: formatPath(path),
      reason,
    });
  }

  /** A field meshctl knows but does not apply: warns and takes its subtree whole. */
  unsupported(path: FieldPath, reason: string): void {
    this.opaque(path);
    this.warn(path, reason, "key");
  }

  get hasErrors(): boolean {
    return this.diagnostics.some((d) => d.severity === "error");
  }

  has(path: FieldPath): boolean {
    const v = this.raw(path);
    return v !== undefined && v !== null;
  }

  str(path: FieldPath, opts: { required?: boolean } = {}): string | undefined {
    const v = this.raw(path);
    if (v === undefined || v === null) {
      if (opts.required) this.error(path, "required field is missing");
      return undefined;
    }
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    if (typeof v !== "string") {
      this.error(path, `expected a string, got ${describe(v)}`);
      return undefined;
    }
    if (opts.required && v === "") this.error(path, "must not be empty");
    return v;
  }

  num(
    path: FieldPath,
    opts: { required?: boolean; min?: number; max?: number; integer?: boolean } = {},
  ): number | undefined {
    const v = this.raw(path);
    if (v === undefined || v === null) {
      if (opts.required) this.error(path, "required field is missing");
      return undefined;
    }
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n)) {
      this.error(path, `expected a number, got ${describe(v)}`);
      return undefined;
    }
    if (opts.integer && !Number.isInteger(n)) {
      this.error(path, `expected an integer, got ${n}`);
      return undefined;
    }
    if (opts.min !== undefined && n < opts.min) {
      this.error(path, `must be >= ${opts.min}, got ${n}`);
      return undefined;
    }
    if (opts.max !== undefined && n > opts.max) {
      this.error(path, `must be <= ${opts.max}, got ${n}`);
      return undefined;
    }
    return n;
  }

  port(path: FieldPath, opts: { required?: boolean } = {}): number | undefined {
    return this.num(path, { ...opts, integer: true, min: 1, max: 65535 });
  }

  bool(path: FieldPath): boolean | undefined {
    const v = this.raw(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") {
      this.error(path, `expected true or false, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** A Go-style duration (`1.5s`, `250ms`, `1m`) in milliseconds. */
  durationMs(path: FieldPath): number | undefined {
    const v = this.str(path);
    if (v === undefined) return undefined;
    const ms = parseDurationMs(v);
    if (ms === undefined) this.error(path, `expected a duration like "1s" or "250ms", got "${v}"`);
    return ms;
  }

  /** Length of a sequence; records an error if the field is present but not a list. */
  list(path: FieldPath, opts: { required?: boolean } = {}): number {
    this.mark(path);
    const shape = this.shape(path);
    if (shape === "absent") {
      if (opts.required) this.error(path, "required list is missing");
      return 0;
    }
    if (shape !== "list") {
      this.error(path, "expected a list");
      return 0;
    }
    return this.listLength(path);
  }

  /** Keys of a mapping; records an error if present but not a mapping. */
  keys(path: FieldPath): string[] {
    this.mark(path);
    const shape = this.shape(path);
    if (shape === "absent") return [];
    if (shape !== "map") {
      this.error(path, "expected a mapping");
      return [];
    }
    return this.mapKeys(path);
  }

  /** A map of user keys to strings (labels, selectors): taken whole, its keys are never "unknown". */
  labels(path: FieldPath): Record<string, string> {
    this.opaque(path);
    const out: Record<string, string> = {};
    for (const key of this.keys(path)) {
      const value = this.str([...path, key]);
      if (value !== undefined) out[key] = value;
    }
    return out;
  }

  strings(path: FieldPath, opts: { required?: boolean } = {}): string[] {
    const n = this.list(path, opts);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.str([...path, i], { required: true });
      if (s !== undefined) out.push(s);
    }
    if (opts.required && n === 0 && this.has(path)) this.error(path, "must not be empty");
    return out;
  }
}

/** A FieldReader over a plain object (from an API server, a test, or the lab). */
export class ObjectReader extends FieldReader {
  constructor(
    private readonly object: unknown,
    label?: string,
  ) {
    super(label ?? objectLabel(object));
  }

  position(): { line: number; column: number } {
    return { line: 0, column: 0 };
  }

  protected read(path: FieldPath): unknown {
    let cur: unknown = this.object;
    for (const part of path) {
      // Own keys only: `constructor` or `__proto__` in a path must not reach Object.prototype.
      if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, part)) return undefined;
      cur = (cur as Record<string | number, unknown>)[part];
    }
    return cur;
  }

  protected shape(path: FieldPath): "absent" | "list" | "map" | "scalar" {
    const v = this.read(path);
    if (v === undefined || v === null) return "absent";
    if (Array.isArray(v)) return "list";
    if (typeof v === "object") return "map";
    return "scalar";
  }

  protected listLength(path: FieldPath): number {
    const v = this.read(path);
    return Array.isArray(v) ? v.length : 0;
  }

  protected mapKeys(path: FieldPath): string[] {
    const v = this.read(path);
    return v && typeof v === "object" && !Array.isArray(v) ? Object.keys(v) : [];
  }
}

/** `Kind/namespace/name` of a Kubernetes-shaped object, for diagnostics. */
export function objectLabel(object: unknown): string {
  const o = (object ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const kind = typeof o.kind === "string" ? o.kind : "Object";
  const name = typeof o.metadata?.name === "string" ? o.metadata.name : "(unnamed)";
  // Cluster-scoped kinds have no namespace: `Node/worker-1`.
  if (kind === "Node" || kind === "Namespace") return `${kind}/${name}`;
  const ns = typeof o.metadata?.namespace === "string" ? o.metadata.namespace : "default";
  return `${kind}/${ns}/${name}`;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (v === null) return "null";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Parses Go/Istio duration strings: `1h2m3.5s`, `250ms`, `10us`. */
export function parseDurationMs(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/gy;
  const units: Record<string, number> = {
    h: 3_600_000,
    m: 60_000,
    s: 1000,
    ms: 1,
    us: 0.001,
    µs: 0.001,
    ns: 0.000001,
  };
  let total = 0;
  let matched = 0;
  re.lastIndex = 0;
  for (;;) {
    const start = re.lastIndex;
    const m = re.exec(text);
    if (!m) {
      if (start !== text.length) return undefined;
      break;
    }
    total += Number(m[1]) * (units[m[2] as string] ?? 0);
    matched++;
  }
  return matched > 0 ? total : undefined;
}
