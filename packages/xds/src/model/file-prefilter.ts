/**
 * A cheap textual pre-scan of a YAML stream, run before the YAML parser: documents that are
 * empty (a trailing `---`, a comment-only document as Helm renders) or whose top-level `kind:`
 * is one meshctl does not read (ConfigMap, Secret, Deployment, ...) are blanked out, so the
 * parser never builds their syntax tree. A 50 MB ConfigMap costs one regex pass, not gigabytes
 * of YAML nodes.
 *
 * Blanked documents keep their line breaks (and their `---` line becomes an empty line), so
 * every line number the parser reports for the other documents stays right. A document whose
 * kind cannot be read textually (flow style `{kind: ...}`, an indented root, anchors) is left
 * for the parser, which decides as before.
 */
import { type ParsedFile, parseMeshFile, SUPPORTED_KINDS } from "./parse-documents.js";
import type { ConfigDiagnostic } from "./types.js";

export interface PrefilteredYaml {
  /** The text to parse: same line count, skipped documents replaced by empty lines. */
  readonly text: string;
  /** One warning per skipped document of an unsupported kind. */
  readonly diagnostics: readonly ConfigDiagnostic[];
  /** Documents skipped because of their kind. */
  readonly skippedKinds: number;
  /** Documents skipped because they hold nothing (only comments or whitespace). */
  readonly skippedEmpty: number;
}

/** A `---` document start marker: at column 0, followed by a space, a tab or the end of the line. */
const DOCUMENT_START = /^---(?=[ \t\r]|$)/gm;
/** A top-level `kind:` (column 0, optionally quoted key and value). */
const TOP_LEVEL_KIND = /^(["']?)kind\1[ \t]*:[ \t]*(["']?)([A-Za-z][A-Za-z0-9]*)\2[ \t]*(?:#.*)?\r?$/m;
const TOP_LEVEL_API_VERSION = /^(["']?)apiVersion\1[ \t]*:[ \t]*(["']?)([^\s"'#]+)\2/m;
/** Any line holding something other than a comment, a `---`/`...` marker or whitespace. */
const CONTENT_LINE = /^(?!---(?:[ \t\r]|$))(?!\.\.\.(?:[ \t\r]|$))[ \t]*[^\s#]/m;
/** Content after a `---` on its own line (`--- {a: 1}`, `--- |`): the document is not empty. */
const MARKER_CONTENT = /^---[ \t]+[^\s#]/;
/** A directive (`%YAML 1.2`): belongs to the next document, so its segment is left alone. */
const DIRECTIVE = /^%/m;

function countLines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i !== -1 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * Blanks out empty documents and documents of kinds not in `supportedKinds`, with a warning
 * (`unsupported kind ConfigMap (v1); skipped`) at the document's `kind:` line for the latter.
 *
 * @example
 * const { text, diagnostics } = prefilterMeshYaml("all.yaml", helmOutput, SUPPORTED_KINDS);
 * const parsed = parseMeshFile("all.yaml", text); // same line numbers as helmOutput
 */
export function prefilterMeshYaml(
  file: string,
  source: string,
  supportedKinds: readonly string[],
): PrefilteredYaml {
  const supported = new Set(supportedKinds);
  const starts = [0];
  DOCUMENT_START.lastIndex = 0;
  for (let m = DOCUMENT_START.exec(source); m !== null; m = DOCUMENT_START.exec(source))
    if (m.index > 0) starts.push(m.index);
  const pieces: string[] = [];
  const diagnostics: ConfigDiagnostic[] = [];
  let skippedKinds = 0;
  let skippedEmpty = 0;
  let line = 1;
  let changed = false;
  for (let i = 0; i < starts.length; i++) {
    const from = starts[i] as number;
    const to = starts[i + 1] ?? source.length;
    const segment = source.slice(from, to);
    const lines = countLines(source, from, to);
    let skip = false;
    if (!DIRECTIVE.test(segment)) {
      if (!CONTENT_LINE.test(segment) && !MARKER_CONTENT.test(segment)) {
        // Only the first segment may be empty without a marker; the parser ignores that one anyway.
        skip = from > 0 || segment.length > 0;
        if (skip) skippedEmpty++;
      } else {
        const kind = TOP_LEVEL_KIND.exec(segment);
        const name = kind?.[3];
        if (kind && name !== undefined && !supported.has(name)) {
          skip = true;
          skippedKinds++;
          const apiVersion = TOP_LEVEL_API_VERSION.exec(segment)?.[3] ?? "no apiVersion";
          diagnostics.push({
            severity: "warning",
            file,
            line: line + countLines(segment, 0, kind.index),
            column: 1,
            path: "kind",
            reason: `unsupported kind ${name} (${apiVersion}); skipped`,
          });
        }
      }
    }
    if (skip) {
      pieces.push("\n".repeat(lines));
      changed = true;
    } else pieces.push(segment);
    line += lines;
  }
  return { text: changed ? pieces.join("") : source, diagnostics, skippedKinds, skippedEmpty };
}

/**
 * Pre-scan + parse of one file: what the parse worker runs, and what runs in-thread where no
 * worker can (see MeshParseWorker).
 *
 * @example
 * const parsed = parseMeshFileFiltered("all.yaml", helmOutput);
 */
export function parseMeshFileFiltered(file: string, text: string): ParsedFile {
  const filtered = prefilterMeshYaml(file, text, SUPPORTED_KINDS);
  const parsed = parseMeshFile(file, filtered.text);
  if (filtered.diagnostics.length === 0) return parsed;
  // Skipped-kind warnings go first: they come from earlier in the pipeline, and sorting by line
  // would interleave them with no gain.
  return { ...parsed, diagnostics: [...filtered.diagnostics, ...parsed.diagnostics] };
}
