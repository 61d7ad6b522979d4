import type { LabMeasurement } from "@meshctl/lab";
import { render } from "ink-testing-library";
import { expect, test } from "vitest";
import { LabProgressFrame, LabProgressView } from "./LabProgressView.js";
import { initialLabProgress, LabProgressStore, reduceLabProgress } from "./lab-progress-store.js";

const measurement: LabMeasurement = {
  scenario: "direct",
  rate: 2000,
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

test("shows the running measurement with its target rate, a bar, live rate and percentiles, and finished rows", () => {
  let state = initialLabProgress(0);
  state = reduceLabProgress(state, {
    type: "measurement-start",
    scenario: "sidecar",
    rate: 2000,
    round: 2,
    index: 3,
    total: 6,
    seconds: 5,
    etaSeconds: 15,
  });
  state = reduceLabProgress(state, {
    type: "measurement-tick",
    scenario: "sidecar",
    rate: 2000,
    round: 2,
    index: 3,
    total: 6,
    elapsedSeconds: 2.5,
    etaSeconds: 12.5,
    live: { phase: "measure", requests: 1500, errors: 0, currentQps: 1998, p50Us: 312, p99Us: 2100 },
  });
  state = reduceLabProgress(state, { type: "measurement-done", measurement, index: 0, total: 6 });
  const frame = render(<LabProgressFrame state={state} now={30_000} />).lastFrame() ?? "";
  expect(frame).toContain("[4/6] sidecar · 2,000 req/s · round 2");
  expect(frame).toContain("50%");
  expect(frame).toContain("1,998 req/s (target 2,000) · p50 312µs · p99 2.1ms");
  expect(frame).toContain("elapsed 00:30 · ETA 00:13");
  expect(frame).toMatch(/✔ direct\s+2,000 req\/s\s+#1\s+p50\s+150µs/);
});

test("a closed-loop measurement says so", () => {
  const state = reduceLabProgress(
    reduceLabProgress(initialLabProgress(0), {
      type: "measurement-start",
      scenario: "grpc-proxyless",
      rate: "max",
      round: 1,
      index: 0,
      total: 2,
      seconds: 4,
      etaSeconds: 8,
    }),
    {
      type: "measurement-tick",
      scenario: "grpc-proxyless",
      rate: "max",
      round: 1,
      index: 0,
      total: 2,
      elapsedSeconds: 1,
      etaSeconds: 7,
      live: { phase: "measure", requests: 900, errors: 0, currentQps: 1500, p50Us: 480, p99Us: 1440 },
    },
  );
  const frame = render(<LabProgressFrame state={state} now={1_000} />).lastFrame() ?? "";
  expect(frame).toContain("[1/2] grpc-proxyless · max rate · round 1");
  expect(frame).toContain("1,500 req/s (closed loop)");
});

test("a long sweep lists the last finished measurements and counts the rest", () => {
  let state = initialLabProgress(0);
  for (let round = 1; round <= 20; round++)
    state = reduceLabProgress(state, {
      type: "measurement-done",
      measurement: { ...measurement, round, rateReached: round !== 20 },
      index: round - 1,
      total: 20,
    });
  const frame = render(<LabProgressFrame state={state} now={0} />).lastFrame() ?? "";
  expect(frame).toContain("… 8 earlier measurements");
  expect(frame).not.toMatch(/#8 /);
  expect(frame).toMatch(/#9 /);
  expect(frame).toMatch(/#20 .*rate not reached/);
});

test("the live view follows the store", async () => {
  const store = new LabProgressStore();
  const { lastFrame } = render(<LabProgressView store={store} />);
  store.push({ type: "phase", phase: "setup", message: "building lab 1a2b: 6 pods" });
  await waitFor(() => (lastFrame() ?? "").includes("building lab 1a2b"));
  store.push({
    type: "measurement-start",
    scenario: "direct",
    rate: 1000,
    round: 1,
    index: 0,
    total: 3,
    seconds: 5,
    etaSeconds: 15,
  });
  await waitFor(() => (lastFrame() ?? "").includes("[1/3] direct · 1,000 req/s · round 1"));
  expect(lastFrame()).toContain("starting the load generator");
});
