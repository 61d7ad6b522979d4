import type { InstallProgressStore } from "./install-progress-store.js";
import { type LiveView, startLiveView } from "./live-view.js";

/**
 * Draws the live install progress until stopped (the elapsed clock advances between events too).
 *
 * @example
 * const view = await startInstallProgressView(store);
 * try { await installMeshctl({ ...options, onProgress: store.push }); } finally { await view.stop(); }
 */
export function startInstallProgressView(store: InstallProgressStore): Promise<LiveView> {
  return startLiveView(async () => (await import("./InstallProgressView.js")).InstallProgressView, { store });
}
