import { useSyncExternalStore } from "react";
import type { InstallProgressState, InstallProgressStore } from "./install-progress-store.js";

/** The current install progress, re-rendering on every event. */
export function useInstallProgress(store: InstallProgressStore): InstallProgressState {
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
