/**
 * The source seam (the first level of Pilot's cache): where the mesh model comes from. A source
 * keeps the last good version of every object, assembles the model, and says what changed.
 * Sources: a YAML directory (directory-source.ts), a fixed set of objects or a model
 * (static-source.ts); a Kubernetes informer source plugs in the same way.
 */
import { createHash } from "node:crypto";
import { digestOf } from "./assemble.js";
import { diffMeshModels, type MeshChange } from "./diff.js";
import type { ConfigDiagnostic, MeshModel } from "./types.js";

/** The mesh a source currently serves, with its problems. */
export interface MeshSnapshot {
  readonly model: MeshModel;
  /** Current problems: every rejected object and every cross-object warning. */
  readonly diagnostics: readonly ConfigDiagnostic[];
  /** Files (or `Kind/ns/name` objects) whose current content is rejected; their last good version serves. */
  readonly rejectedFiles: readonly string[];
  /** Increases with every accepted model change. */
  readonly generation: number;
  /** Content hash of the accepted inputs: equal hashes, equal models. */
  readonly hash: string;
}

/** What happened at a source, named for what happened. */
export type MeshSourceEvent =
  | {
      /** The model changed: `change` says how (objects, endpoints only or not). */
      readonly type: "config-applied";
      readonly snapshot: MeshSnapshot;
      readonly change: MeshChange;
      /** Diagnostics that appeared / went away with this change. */
      readonly newDiagnostics: readonly ConfigDiagnostic[];
      readonly resolvedDiagnostics: readonly ConfigDiagnostic[];
    }
  | {
      /** The model did not change, but the problems did (a new error keeps the last good version; a fix of a file whose good content was already served). */
      readonly type: "diagnostics-changed";
      readonly snapshot: MeshSnapshot;
      readonly newDiagnostics: readonly ConfigDiagnostic[];
      readonly resolvedDiagnostics: readonly ConfigDiagnostic[];
    }
  | { readonly type: "source-error"; readonly message: string };

export interface MeshSource {
  /** For logs: `directory ./mesh`, `static (3 objects)`. */
  readonly description: string;
  /** Reads the initial state and starts watching; resolves with the first snapshot. */
  start(onEvent: (event: MeshSourceEvent) => void): Promise<MeshSnapshot>;
  /** The snapshot currently served. */
  current(): MeshSnapshot;
  close(): void;
}

function diagnosticId(d: ConfigDiagnostic): string {
  return `${d.severity}|${d.file}|${d.line}|${d.column}|${d.path}|${d.reason}`;
}

/** Diagnostics present in `after` but not `before`, and the other way round. */
export function diagnosticDelta(
  before: readonly ConfigDiagnostic[],
  after: readonly ConfigDiagnostic[],
): { added: ConfigDiagnostic[]; resolved: ConfigDiagnostic[] } {
  const b = new Set(before.map(diagnosticId));
  const a = new Set(after.map(diagnosticId));
  return {
    added: after.filter((d) => !b.has(diagnosticId(d))),
    resolved: before.filter((d) => !a.has(diagnosticId(d))),
  };
}

/** Content hash of a set of accepted objects (by key), for `MeshSnapshot.hash`. */
export function hashAcceptedObjects(entries: Iterable<readonly [string, object]>): string {
  const hash = createHash("sha256");
  for (const [key, item] of entries) hash.update(`${key}\0${digestOf(item)}\0`);
  return hash.digest("hex");
}

/**
 * The event that reports `next` replacing `before`: `config-applied` when the model changed
 * (with what changed), `diagnostics-changed` when only the problems did, nothing otherwise.
 *
 * @example
 * const event = sourceEventBetween(current, next);
 * if (event) onEvent(event);
 */
export function sourceEventBetween(before: MeshSnapshot, next: MeshSnapshot): MeshSourceEvent | undefined {
  const delta = diagnosticDelta(before.diagnostics, next.diagnostics);
  if (next.model !== before.model)
    return {
      type: "config-applied",
      snapshot: next,
      change: diffMeshModels(before.model, next.model),
      newDiagnostics: delta.added,
      resolvedDiagnostics: delta.resolved,
    };
  if (delta.added.length > 0 || delta.resolved.length > 0)
    return {
      type: "diagnostics-changed",
      snapshot: next,
      newDiagnostics: delta.added,
      resolvedDiagnostics: delta.resolved,
    };
  return undefined;
}
