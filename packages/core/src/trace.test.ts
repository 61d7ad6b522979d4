import { afterEach, expect, test } from "vitest";
import { createTracer, setTraceSink } from "./trace.js";

afterEach(() => setTraceSink(undefined));

test("tracers honour the spec, including all and exclusions", () => {
  const lines: string[] = [];
  setTraceSink((name, message) => lines.push(`${name}: ${message}`));
  createTracer("xds", "xds,ebpf")("one");
  createTracer("vpp", "xds")("two");
  createTracer("vpp", "all")(() => "three");
  createTracer("xds", "all,-xds")("four");
  expect(lines).toEqual(["xds: one", "vpp: three"]);
});
