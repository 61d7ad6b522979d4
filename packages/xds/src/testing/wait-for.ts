/**
 * Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`.
 *
 * @example
 * await waitFor(() => server.clients().length === 1, { timeoutMs: 5000 });
 */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${opts.what ?? "condition"}${lastError ? `: ${String(lastError)}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}
