import { expect, test } from "vitest";
import { parseBytes, parseDurationMs, parseHeaders } from "./parse.js";

test("durations", () => {
  expect(parseDurationMs("10")).toBe(10_000);
  expect(parseDurationMs("1.5s")).toBe(1500);
  expect(parseDurationMs("250ms")).toBe(250);
  expect(parseDurationMs("2m")).toBe(120_000);
  expect(() => parseDurationMs("ten")).toThrow(/not a duration/);
  expect(() => parseDurationMs("-1s")).toThrow(/not a duration/);
});

test("headers", () => {
  expect(parseHeaders(["x-user: 1", "Accept:text/plain", "x-empty:"])).toEqual({
    "x-user": "1",
    Accept: "text/plain",
    "x-empty": "",
  });
  expect(() => parseHeaders(["nocolon"])).toThrow(/Name: value/);
  expect(() => parseHeaders([": v"])).toThrow(/Name: value/);
});

test("sizes", () => {
  expect(parseBytes("0")).toBe(0);
  expect(parseBytes("1024")).toBe(1024);
  expect(parseBytes("1KiB")).toBe(1024);
  expect(parseBytes("64k")).toBe(65_536);
  expect(parseBytes("1MiB")).toBe(1_048_576);
  expect(() => parseBytes("1.5k")).toThrow(/not a size/);
});
