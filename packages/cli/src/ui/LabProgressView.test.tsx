import type { LabMeasurement } from "@meshctl/lab";
import { render } from "ink-testing-library";
import { expect, test } from "vitest";
import { LabProgressFrame, LabProgressView } from "./LabProgressView.js";
import { initialLabProgress, LabProgressStore, reduceLabProgress } from "./lab-progress-store.js";

const measurement: LabMeasurement = {
  scenario: "direct",
  round: 1,
  protocol: "http1",
  requests: 4000,
  errors: 0,
  achievedQps: 1000,
  rateReached: true,
  latencyUs: { p50: 150, p90: 400, p99: 1500, p999: 3000, max: 5000 },
  uncorrectedLatencyUs: { p50: 150, p90: 400, p99: 1500, p999: 3000, max: 5000 },
  raw: null,
};

async function waitFor(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("shows the running measurement with a bar, live rate and percentiles, and finished rows", () => {
  let state = initialLabProgress(0);
  state = reduceLabProgress(state, {
    type: "measurement-start",
    scenario: "sidecar",
    round: 2,
    index: 3,
    total: 6,
    seconds: 5,
    etaSeconds: 15,
  });
  state = reduceLabProgress(state, {
    type: "measurement-tick",
    scenario: "sidecar",
    round: 2,
    index: 3,
    total: 6,
    elapsedSeconds: 2.5,
    etaSeconds: 12.5,
    live: { phase: "measure", requests: 1500, errors: 0, currentQps: 998, p50Us: 312, p99Us: 2100 },
  });
  state = reduceLabProgress(state, { type: "measurement-done", measurement, index: 0, total: 6 });
  const frame = render(<LabProgressFrame state={state} now={30_000} />).lastFrame() ?? "";
  expect(frame).toContain("[4/6] sidecar · round 2");
  expect(frame).toContain("50%");
  expect(frame).toContain("998 req/s · p50 312 µs · p99 2.10 ms");
  expect(frame).toContain("elapsed 00:30 · ETA 00:13");
  expect(frame).toMatch(/✔ direct\s+#1\s+p50\s+150 µs/);
});

test("the live view follows the store", async () => {
  const store = new LabProgressStore();
  const { lastFrame } = render(<LabProgressView store={store} />);
  store.push({ type: "phase", phase: "setup", message: "building lab 1a2b: 6 pods" });
  await waitFor(() => (lastFrame() ?? "").includes("building lab 1a2b"));
  store.push({
    type: "measurement-start",
    scenario: "direct",
    round: 1,
    index: 0,
    total: 3,
    seconds: 5,
    etaSeconds: 15,
  });
  await waitFor(() => (lastFrame() ?? "").includes("[1/3] direct · round 1"));
  expect(lastFrame()).toContain("starting the load generator");
});
