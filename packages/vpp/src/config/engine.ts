/**
 * The shared machinery behind the startup.conf and vcl.conf models: a tokenizer that follows
 * VPP's own reader (whitespace-separated words, a word starting with `#` ends the line), a
 * schema per section, and a parser/renderer driven by that schema. The typed models are derived
 * from the schemas, so a keyword cannot be parsed but not rendered (or typed but not parsed).
 */

/** One finding about a config file. `line` is 1-based; `path` names the field (`session.event-queue-length`). */
export interface VppConfigIssue {
  readonly severity: "error" | "warning";
  readonly file?: string;
  readonly line?: number;
  readonly path: string;
  readonly message: string;
}

/** A memory size as VPP's `unformat_memory_size` reads it: bytes, or a number with a k/m/g suffix. */
export type VppSize = number | `${number}${"k" | "K" | "m" | "M" | "g" | "G"}`;

export interface Token {
  readonly text: string;
  readonly line: number;
}

/**
 * Splits config text the way VPP's `main()` does (`strtok` on space, tab and newline; a word that
 * begins with `#` ends the line), and additionally splits `{`/`}` glued to a word.
 */
export function tokenizeVppConfig(text: string): Token[] {
  const tokens: Token[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    for (const word of raw.split(/[ \t]+/)) {
      if (!word) continue;
      if (word.startsWith("#")) break;
      for (const part of word.split(/([{}])/)) if (part) tokens.push({ text: part, line: index + 1 });
    }
  });
  return tokens;
}

export type ConfigNode =
  | { readonly kind: "word"; readonly text: string; readonly line: number }
  | { readonly kind: "block"; readonly children: ConfigNode[]; readonly line: number };

/** Nests tokens into blocks; unbalanced braces become issues. */
export function buildConfigTree(
  tokens: readonly Token[],
  issue: (i: Omit<VppConfigIssue, "file">) => void,
): ConfigNode[] {
  const root: ConfigNode[] = [];
  const stack: { children: ConfigNode[]; line: number }[] = [{ children: root, line: 0 }];
  for (const token of tokens) {
    const top = stack[stack.length - 1]!;
    if (token.text === "{") {
      const block = { kind: "block" as const, children: [] as ConfigNode[], line: token.line };
      top.children.push(block);
      stack.push(block);
    } else if (token.text === "}") {
      if (stack.length === 1)
        issue({ severity: "error", line: token.line, path: "", message: "unmatched `}`" });
      else stack.pop();
    } else {
      top.children.push({ kind: "word", text: token.text, line: token.line });
    }
  }
  for (const open of stack.slice(1))
    issue({ severity: "error", line: open.line, path: "", message: "`{` is never closed" });
  return root;
}

// ---------------------------------------------------------------------------------------------
// Schemas

interface FieldBase {
  /** The keyword(s) as written in the file; multi-word keys are space-separated. */
  readonly key: string;
}
export type Field =
  | (FieldBase & { readonly kind: "flag" })
  | (FieldBase & {
      readonly kind: "int";
      readonly min?: number;
      readonly max?: number;
      readonly hex?: boolean;
    })
  | (FieldBase & { readonly kind: "float" })
  | (FieldBase & { readonly kind: "size"; readonly max?: number; readonly suffixes?: "any" | "mg-required" })
  | (FieldBase & { readonly kind: "word"; readonly pattern?: RegExp; readonly hint?: string })
  | (FieldBase & { readonly kind: "enum"; readonly values: readonly string[] })
  | (FieldBase & { readonly kind: "named"; readonly body: Schema });
export type Schema = { readonly [prop: string]: Field };

/** The value type of one schema field. */
export type FieldValue<F> = F extends { kind: "flag" }
  ? true
  : F extends { kind: "int" | "float" }
    ? number
    : F extends { kind: "size" }
      ? VppSize
      : F extends { kind: "enum"; values: readonly (infer V)[] }
        ? V
        : F extends { kind: "word" }
          ? string
          : F extends { kind: "named"; body: infer B }
            ? Record<string, SectionValue<B>>
            : never;

/** The typed model of one section, derived from its schema. Every property is optional. */
export type SectionValue<S> = { -readonly [K in keyof S]?: FieldValue<S[K]> };

export const flag = (key: string) => ({ kind: "flag", key }) as const;
export const int = (key: string, opts: { min?: number; max?: number; hex?: boolean } = {}) =>
  ({ kind: "int", key, ...opts }) as const;
export const float = (key: string) => ({ kind: "float", key }) as const;
export const size = (key: string, opts: { max?: number; suffixes?: "any" | "mg-required" } = {}) =>
  ({ kind: "size", key, ...opts }) as const;
export const word = (key: string, opts: { pattern?: RegExp; hint?: string } = {}) =>
  ({ kind: "word", key, ...opts }) as const;
export const oneOf = <const V extends readonly string[]>(key: string, values: V) =>
  ({ kind: "enum", key, values }) as const;
export const named = <const B extends Schema>(key: string, body: B) =>
  ({ kind: "named", key, body }) as const;

const SIZE_RE = /^(\d+)([kKmMgG])?$/;
const HEX_RE = /^0x[0-9a-fA-F]+$/;

/**
 * The number of bytes a {@link VppSize} stands for.
 *
 * @example
 * vppSizeToBytes("128m"); // 134217728
 */
export function vppSizeToBytes(value: VppSize): number {
  if (typeof value === "number") return value;
  const m = SIZE_RE.exec(value);
  if (!m) return Number.NaN;
  const shift = { k: 10, m: 20, g: 30 }[(m[2] ?? "").toLowerCase() as "k" | "m" | "g"] ?? 0;
  return Number(m[1]) * 2 ** shift;
}

function parseSize(text: string): VppSize | undefined {
  if (HEX_RE.test(text)) return Number.parseInt(text, 16);
  const m = SIZE_RE.exec(text);
  if (!m) return undefined;
  return m[2] ? (text as VppSize) : Number(m[1]);
}

function didYouMean(input: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = levenshtein(input, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(input.length / 3))
    ? ` (did you mean \`${best}\`?)`
    : "";
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

export interface ParseContext {
  /** Field path → line where it was set, for semantic checks that run on the model. */
  readonly lines: Map<string, number>;
  readonly issue: (i: Omit<VppConfigIssue, "file">) => void;
  /** How numbers with trailing junk are read (VCL's `%u` stops at the first non-digit). */
  readonly dialect: "startup" | "vcl";
}

/** Parses a value for `field` from `words[at]`, reporting problems. Returns undefined on failure. */
export function parseFieldValue(
  field: Field,
  text: string | undefined,
  path: string,
  line: number,
  ctx: ParseContext,
): unknown {
  if (field.kind === "flag") return true;
  if (text === undefined) {
    ctx.issue({ severity: "error", line, path, message: `\`${field.key}\` needs a value` });
    return undefined;
  }
  switch (field.kind) {
    case "int": {
      const value =
        field.hex && HEX_RE.test(text)
          ? Number.parseInt(text, 16)
          : /^\d+$/.test(text)
            ? Number(text)
            : undefined;
      if (value === undefined) {
        const lead = /^\d+/.exec(text)?.[0];
        const how =
          ctx.dialect === "vcl" && lead !== undefined
            ? `; VCL would silently read it as ${lead}`
            : lead !== undefined
              ? "; VPP stops reading at the suffix and rejects the rest"
              : "";
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` expects a plain integer${field.hex ? " or 0x hex" : ""}, got \`${text}\`${how}`,
        });
        return undefined;
      }
      if (field.min !== undefined && value < field.min) {
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` must be at least ${field.min}, got ${value}`,
        });
      }
      if (field.max !== undefined && value > field.max) {
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` must be at most ${field.max}, got ${value}`,
        });
      }
      return value;
    }
    case "float": {
      if (!/^\d+(\.\d+)?$/.test(text)) {
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` expects a number, got \`${text}\``,
        });
        return undefined;
      }
      return Number(text);
    }
    case "size": {
      const value = parseSize(text);
      if (value === undefined) {
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` expects a size such as 1048576, 64k, 128m or 2g, got \`${text}\``,
        });
        return undefined;
      }
      if (field.suffixes === "mg-required" && !/[mMgG]$/.test(String(value))) {
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` must end in m or g (e.g. 256m); VCL's early heap reader ignores any other form and uses its 256M default`,
        });
      }
      if (field.max !== undefined && vppSizeToBytes(value) > field.max) {
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` ${text} is too large (at most ${field.max} bytes)`,
        });
      }
      return value;
    }
    case "word": {
      if (field.pattern && !field.pattern.test(text)) {
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` got \`${text}\`; expected ${field.hint ?? field.pattern.source}`,
        });
      }
      return text;
    }
    case "enum": {
      if (!field.values.includes(text)) {
        ctx.issue({
          severity: "error",
          line,
          path,
          message: `\`${field.key}\` must be one of ${field.values.join(", ")}, got \`${text}\``,
        });
        return undefined;
      }
      return text;
    }
    case "named":
      return undefined; // handled by parseSectionBody
  }
}

function keyWords(field: Field): string[] {
  return field.key.split(" ");
}

/**
 * Parses the contents of one `name { ... }` block against `schema`. Unknown keywords are errors:
 * VPP's section parsers refuse to start on `unknown input`.
 */
export function parseSectionBody(
  nodes: readonly ConfigNode[],
  schema: Schema,
  section: string,
  ctx: ParseContext,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const entries = Object.entries(schema).sort((a, b) => keyWords(b[1]).length - keyWords(a[1]).length);
  let i = 0;
  while (i < nodes.length) {
    const node = nodes[i]!;
    if (node.kind === "block") {
      ctx.issue({ severity: "error", line: node.line, path: section, message: "unexpected `{` block here" });
      i++;
      continue;
    }
    const match = entries.find(([, f]) =>
      keyWords(f).every((w, k) => {
        const n = nodes[i + k];
        return n?.kind === "word" && n.text === w;
      }),
    );
    if (!match) {
      ctx.issue({
        severity: "error",
        line: node.line,
        path: section,
        message: `unknown keyword \`${node.text}\` in \`${section}\`${didYouMean(
          node.text,
          Object.values(schema).map((f) => f.key),
        )}`,
      });
      i++;
      continue;
    }
    const [prop, field] = match;
    const path = `${section}.${field.key}`;
    i += keyWords(field).length;
    if (field.kind === "named") {
      const nameNode = nodes[i];
      if (nameNode?.kind !== "word") {
        ctx.issue({ severity: "error", line: node.line, path, message: `\`${field.key}\` needs a name` });
        continue;
      }
      i++;
      let body: Record<string, unknown> = {};
      const next = nodes[i];
      const itemPath = `${path}[${nameNode.text}]`;
      if (next?.kind === "block") {
        body = parseSectionBody(next.children, field.body, itemPath, ctx);
        i++;
      }
      const map = (out[prop] as Record<string, unknown> | undefined) ?? {};
      if (nameNode.text in map)
        ctx.issue({
          severity: "warning",
          line: nameNode.line,
          path: itemPath,
          message: "given twice; the last one wins",
        });
      map[nameNode.text] = body;
      out[prop] = map;
      ctx.lines.set(itemPath, nameNode.line);
      continue;
    }
    let valueText: string | undefined;
    if (field.kind !== "flag") {
      const v = nodes[i];
      if (v?.kind === "word") {
        valueText = v.text;
        i++;
      }
    }
    const value = parseFieldValue(field, valueText, path, node.line, ctx);
    if (value === undefined) continue;
    if (prop in out && field.kind !== "flag")
      ctx.issue({ severity: "warning", line: node.line, path, message: "given twice; the last one wins" });
    out[prop] = value;
    ctx.lines.set(path, node.line);
  }
  return out;
}

function renderValue(field: Field, value: unknown): string {
  return field.kind === "flag" ? field.key : `${field.key} ${String(value)}`;
}

/** Renders the body lines of a section (without braces), in schema order. */
export function renderSectionBody(
  value: Readonly<Record<string, unknown>>,
  schema: Schema,
  indent: string,
): string[] {
  const lines: string[] = [];
  for (const [prop, field] of Object.entries(schema)) {
    const v = value[prop];
    if (v === undefined || (field.kind === "flag" && v !== true)) continue;
    if (field.kind === "named") {
      for (const [name, body] of Object.entries(v as Record<string, Record<string, unknown>>)) {
        const inner = renderSectionBody(body, field.body, `${indent}  `);
        lines.push(
          inner.length
            ? `${indent}${field.key} ${name} {\n${inner.join("\n")}\n${indent}}`
            : `${indent}${field.key} ${name}`,
        );
      }
      continue;
    }
    lines.push(`${indent}${renderValue(field, v)}`);
  }
  return lines;
}

/** Checks a model value (not text) against a schema: unknown properties and bad values. */
export function checkSectionModel(
  value: Readonly<Record<string, unknown>>,
  schema: Schema,
  section: string,
  ctx: ParseContext,
): void {
  for (const [prop, v] of Object.entries(value)) {
    const field = schema[prop];
    if (!field) {
      ctx.issue({
        severity: "error",
        path: `${section}.${prop}`,
        message: `unknown property \`${prop}\` in \`${section}\``,
      });
      continue;
    }
    if (v === undefined) continue;
    const path = `${section}.${field.key}`;
    if (field.kind === "named") {
      for (const [name, body] of Object.entries(v as Record<string, Record<string, unknown>>)) {
        checkSectionModel(body, field.body, `${path}[${name}]`, ctx);
      }
      continue;
    }
    if (field.kind === "flag") {
      if (v !== true)
        ctx.issue({
          severity: "error",
          path,
          message: `\`${field.key}\` is a flag: set it to true or leave it out`,
        });
      continue;
    }
    const text = String(v);
    if (/\s/.test(text) || text === "" || text.includes("{") || text.includes("}") || text.startsWith("#")) {
      ctx.issue({
        severity: "error",
        path,
        message: `\`${field.key}\` value ${JSON.stringify(text)} cannot be written as one word`,
      });
      continue;
    }
    parseFieldValue(field, text, path, ctx.lines.get(path) ?? 0, ctx);
  }
}
