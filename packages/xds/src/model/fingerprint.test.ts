import { describe, expect, test } from "vitest";
import { fingerprintOf } from "./assemble.js";

const source = (file: string, line: number) => ({
  file,
  line,
  kind: "Service",
  name: "echo",
  namespace: "demo",
});

describe("fingerprintOf", () => {
  test("ignores where an object came from, at any depth", () => {
    const a = {
      kind: "ServiceEntry",
      hosts: ["a"],
      endpoints: [{ address: "10.0.0.1", source: source("a.yaml", 3) }],
      source: source("a.yaml", 1),
    };
    const b = {
      kind: "ServiceEntry",
      hosts: ["a"],
      endpoints: [{ address: "10.0.0.1", source: source("b}.yaml", 9) }],
      source: source("b.yaml", 7),
    };
    expect(fingerprintOf(a)).toBe(fingerprintOf(b));
  });

  test("sees every change of content, also in strings that spell a source field", () => {
    const base = { kind: "VirtualService", headers: { x: "1" }, source: source("a.yaml", 1) };
    const fp = fingerprintOf(base);
    expect(fingerprintOf({ ...base, headers: { x: "2" } })).not.toBe(fp);
    expect(fingerprintOf({ ...base, headers: { x: '"source":{}' } })).not.toBe(
      fingerprintOf({ ...base, headers: { x: "" } }),
    );
    expect(fingerprintOf({ ...base, headers: { source: "s" } })).not.toBe(fp);
  });
});
