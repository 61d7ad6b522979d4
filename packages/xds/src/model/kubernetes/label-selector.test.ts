import { describe, expect, test } from "vitest";
import { parseLabelSelector } from "./label-selector.js";

// Cases from the Kubernetes label selector documentation (concepts/overview/working-with-objects/labels).
describe("parseLabelSelector", () => {
  const labels = { environment: "production", tier: "frontend", "app.kubernetes.io/name": "echo" };

  test.each([
    ["", true],
    ["environment = production", true],
    ["environment==production", true],
    ["tier != frontend", false],
    ["environment=production,tier!=frontend", false],
    ["environment in (production, qa)", true],
    ["tier notin (frontend, backend)", false],
    ["partition", false],
    ["!partition", true],
    ["app.kubernetes.io/name=echo,environment", true],
    ["missing!=x", true],
  ])("%j matches: %s", (selector, expected) => {
    expect(parseLabelSelector(selector).matches(labels)).toBe(expected);
  });

  test.each([["a=b,"], ["in (x)"], ["a in x"], ["a=b=c"], ["-bad=x"]])("%j is a usage error", (selector) => {
    expect(() => parseLabelSelector(selector)).toThrowError(
      expect.objectContaining({ code: "XDS_NAMESPACE_SELECTOR_INVALID", kind: "usage" }),
    );
  });
});
