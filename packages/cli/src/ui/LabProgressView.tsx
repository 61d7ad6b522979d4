import { formatUs } from "@meshctl/bench";
import type { LabRate } from "@meshctl/lab";
import { Box, Text } from "ink";
import type { LabProgressState, LabProgressStore } from "./lab-progress-store.js";
import { useLabProgress } from "./use-lab-progress.js";

/** Finished measurements shown under the current one; older ones are counted, not listed. */
const DONE_ROWS = 12;

function micros(us: number): string {
  return Number.isFinite(us) && us > 0 ? formatUs(us) : "-";
}

/** A target rate: "2,000 req/s" or "max rate" (closed loop). */
function rateLabel(rate: LabRate): string {
  return rate === "max" ? "max rate" : `${rate.toLocaleString("en-US")} req/s`;
}

function bar(fraction: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
}

function clock(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

export interface LabProgressFrameProps {
  readonly state: LabProgressState;
  /** Wall clock, injectable for tests. */
  readonly now: number;
}

/**
 * One frame of the live lab view: phase, the current measurement (scenario, target rate, round)
 * with a bar and live figures, and the last finished measurements.
 */
export function LabProgressFrame({ state, now }: LabProgressFrameProps) {
  const c = state.current;
  const fraction = c ? Math.min(1, c.elapsedSeconds / Math.max(c.seconds, 0.001)) : 0;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>meshctl bench lab</Text>
        <Text
          dimColor
        >{`  ${state.phase} · elapsed ${clock((now - state.startedAt) / 1000)} · ETA ${clock(state.etaSeconds)}`}</Text>
      </Text>
      {!c && <Text dimColor>{state.message}</Text>}
      {c && (
        <Box flexDirection="column">
          <Text>
            <Text color="cyan">{`[${c.index + 1}/${c.total}] ${c.scenario} · ${rateLabel(c.rate)} · round ${c.round}  `}</Text>
            <Text>{bar(fraction, 24)}</Text>
            <Text dimColor>{` ${Math.round(fraction * 100)}%`}</Text>
          </Text>
          <Text dimColor>
            {c.live
              ? `${c.live.phase === "warmup" ? "warming up · " : ""}${Math.round(c.live.currentQps).toLocaleString("en-US")} req/s (${c.rate === "max" ? "closed loop" : `target ${c.rate.toLocaleString("en-US")}`}) · p50 ${micros(c.live.p50Us)} · p99 ${micros(c.live.p99Us)} · ${c.live.errors} errors`
              : "starting the load generator"}
          </Text>
        </Box>
      )}
      {state.done.length > 0 && (
        <Box flexDirection="column" marginTop={1}>
          {state.done.length > DONE_ROWS && (
            <Text dimColor>{`… ${state.done.length - DONE_ROWS} earlier measurements`}</Text>
          )}
          {state.done.slice(-DONE_ROWS).map((m) => (
            <Text key={`${m.scenario}-${m.rate}-${m.round}`}>
              <Text color="green">{"✔ "}</Text>
              <Text>{`${m.scenario.padEnd(14)} ${rateLabel(m.rate).padStart(12)}  #${m.round}  p50 ${micros(m.latencyUs.p50).padStart(7)}  p90 ${micros(m.latencyUs.p90).padStart(7)}  p99 ${micros(m.latencyUs.p99).padStart(7)}`}</Text>
              {m.errors > 0 && <Text color="red">{`  ${m.errors} errors`}</Text>}
              {!m.rateReached && <Text color="yellow">{"  rate not reached"}</Text>}
            </Text>
          ))}
        </Box>
      )}
    </Box>
  );
}

export interface LabProgressViewProps {
  readonly store: LabProgressStore;
}

/** `meshctl bench` on a terminal while the lab runs. */
export function LabProgressView({ store }: LabProgressViewProps) {
  const state = useLabProgress(store);
  return <LabProgressFrame state={state} now={Date.now()} />;
}
