import type { LoadProgress } from "@meshctl/bench";
import { render } from "ink-testing-library";
import { expect, test } from "vitest";
import { LoadProgressFrame, LoadProgressView } from "./LoadProgressView.js";
import { LoadProgressStore } from "./load-progress-store.js";

const measuring: LoadProgress = {
  phase: "measure",
  elapsedMs: 2500,
  totalMs: 10_000,
  fraction: 0.25,
  requests: 2500,
  errors: 0,
  currentQps: 1002,
  p50Us: 312,
  p99Us: 2100,
};

async function waitFor(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("shows the bar, elapsed and ETA, current rate and running percentiles", () => {
  const frame =
    render(
      <LoadProgressFrame state={{ target: "http://127.0.0.1:8080/", startedAt: 0, progress: measuring }} />,
    ).lastFrame() ?? "";
  expect(frame).toContain("http://127.0.0.1:8080/");
  expect(frame).toContain("measuring");
  expect(frame).toContain("25%  elapsed 00:03 · ETA 00:08");
  expect(frame).toContain("1,002 req/s · 2,500 requests · p50 312µs · p99 2.1ms · 0 errors");
  expect(frame).toMatch(/█{8}░{22}/);
});

test("warm-up hides percentiles and errors are shown", () => {
  const frame =
    render(
      <LoadProgressFrame
        state={{ target: "x", startedAt: 0, progress: { ...measuring, phase: "warmup", errors: 3 } }}
      />,
    ).lastFrame() ?? "";
  expect(frame).toContain("warming up");
  expect(frame).not.toContain("p50");
  expect(frame).toContain("3 errors");
});

test("the live view follows the store", async () => {
  const store = new LoadProgressStore("tcp://127.0.0.1:7000");
  const { lastFrame } = render(<LoadProgressView store={store} />);
  expect(lastFrame()).toContain("connecting");
  store.push(measuring);
  await waitFor(() => (lastFrame() ?? "").includes("1,002 req/s"));
  store.push({ ...measuring, fraction: 1, elapsedMs: 10_000, currentQps: 990 });
  await waitFor(() => (lastFrame() ?? "").includes("100%  elapsed 00:10 · ETA 00:00"));
});
