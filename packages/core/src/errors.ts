/**
 * Typed errors with stable codes. Every library throws a `MeshctlError` (or a subclass) for
 * user and environment problems; anything else reaching the CLI's handler is a bug.
 */

const MESHCTL_ERROR = Symbol.for("meshctl.error");

/** How the CLI should treat an error: user/environment problems print no stack. */
export type ErrorKind = "usage" | "environment" | "external" | "not-available" | "bug";

/** Stable process exit codes, documented in docs/errors.md. */
export const EXIT_CODES = {
  ok: 0,
  bug: 1,
  usage: 2,
  "not-available": 2,
  environment: 3,
  external: 4,
  checkFailed: 5,
} as const;

export interface MeshctlErrorOptions {
  /** What the user can do about it, one sentence each. */
  readonly suggestions?: readonly string[];
  readonly cause?: unknown;
  readonly kind?: ErrorKind;
  /** Extra structured data, copied into `--json` output. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The base of every error meshctl raises on purpose.
 *
 * @example
 * throw new MeshctlError("EBPF_PERMISSION_DENIED", "Loading BPF programs needs root or CAP_BPF.", {
 *   kind: "environment",
 *   suggestions: ["Run meshctl with sudo."],
 * });
 */
export class MeshctlError extends Error {
  readonly code: string;
  readonly suggestions: readonly string[];
  readonly kind: ErrorKind;
  readonly details: Readonly<Record<string, unknown>>;
  readonly [MESHCTL_ERROR] = true;

  constructor(code: string, message: string, options: MeshctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MeshctlError";
    this.code = code;
    this.suggestions = options.suggestions ?? [];
    this.kind = options.kind ?? "environment";
    this.details = options.details ?? {};
  }

  /** The process exit code this error maps to. */
  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }

  /** A stable JSON shape for `--json` output. */
  toJSON(): {
    code: string;
    message: string;
    kind: ErrorKind;
    suggestions: readonly string[];
    details: Readonly<Record<string, unknown>>;
  } {
    return {
      code: this.code,
      message: this.message,
      kind: this.kind,
      suggestions: this.suggestions,
      details: this.details,
    };
  }
}

/**
 * True for any MeshctlError, also across copies of this package (realms, bundles).
 *
 * @example
 * if (isMeshctlError(err)) console.log(err.code);
 */
export function isMeshctlError(value: unknown): value is MeshctlError {
  return value instanceof Error && (value as unknown as Record<symbol, unknown>)[MESHCTL_ERROR] === true;
}

/**
 * For capabilities that are designed but not built yet: a clear, stable refusal.
 *
 * @example
 * throw notAvailableYet("meshctl install", "the Kubernetes installer arrives with a later release");
 */
export function notAvailableYet(what: string, why: string): MeshctlError {
  return new MeshctlError("NOT_AVAILABLE_YET", `${what} is not available yet: ${why}.`, {
    kind: "not-available",
    suggestions: ["Run `meshctl --help` to see what works today."],
  });
}

/** The message of anything thrown, for `catch (e: unknown)`. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
