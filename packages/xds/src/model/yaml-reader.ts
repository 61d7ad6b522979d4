/**
 * A small typed reader over a parsed YAML document that records diagnostics with file, line and
 * field path. Converters read fields through it so every validation error points at the source.
 */
import { type Document, isMap, isSeq, type LineCounter, type Node } from "yaml";
import type { ConfigDiagnostic } from "./types.js";

export type FieldPath = readonly (string | number)[];

export function formatPath(path: FieldPath): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out === "" ? part : `.${part}`;
  return out;
}

export class YamlReader {
  readonly diagnostics: ConfigDiagnostic[] = [];

  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

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

  error(path: FieldPath, reason: string): void {
    this.diagnostics.push({
      severity: "error",
      file: this.file,
      ...this.position(path),
      path: formatPath(path),
      reason,
    });
  }

  warn(path: FieldPath, reason: string): void {
    this.diagnostics.push({
      severity: "warning",
      file: this.file,
      ...this.position(path),
      path: formatPath(path),
      reason,
    });
  }

  get hasErrors(): boolean {
    return this.diagnostics.some((d) => d.severity === "error");
  }

  raw(path: FieldPath): unknown {
    const value = this.doc.getIn(path, false);
    if (value && typeof value === "object" && "toJSON" in (value as object))
      return (value as { toJSON(): unknown }).toJSON();
    return value;
  }

  has(path: FieldPath): boolean {
    return this.raw(path) !== undefined && this.raw(path) !== null;
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
    const node = this.doc.getIn(path, true);
    if (node === undefined || node === null) {
      if (opts.required) this.error(path, "required list is missing");
      return 0;
    }
    if (!isSeq(node)) {
      this.error(path, "expected a list");
      return 0;
    }
    return node.items.length;
  }

  /** Keys of a mapping; records an error if present but not a mapping. */
  keys(path: FieldPath): string[] {
    const node = this.doc.getIn(path, true);
    if (node === undefined || node === null) return [];
    if (!isMap(node)) {
      this.error(path, "expected a mapping");
      return [];
    }
    return node.items.map((pair) => String((pair.key as { value?: unknown } | null)?.value ?? pair.key));
  }

  labels(path: FieldPath): Record<string, string> {
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
