import type { ParsedTarget } from "../target.js";

/** Completion callback: `null` on success, otherwise an error kind (e.g. "http_503", "ECONNRESET"). */
export type RequestDone = (error: string | null) => void;

/**
 * One transport connection the scheduler sends requests on. Callback-based (no promise per
 * request) because at tens of thousands of requests a second the allocation matters.
 */
export interface LoadConnection {
  /** Requests that may be in flight at once (1 for HTTP/1.1 and TCP, streams for HTTP/2). */
  readonly capacity: number;
  /** False once the transport closed or failed; the scheduler then reconnects. */
  readonly alive: boolean;
  request(done: RequestDone): void;
  /** Fails every in-flight request with `reason` and closes the transport. */
  destroy(reason: string): void;
}

export interface ConnectOptions {
  readonly target: ParsedTarget;
  readonly payload: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly connectTimeoutMs: number;
}

/** Maps a socket/system error to a stable error kind. */
export function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.length > 0) return code;
  return "transport_error";
}
