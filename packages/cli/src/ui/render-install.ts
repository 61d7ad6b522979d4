import type { InstallProgressStore } from "./install-progress-store.js";
import type { LiveView } from "./render-lab.js";

/**
 * Draws the live install progress until stopped. ink and React load lazily, only on a terminal.
 *
 * @example
 * const view = await startInstallProgressView(store);
 * try { await installMeshctl({ ...options, onProgress: store.push }); } finally { await view.stop(); }
 */
export async function startInstallProgressView(store: InstallProgressStore): Promise<LiveView> {
  const [{ render }, { createElement }, { InstallProgressView }] = await Promise.all([
    import("ink"),
    import("react"),
    import("./InstallProgressView.js"),
  ]);
  const instance = render(createElement(InstallProgressView, { store }), {
    patchConsole: false,
    exitOnCtrlC: false,
  });
  // The elapsed clock advances between events too.
  const timer = setInterval(() => instance.rerender(createElement(InstallProgressView, { store })), 500);
  return {
    async stop() {
      clearInterval(timer);
      instance.clear();
      instance.unmount();
      await instance.waitUntilExit();
    },
  };
}
