import { MeshctlError, type MeshctlErrorOptions } from "@meshctl/core";

/** Stable error codes of @meshctl/ebpf (documented in docs/ebpf.md). */
export type EbpfErrorCode =
  | "EBPF_PERMISSION_DENIED"
  | "EBPF_NOT_SUPPORTED"
  | "EBPF_VERIFIER_REJECTED"
  | "EBPF_BPFTOOL_MISSING"
  | "EBPF_OBJECT_MISSING"
  | "EBPF_CGROUP_INVALID"
  | "EBPF_FOREIGN_PROGRAM"
  | "EBPF_ALREADY_ENABLED_ELSEWHERE"
  | "EBPF_INVALID_OPTIONS"
  | "EBPF_OPERATION_FAILED";

/**
 * Creates a MeshctlError with an @meshctl/ebpf code.
 *
 * @example
 * throw ebpfError("EBPF_CGROUP_INVALID", "/sys/fs/cgroup/x is not a cgroup v2 directory.", { kind: "usage" });
 */
export function ebpfError(
  code: EbpfErrorCode,
  message: string,
  options: MeshctlErrorOptions = {},
): MeshctlError {
  return new MeshctlError(code, message, options);
}

/** A failed bpftool run: its stderr plus the `{"error": ...}` it prints on stdout in JSON mode. */
export interface BpftoolFailure {
  readonly args: readonly string[];
  readonly exitCode: number;
  readonly output: string;
  readonly notFound: boolean;
  readonly cause?: unknown;
}

const PERMISSION = /Operation not permitted|EPERM\b|Permission denied \(|must be root|CAP_BPF|CAP_SYS_ADMIN/i;
const VERIFIER =
  /BEGIN PROG LOAD LOG|processed \d+ insns|invalid (mem )?access|R\d+ .*(invalid|unbounded)|verifier/i;
const UNSUPPORTED =
  /Invalid argument|EINVAL|not supported|unknown func|program of this type cannot use helper|Unknown (map|prog) type|ENOTSUPP|EOPNOTSUPP/i;

/**
 * Turns a failed bpftool run into a typed error: what happened, in words, and what to do.
 * libbpf prints the verifier log and errno names on stderr; those are the only stable signals.
 */
export function classifyBpftoolFailure(failure: BpftoolFailure, action: string): MeshctlError {
  const stderr = failure.output;
  const error = failure.cause;
  const details = {
    action,
    command: ["bpftool", ...failure.args].join(" "),
    exitCode: failure.exitCode,
    output: stderr.slice(-4000),
  };
  if (failure.notFound) {
    return ebpfError(
      "EBPF_BPFTOOL_MISSING",
      "bpftool is not installed; meshctl loads its BPF programs with it.",
      {
        kind: "environment",
        cause: error,
        details,
        suggestions: [
          "Install bpftool (Debian/Ubuntu: `apt-get install bpftool`; RHEL/Fedora: `dnf install bpftool`).",
        ],
      },
    );
  }
  if (VERIFIER.test(stderr)) {
    const log = stderr.split("\n").filter((l) => l.trim() !== "");
    return ebpfError(
      "EBPF_VERIFIER_REJECTED",
      `The kernel's BPF verifier rejected meshctl's program while ${action}: ${log.slice(-2).join(" | ")}`,
      {
        kind: "environment",
        cause: error,
        details: { ...details, verifierLog: log.slice(-40) },
        suggestions: [
          "Check the kernel version and config with `meshctl diagnose` (needs Linux >= 5.15 with BTF).",
          "Report the verifier log in details.verifierLog with `uname -r`; this is a bug if the kernel is supported.",
        ],
      },
    );
  }
  if (PERMISSION.test(stderr)) {
    return ebpfError("EBPF_PERMISSION_DENIED", `Permission denied while ${action}.`, {
      kind: "environment",
      cause: error,
      details,
      suggestions: [
        "Run as root (sudo), or grant CAP_BPF + CAP_NET_ADMIN + CAP_SYS_ADMIN.",
        "In Kubernetes, run the DaemonSet privileged (see renderEbpfDaemonSet).",
      ],
    });
  }
  if (UNSUPPORTED.test(stderr)) {
    return ebpfError("EBPF_NOT_SUPPORTED", `The kernel refused ${action}: ${lastLine(stderr)}`, {
      kind: "environment",
      cause: error,
      details,
      suggestions: ["Run `meshctl diagnose` to see which BPF feature is missing (needs Linux >= 5.15)."],
    });
  }
  return ebpfError(
    "EBPF_OPERATION_FAILED",
    `bpftool failed while ${action}: ${lastLine(stderr) || `exit code ${failure.exitCode}`}`,
    {
      kind: "external",
      cause: error,
      details,
      suggestions: ["Re-run with MESHCTL_TRACE=ebpf to see every bpftool call."],
    },
  );
}

function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? "";
}
