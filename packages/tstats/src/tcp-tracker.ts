/**
 * TCP metrics for a socket, the way Istio's network `istio.stats` filter reports them: the
 * connection counts as opened once its peer is known, byte counters advance by deltas on a timer
 * (`tcp_reporting_duration`, 5 s by default) and at close, where the close is counted.
 */
import type { Socket } from "node:net";
import type { CallSite, PeerHandle, TstatsRecorder } from "./recorder.js";

export interface TcpTrackOptions {
  readonly site: CallSite;
  readonly peer: PeerHandle;
  /** Periodic byte reporting; default 5000 ms, 0 disables the timer. */
  readonly reportingIntervalMs?: number;
  /** Bytes already consumed by a metadata-exchange frame, not counted as payload. */
  readonly excludeReadBytes?: number;
}

/**
 * Starts reporting a socket's TCP metrics; returns a function that flushes the byte deltas now.
 *
 * @example
 * net.createServer((socket) => {
 *   trackTcpSocket(recorder, socket, { site: recorder.callSite({ reporter: "destination" }), peer });
 * });
 */
export function trackTcpSocket(
  recorder: TstatsRecorder,
  socket: Socket,
  options: TcpTrackOptions,
): () => void {
  const series = recorder.tcpSeries(options.site, options.peer);
  series.opened++;
  let sent = 0;
  let received = options.excludeReadBytes ?? 0;
  const flush = (): void => {
    const w = socket.bytesWritten;
    const r = socket.bytesRead;
    if (w > sent) series.sentBytes += w - sent;
    if (r > received) series.receivedBytes += r - received;
    sent = Math.max(sent, w);
    received = Math.max(received, r);
  };
  const interval = options.reportingIntervalMs ?? 5000;
  const timer = interval > 0 ? setInterval(flush, interval) : undefined;
  timer?.unref();
  socket.once("close", () => {
    if (timer) clearInterval(timer);
    flush();
    series.closed++;
  });
  return flush;
}
