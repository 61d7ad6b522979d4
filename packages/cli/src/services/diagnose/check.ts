import type { Check, CheckStatus } from "./types.js";

/**
 * A builder of checks for one group, so every group shapes its findings the same way.
 *
 * @example
 * const check = checkFactory("ebpf");
 * check("attached", "ok", "Acceleration is attached", ["cgroup /sys/fs/cgroup"], null);
 */
export function checkFactory(
  group: string,
): (
  name: string,
  status: CheckStatus,
  summary: string,
  evidence: readonly string[],
  recommendation?: string | null,
) => Check {
  return (name, status, summary, evidence, recommendation = null) => ({
    id: `${group}.${name}`,
    group,
    status,
    summary,
    evidence,
    recommendation,
  });
}
