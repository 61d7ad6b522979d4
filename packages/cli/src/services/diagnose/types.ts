export type CheckStatus = "ok" | "warn" | "fail";

/** One finding of `meshctl diagnose`. The JSON shape is a public API (schema version 1). */
export interface Check {
  /** Stable id, `<group>.<name>`, e.g. `kernel.bpf-sockmap`. */
  readonly id: string;
  readonly group: string;
  readonly status: CheckStatus;
  readonly summary: string;
  /** What was observed, one fact per line (command output, file contents, versions). */
  readonly evidence: readonly string[];
  /** What to do about it; null when nothing needs doing. */
  readonly recommendation: string | null;
}

export interface DiagnoseReport {
  readonly schemaVersion: 1;
  readonly host: {
    readonly hostname: string;
    readonly kernel: string;
    readonly arch: string;
    readonly cpus: number;
    readonly node: string;
  };
  readonly summary: { readonly ok: number; readonly warn: number; readonly fail: number };
  readonly checks: readonly Check[];
}

/** A source of checks (host, eBPF, VPP, ...). Groups run concurrently; one failing never hides others. */
export interface CheckGroup {
  readonly name: string;
  run(): Promise<readonly Check[]>;
}
