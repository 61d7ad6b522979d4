import { useSyncExternalStore } from "react";
import type { LabProgressState, LabProgressStore } from "./lab-progress-store.js";

/** The current lab progress, re-rendering on every event. */
export function useLabProgress(store: LabProgressStore): LabProgressState {
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
