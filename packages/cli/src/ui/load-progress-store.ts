import type { LoadProgress } from "@meshctl/bench";

/** What the live `bench run` view draws. */
export interface LoadProgressState {
  readonly target: string;
  readonly startedAt: number;
  readonly progress: LoadProgress | undefined;
}

/** A tiny external store the command feeds and the view subscribes to (useSyncExternalStore). */
export class LoadProgressStore {
  private state: LoadProgressState;
  private readonly listeners = new Set<() => void>();

  constructor(target: string, now = Date.now()) {
    this.state = { target, startedAt: now, progress: undefined };
  }

  /** Feeds one engine progress snapshot. */
  readonly push = (progress: LoadProgress): void => {
    this.state = { ...this.state, progress };
    for (const l of this.listeners) l();
  };

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): LoadProgressState => this.state;
}
