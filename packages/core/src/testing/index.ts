/**
 * Test support (`@meshctl/core/testing`), never used by product code.
 *
 * Tests that need a component installed by setup (Envoy, the kube-apiserver build, ...) skip with
 * a printed reason where it is absent, except when MESHCTL_REQUIRE (comma-separated; `.ci/run`
 * sets it) lists it: then they run and fail with the reason, so CI can never go green by skipping.
 */

/** True when MESHCTL_REQUIRE lists `component`. */
export function isRequired(component: string): boolean {
  return (process.env.MESHCTL_REQUIRE ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .includes(component.toLowerCase());
}

/**
 * Whether a test needing `component` runs. `missing` is why it is unavailable (undefined = it is
 * there). Skips (printing the reason) unless the component is required; a required but missing
 * component runs the test with `missing` set, for the test to fail with.
 *
 * @example
 * const gate = requirementGate("envoy", envoyPath ? undefined : "no envoy on PATH", "envoy eds");
 * describe.skipIf(gate.skip)("...", () => { test("...", () => { if (gate.missing) throw new Error(gate.missing); }); });
 */
export function requirementGate(
  component: string,
  missing: string | undefined,
  test: string,
): { skip: boolean; missing?: string } {
  if (missing === undefined) return { skip: false };
  if (!isRequired(component)) {
    process.stderr.write(`[${test}] skipped: ${missing}\n`);
    return { skip: true };
  }
  return {
    skip: false,
    missing: `MESHCTL_REQUIRE=${process.env.MESHCTL_REQUIRE} requires ${component}: ${missing}`,
  };
}
