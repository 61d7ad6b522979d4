import type { LabProgressStore } from "./lab-progress-store.js";

/** A live ink view; `stop()` erases it so the final report prints on a clean screen. */
export interface LiveView {
  stop(): Promise<void>;
}

/**
 * Draws the live lab progress until stopped. ink and React load lazily, only on a terminal.
 *
 * @example
 * const view = await startLabProgressView(store);
 * try { await runLab({ onProgress: store.push }); } finally { await view.stop(); }
 */
export async function startLabProgressView(store: LabProgressStore): Promise<LiveView> {
  const [{ render }, { createElement }, { LabProgressView }] = await Promise.all([
    import("ink"),
    import("react"),
    import("./LabProgressView.js"),
  ]);
  const instance = render(createElement(LabProgressView, { store }), {
    patchConsole: false,
    exitOnCtrlC: false,
  });
  // Elapsed/ETA advance between events too.
  const timer = setInterval(() => instance.rerender(createElement(LabProgressView, { store })), 500);
  return {
    async stop() {
      clearInterval(timer);
      instance.clear();
      instance.unmount();
      await instance.waitUntilExit();
    },
  };
}
