import { readFileSync } from "node:fs";
import { parseServerOptions, runXdsLoad } from "@meshctl/xds";
import { Ajv } from "ajv";
import { describe, expect, test } from "vitest";
import { formatXdsLoadReport } from "./load.js";

const schema = JSON.parse(
  readFileSync(new URL("../../../schemas/xds-load.schema.json", import.meta.url), "utf8"),
) as object;

describe("meshctl xds load", () => {
  test("--server-option values become booleans, numbers or strings; a bad pair is a usage error", () => {
    expect(parseServerOptions(["cache=false", "debounceAfterMs=100", "mode=fast"])).toEqual({
      cache: false,
      debounceAfterMs: 100,
      mode: "fast",
    });
    expect(() => parseServerOptions(["cache"])).toThrow(
      expect.objectContaining({ code: "XDS_LOAD_INVALID_OPTION", kind: "usage" }),
    );
  });

  test("bad options are usage errors, not stack traces", async () => {
    await expect(runXdsLoad({ proxies: 0 })).rejects.toMatchObject({ kind: "usage" });
    await expect(runXdsLoad({ target: "external" })).rejects.toMatchObject({ kind: "usage" });
    await expect(runXdsLoad({ churnKinds: ["nope" as "endpoints"] })).rejects.toMatchObject({
      kind: "usage",
    });
  });

  test("the --json report matches its published schema, and renders as text", {
    timeout: 60_000,
  }, async () => {
    const report = await runXdsLoad({
      proxies: 6,
      services: 6,
      namespaces: 2,
      churnRate: 10,
      churnSeconds: 1,
      churnKinds: ["endpoints", "routes", "services"],
      routedFraction: 0.5,
      timeoutSeconds: 20,
    });
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    expect(validate(JSON.parse(JSON.stringify(report))), JSON.stringify(validate.errors)).toBe(true);
    const text = formatXdsLoadReport(report);
    expect(text).toContain("initial convergence");
    expect(text).toContain("server CPU");
  });
});
