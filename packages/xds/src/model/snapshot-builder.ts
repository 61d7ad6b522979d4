/**
 * Accepted objects -> a MeshSnapshot: the step every object-keeping source shares (a YAML
 * directory, Kubernetes informers). It assembles the model, keeps the previous model's identity
 * when nothing in it changed (so "did the model change?" is a pointer comparison), and counts
 * generations.
 */
import { type AssembledMesh, type AssembleOptions, assembleMeshModel } from "./assemble.js";
import { diffMeshModels } from "./diff.js";
import type { MeshItem } from "./parse-documents.js";
import { hashAcceptedObjects, type MeshSnapshot } from "./source.js";
import type { ConfigDiagnostic } from "./types.js";

export class MeshSnapshotBuilder {
  private assembled: AssembledMesh | undefined;
  private generation = 0;

  constructor(private readonly options: Omit<AssembleOptions, "previous"> = {}) {}

  /**
   * @param accepted every object's last good item by key, sorted by key.
   * @param diagnostics the objects' current problems (assembly warnings are added).
   * @param rejected files or `Kind/ns/name` objects whose current version is rejected.
   *
   * @example
   * const builder = new MeshSnapshotBuilder({ endpointLabels: "pods" });
   * const snapshot = builder.build([["Service/demo/echo", item]], [], []);
   */
  build(
    accepted: readonly (readonly [string, MeshItem])[],
    diagnostics: readonly ConfigDiagnostic[],
    rejected: readonly string[],
  ): MeshSnapshot {
    const previous = this.assembled;
    const assembled = assembleMeshModel(
      accepted.map(([, item]) => item),
      previous ? { ...this.options, previous } : this.options,
    );
    this.assembled =
      previous && diffMeshModels(previous.model, assembled.model).keys.length === 0
        ? { ...assembled, model: previous.model }
        : assembled;
    const model = this.assembled.model;
    if (model !== previous?.model) this.generation++;
    // The content hash is only needed by whoever asks (tests, tools): computed on first use.
    let hash: string | undefined;
    return {
      model,
      diagnostics: [...diagnostics, ...assembled.diagnostics],
      rejectedFiles: rejected,
      generation: this.generation,
      get hash() {
        hash ??= hashAcceptedObjects(accepted);
        return hash;
      },
    };
  }
}
