/**
 * CPU and memory of the control plane's processes, from /proc: CPU seconds per phase
 * (utime + stime of /proc/<pid>/stat) and peak RSS (VmHWM of /proc/<pid>/status, plus VmRSS
 * sampled every 500 ms, which also works where VmHWM was reset or is missing).
 */
import { readFileSync } from "node:fs";
import { runCommand } from "@meshctl/core";

let clockTicksCache: number | undefined;

/** `getconf CLK_TCK`, once per process; 100 when it cannot be read. */
export async function clockTicksPerSecond(): Promise<number> {
  if (clockTicksCache !== undefined) return clockTicksCache;
  const r = await runCommand("getconf", ["CLK_TCK"], { reject: false, timeoutMs: 5000 }).catch(
    () => undefined,
  );
  const n = Number(r?.stdout.trim());
  clockTicksCache = Number.isFinite(n) && n > 0 ? n : 100;
  return clockTicksCache;
}

/** utime + stime of a process in clock ticks, or undefined once it is gone. */
export function readProcessCpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name (field 2) may contain spaces and parentheses: fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM in KiB, or undefined once the process is gone. */
export function readProcessMemory(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "latin1");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
    return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
  } catch {
    return undefined;
  }
}

export interface ProcessUsage {
  /** CPU seconds per phase. */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  /** Peak RSS (VmHWM when known, else the sampled maximum), MiB. */
  readonly peakRssMiB: number;
  /** Highest VmRSS sampled, MiB. */
  readonly sampledPeakRssMiB: number;
}

/**
 * Samples named processes (e.g. `{ server: pid }` or `{ istiod, apiserver, etcd }`).
 *
 * @example
 * const sampler = await ProcessSampler.start({ server: pid });
 * sampler.mark("initial"); // ... later
 * sampler.mark("churn");
 * sampler.stop().server?.cpuSeconds.churn;
 */
export class ProcessSampler {
  private readonly last = new Map<string, number>();
  private readonly cpu = new Map<string, Record<string, number>>();
  private readonly peakRss = new Map<string, number>();
  private readonly hwm = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly pids: Readonly<Record<string, number>>,
    private readonly ticks: number,
    intervalMs: number,
    countFromStart: readonly string[],
  ) {
    for (const [name, pid] of Object.entries(pids)) {
      const now = readProcessCpuTicks(pid) ?? 0;
      this.last.set(name, now);
      // A process started just for this run: what it used so far is its start-up (initial load).
      this.cpu.set(
        name,
        countFromStart.includes(name) ? { start: Math.round((now / ticks) * 100) / 100 } : {},
      );
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /**
   * Starts sampling. CPU is booked from now on, except for the processes named in
   * `countFromStart`, whose CPU so far is booked to phase `start`.
   */
  static async start(
    pids: Readonly<Record<string, number>>,
    intervalMs = 500,
    countFromStart: readonly string[] = [],
  ): Promise<ProcessSampler> {
    return new ProcessSampler(pids, await clockTicksPerSecond(), intervalMs, countFromStart);
  }

  private sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const mem = readProcessMemory(pid);
      if (!mem) continue;
      this.peakRss.set(name, Math.max(this.peakRss.get(name) ?? 0, mem.rssKiB));
      this.hwm.set(name, Math.max(this.hwm.get(name) ?? 0, mem.hwmKiB));
    }
  }

  /** Ends a phase: CPU used since the previous mark is booked to `phase`. */
  mark(phase: string): void {
    this.sample();
    for (const [name, pid] of Object.entries(this.pids)) {
      const now = readProcessCpuTicks(pid);
      if (now === undefined) continue;
      const used = (now - (this.last.get(name) ?? now)) / this.ticks;
      this.last.set(name, now);
      const phases = this.cpu.get(name) as Record<string, number>;
      phases[phase] = Math.round(((phases[phase] ?? 0) + used) * 100) / 100;
    }
  }

  stop(): Record<string, ProcessUsage> {
    this.sample();
    clearInterval(this.timer);
    const out: Record<string, ProcessUsage> = {};
    for (const name of Object.keys(this.pids)) {
      const sampled = (this.peakRss.get(name) ?? 0) / 1024;
      const hwm = (this.hwm.get(name) ?? 0) / 1024;
      const cpuSeconds = { ...(this.cpu.get(name) ?? {}) };
      cpuSeconds.total = Math.round(Object.values(cpuSeconds).reduce((s, v) => s + v, 0) * 100) / 100;
      out[name] = {
        cpuSeconds,
        peakRssMiB: Math.round(Math.max(hwm, sampled) * 10) / 10,
        sampledPeakRssMiB: Math.round(sampled * 10) / 10,
      };
    }
    return out;
  }
}
