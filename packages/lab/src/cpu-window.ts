import { type CgroupCpu, readCgroupCpu } from "@meshctl/pod";
import type { TracedRequest } from "./breakdown.js";
import type { LabCpuPart, LabCpuUse, LabMeasurement } from "./types.js";

/**
 * CPU per part (cgroup `cpu.stat`) over the measured phase of one measurement: opened when the
 * load generator reports its measured phase began, closed when it exited. The requests in that
 * window come from the client's trace (sent at or after the window opened), so process start
 * and warm-up count neither as CPU nor as requests.
 *
 * @example
 * const cpu = new CpuWindow([["server-sidecar", pod.sidecarCgroup]]);
 * cpu.open(); ... await cpu.close();
 * await cpu.result(trace, Date.parse(result.startedAt), result.requests);
 */
export class CpuWindow {
  private start: Promise<{ at: number; use: (CgroupCpu | undefined)[] }> | undefined;
  private end: { at: number; use: (CgroupCpu | undefined)[] } | undefined;

  constructor(private readonly parts: readonly (readonly [LabCpuPart, string])[]) {}

  private async snapshot(): Promise<{ at: number; use: (CgroupCpu | undefined)[] }> {
    const at = Date.now();
    const use = await Promise.all(this.parts.map(([, path]) => readCgroupCpu(path).catch(() => undefined)));
    return { at, use };
  }

  /** Opens the window (only the first call counts). */
  open(): void {
    this.start ??= this.snapshot();
  }

  async close(): Promise<void> {
    if (this.start) this.end = await this.snapshot();
  }

  /**
   * CPU each part used in the window and the requests sent in it; undefined when the window never
   * opened or `cpu.stat` could not be read.
   */
  async result(
    trace: readonly TracedRequest[],
    measureStartEpochMs: number,
    measuredRequests: number,
  ): Promise<LabMeasurement["cpu"]> {
    if (!this.start || !this.end) return undefined;
    const start = await this.start;
    const end = this.end;
    const parts: Partial<Record<LabCpuPart, LabCpuUse>> = {};
    this.parts.forEach(([part], i) => {
      const a = start.use[i];
      const b = end.use[i];
      if (a && b) parts[part] = { userUs: b.userUs - a.userUs, systemUs: b.systemUs - a.systemUs };
    });
    if (Object.keys(parts).length === 0) return undefined;
    const fromMs = start.at - measureStartEpochMs;
    const requests =
      trace.length > 0 ? trace.filter(([, sentMs]) => sentMs >= fromMs).length : measuredRequests;
    return { requests, parts };
  }
}
