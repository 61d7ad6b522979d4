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
  // Malformed names: spaces, non-token characters, a pseudo-header.
  expect(() => parseHeaders(["bad name: v"])).toThrow(/Name: value/);
  expect(() => parseHeaders(["x(y): v"])).toThrow(/Name: value/);
  expect(() => parseHeaders([":path: /"])).toThrow(/Name: value/);
  // A CR/LF at the end of a value is kept, not trimmed away, so the option check rejects it.
  expect(parseHeaders(["x: a\r\n"])).toEqual({ x: "a\r\n" });
  expect(parseHeaders(["x:  a b \t"])).toEqual({ x: "a b" });
});

test("sizes", () => {
  expect(parseBytes("0")).toBe(0);
  expect(parseBytes("1024")).toBe(1024);
  expect(parseBytes("1KiB")).toBe(1024);
  expect(parseBytes("64k")).toBe(65_536);
  expect(parseBytes("1MiB")).toBe(1_048_576);
  expect(parseBytes("1GiB")).toBe(1_073_741_824); // parsed, then refused by the payload bound
  expect(() => parseBytes("1.5k")).toThrow(/not a size/);
});
