import type { DiagnoseReport } from "../services/diagnose/index.js";

/**
 * Draws a static ink view once and waits until it is flushed. ink and React are imported lazily
 * so `meshctl --help` and piped output never load them.
 */
async function renderStatic(element: () => Promise<unknown>): Promise<void> {
  const { render } = await import("ink");
  const node = (await element()) as Parameters<typeof render>[0];
  const instance = render(node, { patchConsole: false });
  instance.unmount();
  await instance.waitUntilExit();
}

/** Renders the diagnose report with ink. */
export async function renderDiagnose(report: DiagnoseReport, verbose: boolean): Promise<void> {
  await renderStatic(async () => {
    const [{ createElement }, { DiagnoseView }] = await Promise.all([
      import("react"),
      import("./DiagnoseView.js"),
    ]);
    return createElement(DiagnoseView, { report, verbose });
  });
}
