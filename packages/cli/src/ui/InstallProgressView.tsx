import type { InstalledObject } from "@meshctl/kube";
import { Box, Text } from "ink";
import type { InstallProgressState, InstallProgressStore } from "./install-progress-store.js";
import { useInstallProgress } from "./use-install-progress.js";

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function objectName(o: { kind: string; name: string; namespace?: string }): string {
  return o.namespace ? `${o.kind} ${o.namespace}/${o.name}` : `${o.kind} ${o.name}`;
}

const ACTION_COLOR: Record<InstalledObject["action"], string> = {
  created: "green",
  configured: "yellow",
  unchanged: "gray",
  skipped: "gray",
};

export interface InstallProgressFrameProps {
  readonly state: InstallProgressState;
  /** Wall clock, injectable for tests. */
  readonly now: number;
}

/** One frame of the live install view: phase, objects as they are applied, the rollout. */
export function InstallProgressFrame({ state, now }: InstallProgressFrameProps) {
  const rollout = state.rollout;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>meshctl install</Text>
        <Text
          dimColor
        >{`  ${state.phase} · ${state.message} · elapsed ${clock((now - state.startedAt) / 1000)}`}</Text>
      </Text>
      {state.objects.map((o) => (
        <Text key={objectName(o)}>
          <Text color={ACTION_COLOR[o.action]}>{`${o.action.padEnd(11)}`}</Text>
          <Text>{objectName(o)}</Text>
          {o.reason && <Text dimColor>{`  ${o.reason}`}</Text>}
        </Text>
      ))}
      {rollout && (
        <Box flexDirection="column" marginTop={1}>
          <Text>
            <Text bold>rollout</Text>
            <Text
              dimColor
            >{`  ${clock(rollout.report.elapsedMs / 1000)} of ${clock(rollout.timeoutMs / 1000)}`}</Text>
          </Text>
          {rollout.report.workloads.map((w) => (
            <Text key={objectName(w)}>
              <Text color={w.ready ? "green" : "yellow"}>{w.ready ? "✔ " : "… "}</Text>
              <Text>{`${objectName(w)}: `}</Text>
              <Text dimColor={w.ready}>{w.summary}</Text>
            </Text>
          ))}
        </Box>
      )}
    </Box>
  );
}

export interface InstallProgressViewProps {
  readonly store: InstallProgressStore;
}

/** `meshctl install` on a terminal while it applies and waits. */
export function InstallProgressView({ store }: InstallProgressViewProps) {
  const state = useInstallProgress(store);
  return <InstallProgressFrame state={state} now={Date.now()} />;
}
