/**
 * A source that serves given objects or a given model, changed only by `update()`: tests, the
 * lab, and programs that compute their mesh. Objects are parsed like YAML documents (through
 * an ObjectReader), so the same validation applies and diagnostics name `Kind/ns/name`.
 */
import { assembleMeshModel } from "./assemble.js";
import { diffMeshModels } from "./diff.js";
import { type MeshItem, parseMeshObject } from "./parse-documents.js";
import {
  diagnosticDelta,
  hashAcceptedObjects,
  type MeshSnapshot,
  type MeshSource,
  type MeshSourceEvent,
} from "./source.js";
import { type ConfigDiagnostic, configKeyString, type MeshModel } from "./types.js";

/** Kubernetes/Istio objects (plain data, as an API server returns them) or a ready model. */
export type StaticMeshInput = readonly object[] | MeshModel;

export interface StaticMeshSource extends MeshSource {
  /** Replaces what is served; unchanged objects are not reported as changed. */
  update(input: StaticMeshInput): void;
}

function isModel(input: StaticMeshInput): input is MeshModel {
  return !Array.isArray(input);
}

/**
 * @example
 * const source = staticMeshSource([{ apiVersion: "v1", kind: "Service", metadata: { name: "echo", namespace: "demo" }, spec: { ports: [{ name: "grpc", port: 7070 }] } }]);
 * const xds = await startXdsServer({ source, port: 0 });
 * source.update([...]); // pushed like any other change
 */
export function staticMeshSource(initial: StaticMeshInput): StaticMeshSource {
  const lastGood = new Map<string, MeshItem>();
  let previous: ReturnType<typeof assembleMeshModel> | undefined;
  let generation = 0;
  const build = (input: StaticMeshInput): MeshSnapshot => {
    if (isModel(input))
      return { model: input, diagnostics: [], rejectedFiles: [], generation, hash: `model-${generation}` };
    const diagnostics: ConfigDiagnostic[] = [];
    const rejected: string[] = [];
    const seen = new Set<string>();
    for (const object of input) {
      const parsed = parseMeshObject(object);
      diagnostics.push(...parsed.diagnostics);
      if (!parsed.key) {
        if (!parsed.valid) rejected.push(parsed.diagnostics[0]?.file ?? "object");
        continue;
      }
      const id = configKeyString(parsed.key);
      seen.add(id);
      if (parsed.item) lastGood.set(id, parsed.item);
      else if (!parsed.valid) rejected.push(id);
    }
    for (const id of [...lastGood.keys()]) if (!seen.has(id)) lastGood.delete(id);
    const assembled = assembleMeshModel([...lastGood.values()], previous ? { previous } : {});
    previous = assembled;
    return {
      model: assembled.model,
      diagnostics: [...diagnostics, ...assembled.diagnostics],
      rejectedFiles: rejected,
      generation,
      hash: hashAcceptedObjects(lastGood.entries()),
    };
  };
  let current = build(initial);
  let listener: ((event: MeshSourceEvent) => void) | undefined;
  return {
    description: isModel(initial) ? "static model" : `static (${initial.length} objects)`,
    async start(onEvent) {
      listener = onEvent;
      return current;
    },
    current: () => current,
    update(input) {
      const before = current;
      const next = build(input);
      const change = diffMeshModels(before.model, next.model);
      const delta = diagnosticDelta(before.diagnostics, next.diagnostics);
      if (change.keys.length > 0) {
        generation++;
        current = { ...next, generation, hash: isModel(input) ? `model-${generation}` : next.hash };
        listener?.({
          type: "config-applied",
          snapshot: current,
          change,
          newDiagnostics: delta.added,
          resolvedDiagnostics: delta.resolved,
        });
      } else {
        current = { ...next, model: before.model, generation };
        if (delta.added.length > 0 || delta.resolved.length > 0)
          listener?.({
            type: "diagnostics-changed",
            snapshot: current,
            newDiagnostics: delta.added,
            resolvedDiagnostics: delta.resolved,
          });
      }
    },
    close() {
      listener = undefined;
    },
  };
}
