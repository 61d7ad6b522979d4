import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { BENCH_VERSION, describeEnvironment } from "./environment.js";

test("the reported version is the package version", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  expect(BENCH_VERSION).toBe(pkg.version);
});

test("the environment names this machine", () => {
  const env = describeEnvironment();
  expect(env.node).toBe(process.version);
  expect(env.cpus).toBeGreaterThan(0);
  expect(env.kernel.length).toBeGreaterThan(0);
  expect(env.loadavg).toHaveLength(3);
});
