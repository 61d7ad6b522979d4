import type { LabProgressStore } from "./lab-progress-store.js";
import { type LiveView, startLiveView } from "./live-view.js";

export type { LiveView } from "./live-view.js";

/**
 * Draws the live lab progress until stopped (elapsed and ETA advance between events too).
 *
 * @example
 * const view = await startLabProgressView(store);
 * try { await runLab({ onProgress: store.push }); } finally { await view.stop(); }
 */
export function startLabProgressView(store: LabProgressStore): Promise<LiveView> {
  return startLiveView(async () => (await import("./LabProgressView.js")).LabProgressView, { store });
}
