import type { LoadProgressStore } from "./load-progress-store.js";

/** A live ink view; `stop()` erases it so the final report prints on a clean screen. */
export interface LoadLiveView {
  stop(): Promise<void>;
}

/**
 * Draws live `bench run` progress until stopped. ink and React load lazily, only on a terminal.
 *
 * @example
 * const view = await startLoadProgressView(store);
 * try { await runLoad({ ...options, onProgress: store.push }); } finally { await view.stop(); }
 */
export async function startLoadProgressView(store: LoadProgressStore): Promise<LoadLiveView> {
  const [{ render }, { createElement }, { LoadProgressView }] = await Promise.all([
    import("ink"),
    import("react"),
    import("./LoadProgressView.js"),
  ]);
  const instance = render(createElement(LoadProgressView, { store }), {
    patchConsole: false,
    exitOnCtrlC: false,
  });
  return {
    async stop() {
      instance.clear();
      instance.unmount();
      await instance.waitUntilExit();
    },
  };
}
