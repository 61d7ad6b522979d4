/**
 * Named tracers, enabled with MESHCTL_TRACE=xds,ebpf (or `all`, and `-name` to exclude).
 * Libraries never print: a tracer writes to the sink the application installs (stderr by default
 * in the CLI), so tests and embedders decide where diagnostics go.
 */

export type TraceSink = (tracer: string, message: string) => void;

export interface Tracer {
  readonly enabled: boolean;
  (message: string | (() => string)): void;
}

let sink: TraceSink | undefined;

/** Installs where trace lines go; the CLI sets stderr. */
export function setTraceSink(next: TraceSink | undefined): void {
  sink = next;
}

function isEnabled(name: string, spec: string): boolean {
  const parts = spec
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.includes(`-${name}`)) return false;
  return parts.includes("all") || parts.includes(name);
}

/**
 * Creates a tracer for one subsystem.
 *
 * @example
 * const trace = createTracer("xds");
 * trace(() => `push to ${node}`);
 */
export function createTracer(name: string, spec: string = process.env.MESHCTL_TRACE ?? ""): Tracer {
  const enabled = isEnabled(name, spec);
  const fn = ((message: string | (() => string)) => {
    if (!enabled || !sink) return;
    sink(name, typeof message === "function" ? message() : message);
  }) as Tracer;
  Object.defineProperty(fn, "enabled", { value: enabled });
  return fn;
}
