import type { LabLiveFigures, LabMeasurement, LabProgressEvent, LabRate, LabScenario } from "@meshctl/lab";

/** What the live lab view draws, folded from the lab's progress events. */
export interface LabProgressState {
  readonly phase: "preflight" | "setup" | "measure" | "teardown";
  readonly message: string;
  readonly current:
    | {
        readonly scenario: LabScenario;
        /** The target rate of the measurement in progress (req/s, or `max` for closed loop). */
        readonly rate: LabRate;
        readonly round: number;
        readonly index: number;
        readonly total: number;
        readonly seconds: number;
        readonly elapsedSeconds: number;
        readonly live: LabLiveFigures | undefined;
      }
    | undefined;
  readonly etaSeconds: number | undefined;
  readonly startedAt: number;
  readonly done: readonly LabMeasurement[];
  readonly warnings: readonly string[];
}

/**
 * Folds one progress event into the view state. Pure, so the view and its tests agree.
 *
 * @example
 * const next = reduceLabProgress(state, { type: "phase", phase: "setup", message: "building" });
 */
export function reduceLabProgress(state: LabProgressState, event: LabProgressEvent): LabProgressState {
  switch (event.type) {
    case "phase":
      return {
        ...state,
        phase: event.phase,
        message: event.message,
        ...(event.phase === "teardown" ? { current: undefined } : {}),
      };
    case "measurement-start":
      return {
        ...state,
        phase: "measure",
        current: {
          scenario: event.scenario,
          rate: event.rate,
          round: event.round,
          index: event.index,
          total: event.total,
          seconds: event.seconds,
          elapsedSeconds: 0,
          live: undefined,
        },
        etaSeconds: event.etaSeconds,
      };
    case "measurement-tick":
      if (!state.current) return state;
      return {
        ...state,
        current: {
          ...state.current,
          elapsedSeconds: event.elapsedSeconds,
          live: event.live ?? state.current.live,
        },
        etaSeconds: event.etaSeconds,
      };
    case "measurement-done":
      return { ...state, done: [...state.done, event.measurement] };
    case "warning":
      return { ...state, warnings: [...state.warnings, event.message] };
  }
}

/** The initial state. */
export function initialLabProgress(now = Date.now()): LabProgressState {
  return {
    phase: "preflight",
    message: "starting",
    current: undefined,
    etaSeconds: undefined,
    startedAt: now,
    done: [],
    warnings: [],
  };
}

/** A tiny external store the command feeds and the view subscribes to (useSyncExternalStore). */
export class LabProgressStore {
  private state: LabProgressState = initialLabProgress();
  private readonly listeners = new Set<() => void>();

  /** Feeds a lab event. */
  readonly push = (event: LabProgressEvent): void => {
    this.state = reduceLabProgress(this.state, event);
    for (const l of this.listeners) l();
  };

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): LabProgressState => this.state;
}
