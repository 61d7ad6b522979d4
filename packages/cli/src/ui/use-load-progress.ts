import { useSyncExternalStore } from "react";
import type { LoadProgressState, LoadProgressStore } from "./load-progress-store.js";

/** The latest load progress, re-rendering on every snapshot. */
export function useLoadProgress(store: LoadProgressStore): LoadProgressState {
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
