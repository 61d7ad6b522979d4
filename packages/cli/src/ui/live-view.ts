import type { FunctionComponent } from "react";

/** A live ink view; `stop()` erases it so the final report prints on a clean screen. */
export interface LiveView {
  stop(): Promise<void>;
}

/**
 * Draws `component` with `props` until stopped, redrawn every 500 ms so clocks advance between
 * events. ink and React load lazily, only on a terminal.
 *
 * @example
 * const view = await startLiveView(async () => (await import("./LabProgressView.js")).LabProgressView, { store });
 * try { await work(); } finally { await view.stop(); }
 */
export async function startLiveView<P extends object>(
  load: () => Promise<FunctionComponent<P>>,
  props: P,
): Promise<LiveView> {
  const [{ render }, { createElement }, component] = await Promise.all([
    import("ink"),
    import("react"),
    load(),
  ]);
  const instance = render(createElement(component, props), { patchConsole: false, exitOnCtrlC: false });
  const timer = setInterval(() => instance.rerender(createElement(component, props)), 500);
  return {
    async stop() {
      clearInterval(timer);
      instance.clear();
      instance.unmount();
      await instance.waitUntilExit();
    },
  };
}
