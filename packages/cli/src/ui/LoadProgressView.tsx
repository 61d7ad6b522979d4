import { formatUs } from "@meshctl/bench";
import { Box, Text } from "ink";
import type { LoadProgressState, LoadProgressStore } from "./load-progress-store.js";
import { useLoadProgress } from "./use-load-progress.js";

function bar(fraction: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
}

function clock(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "--:--";
  const s = Math.max(0, Math.round(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

export interface LoadProgressFrameProps {
  readonly state: LoadProgressState;
}

/** One frame of the live `bench run` view: bar, elapsed/ETA, current rate, running p50/p99. */
export function LoadProgressFrame({ state }: LoadProgressFrameProps) {
  const p = state.progress;
  if (!p) {
    return (
      <Text>
        <Text bold>meshctl bench run</Text>
        <Text dimColor>{`  ${state.target} · connecting`}</Text>
      </Text>
    );
  }
  const warm = p.phase === "warmup";
  // ETA from the fraction done: exact for timed runs, an estimate for request-count runs.
  const eta =
    p.fraction > 0 && p.fraction < 1
      ? (p.elapsedMs / p.fraction) * (1 - p.fraction)
      : p.fraction >= 1
        ? 0
        : undefined;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>meshctl bench run</Text>
        <Text dimColor>{`  ${state.target}`}</Text>
      </Text>
      <Text>
        <Text color={warm ? "yellow" : "cyan"}>{warm ? "warming up " : "measuring  "}</Text>
        <Text>{bar(p.fraction, 30)}</Text>
        <Text
          dimColor
        >{` ${Math.round(p.fraction * 100)}%  elapsed ${clock(p.elapsedMs)} · ETA ${clock(eta)}`}</Text>
      </Text>
      <Text>
        <Text>{`${p.currentQps.toLocaleString("en-US")} req/s`}</Text>
        <Text dimColor>{` · ${p.requests.toLocaleString("en-US")} requests`}</Text>
        {!warm && <Text>{` · p50 ${formatUs(p.p50Us)} · p99 ${formatUs(p.p99Us)}`}</Text>}
        {p.errors > 0 ? (
          <Text color="red">{` · ${p.errors} errors`}</Text>
        ) : (
          <Text dimColor>{" · 0 errors"}</Text>
        )}
      </Text>
    </Box>
  );
}

export interface LoadProgressViewProps {
  readonly store: LoadProgressStore;
}

/** `meshctl bench run` on a terminal while the load runs. */
export function LoadProgressView({ store }: LoadProgressViewProps) {
  const state = useLoadProgress(store);
  return <LoadProgressFrame state={state} />;
}
