import type { InstalledObject, InstallProgressEvent, RolloutReport } from "@meshctl/kube";

/** What the live `meshctl install` view draws, folded from the library's progress events. */
export interface InstallProgressState {
  readonly phase: "preflight" | "apply" | "rollout";
  readonly message: string;
  readonly startedAt: number;
  readonly objects: readonly InstalledObject[];
  readonly rollout: { readonly report: RolloutReport; readonly timeoutMs: number } | undefined;
}

/** The initial state. */
export function initialInstallProgress(now = Date.now()): InstallProgressState {
  return { phase: "preflight", message: "connecting", startedAt: now, objects: [], rollout: undefined };
}

/**
 * Folds one progress event into the view state. Pure, so the view, the plain-text lines and the
 * tests agree.
 *
 * @example
 * const next = reduceInstallProgress(state, { type: "phase", phase: "apply", message: "applying 7 objects" });
 */
export function reduceInstallProgress(
  state: InstallProgressState,
  event: InstallProgressEvent,
): InstallProgressState {
  switch (event.type) {
    case "phase":
      return { ...state, phase: event.phase, message: event.message };
    case "object":
      return { ...state, objects: [...state.objects, event.object] };
    case "rollout":
      return { ...state, rollout: { report: event.report, timeoutMs: event.timeoutMs } };
  }
}

/** A tiny external store the command feeds and the view subscribes to (useSyncExternalStore). */
export class InstallProgressStore {
  private state: InstallProgressState;
  private readonly listeners = new Set<() => void>();

  constructor(now = Date.now()) {
    this.state = initialInstallProgress(now);
  }

  readonly push = (event: InstallProgressEvent): void => {
    this.state = reduceInstallProgress(this.state, event);
    for (const l of this.listeners) l();
  };

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): InstallProgressState => this.state;
}
