import type { InstalledObject } from "@meshctl/kube";
import { render } from "ink-testing-library";
import { expect, test, vi } from "vitest";
import { InstallProgressFrame, InstallProgressView } from "./InstallProgressView.js";
import {
  InstallProgressStore,
  initialInstallProgress,
  reduceInstallProgress,
} from "./install-progress-store.js";

const deployment: InstalledObject = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  name: "meshctl-xds",
  namespace: "meshctl-system",
  part: "xds",
  action: "created",
  validated: true,
};

test("shows the phase, each object with what apply did, and the rollout per workload", () => {
  let state = initialInstallProgress(0);
  state = reduceInstallProgress(state, { type: "phase", phase: "apply", message: "applying 7 objects" });
  state = reduceInstallProgress(state, {
    type: "object",
    object: {
      apiVersion: "v1",
      kind: "Namespace",
      name: "meshctl-system",
      part: "namespace",
      action: "unchanged",
      validated: true,
    },
  });
  state = reduceInstallProgress(state, { type: "object", object: deployment });
  state = reduceInstallProgress(state, {
    type: "rollout",
    timeoutMs: 300_000,
    report: {
      ready: false,
      elapsedMs: 12_000,
      workloads: [
        {
          kind: "Deployment",
          namespace: "meshctl-system",
          name: "meshctl-xds",
          ready: true,
          summary: "1/1 replicas ready",
        },
        {
          kind: "DaemonSet",
          namespace: "meshctl-system",
          name: "meshctl-ebpf",
          ready: false,
          summary: "2/3 pods ready",
        },
      ],
    },
  });
  const frame = render(<InstallProgressFrame state={state} now={15_000} />).lastFrame() ?? "";
  expect(frame).toContain("meshctl install  apply · applying 7 objects · elapsed 00:15");
  expect(frame).toMatch(/unchanged\s+Namespace meshctl-system/);
  expect(frame).toMatch(/created\s+Deployment meshctl-system\/meshctl-xds/);
  expect(frame).toContain("rollout  00:12 of 05:00");
  expect(frame).toContain("✔ Deployment meshctl-system/meshctl-xds: 1/1 replicas ready");
  expect(frame).toContain("… DaemonSet meshctl-system/meshctl-ebpf: 2/3 pods ready");
});

test("the live view follows the store", async () => {
  const store = new InstallProgressStore();
  const { lastFrame } = render(<InstallProgressView store={store} />);
  store.push({ type: "phase", phase: "preflight", message: "validating with a server-side dry run" });
  await vi.waitFor(() => expect(lastFrame()).toContain("validating with a server-side dry run"));
  store.push({ type: "object", object: deployment });
  await vi.waitFor(() => expect(lastFrame()).toContain("Deployment meshctl-system/meshctl-xds"));
});
