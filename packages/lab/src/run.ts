import { isMeshctlError, MeshctlError } from "@meshctl/core";
import { abortedError } from "./preflight.js";
import { compareScenarios, curvesOf, summarizeRounds } from "./rounds.js";
import { LabSession } from "./session.js";
import type { LabOptions, LabResult } from "./types.js";

/**
 * Builds the lab, measures every scenario in interleaved rounds, tears everything down (also on
 * error and when `signal` aborts) and returns the comparison.
 *
 * @example
 * const result = await runLab({ scenarios: ["direct", "sidecar", "sidecar-ebpf"], durationSeconds: 10 });
 * result.comparisons.find((c) => c.id === "ebpf-gain");
 */
export async function runLab(options: LabOptions = {}): Promise<LabResult> {
  const startedAt = new Date();
  if (options.signal?.aborted) throw abortedError();
  const lab = await LabSession.start(options);
  let result: LabResult | undefined;
  let failure: unknown;
  try {
    const { measurements, warnings } = await lab.measure(options.signal);
    const summaries = summarizeRounds(measurements, lab.scenarios, lab.options.rates);
    const ebpfCounters = await lab.ebpfCounters();
    result = {
      schema: "meshctl.bench.lab/v2",
      startedAt: startedAt.toISOString(),
      durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
      options: lab.options,
      environment: await lab.environment(),
      skipped: lab.skipped,
      measurements,
      summaries,
      comparisons: compareScenarios(summaries),
      curves: curvesOf(summaries),
      ...(ebpfCounters ? { ebpfCounters } : {}),
      warnings: [...lab.warnings, ...warnings],
    };
  } catch (error) {
    failure =
      options.signal?.aborted && !(isMeshctlError(error) && error.code === "LAB_ABORTED")
        ? abortedError()
        : error;
  }
  const problems = await lab.teardown();
  if (failure) throw failure;
  if (problems.length > 0) {
    throw new MeshctlError(
      "LAB_TEARDOWN_INCOMPLETE",
      `The lab ran but could not remove everything: ${problems.join("; ")}`,
      {
        kind: "environment",
        suggestions: ["Run `meshctl bench --cleanup` to remove leftovers."],
        details: { problems },
      },
    );
  }
  return result!;
}
