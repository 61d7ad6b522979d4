import { readFile } from "node:fs/promises";
import { expect, test } from "vitest";
import { parseSockperfOutput } from "../scripts/sockperf.js";
import { fixture } from "./fixtures-path.js";

test("parses the recorded sockperf outputs", async () => {
  const kernel = parseSockperfOutput(await readFile(fixture("latency", "kernel_tcp_r2.client.txt"), "utf8"));
  expect(kernel).toEqual({
    avgUs: 11.66,
    p50Us: 11.195,
    p90Us: 12.588,
    p99Us: 25.993,
    p999Us: 30.371,
    minUs: 7.469,
    maxUs: 687.675,
    observations: 408342,
  });
  const vpp = parseSockperfOutput(
    await readFile(fixture("latency", "vpp_hoststack_udp_r1.client.txt"), "utf8"),
  );
  expect(vpp.avgUs).toBe(16.33);
  expect(vpp.p50Us).toBe(15.453);
});

test("rejects output without statistics", () => {
  expect(() => parseSockperfOutput("sockperf: ERROR")).toThrow(/avg-latency/);
});
