/**
 * Kubernetes label selectors in their string form (`kubectl -l`): `a=b`, `a==b`, `a!=b`,
 * `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-separated and AND-ed. Used for the namespace
 * selection (Istio's `discoverySelectors`, where several selectors are OR-ed).
 */
import { MeshctlError } from "@meshctl/core";

type Requirement =
  | { readonly key: string; readonly op: "in" | "notin"; readonly values: readonly string[] }
  | { readonly key: string; readonly op: "exists" | "!exists" };

export interface LabelSelector {
  /** The selector as given. */
  readonly text: string;
  matches(labels: Readonly<Record<string, string>>): boolean;
}

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)$/;

/** Splits at commas outside parentheses. */
function splitTerms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim());
}

/**
 * Parses a selector string; an empty string selects everything.
 *
 * @example
 * parseLabelSelector("istio-discovery=enabled,env in (prod,staging)").matches({ "istio-discovery": "enabled", env: "prod" }); // true
 */
export function parseLabelSelector(text: string): LabelSelector {
  const invalid = (term: string, why: string) =>
    new MeshctlError("XDS_NAMESPACE_SELECTOR_INVALID", `Namespace selector "${text}": ${why} in "${term}".`, {
      kind: "usage",
      suggestions: [
        "Write a Kubernetes label selector: key=value, key!=value, key in (a,b), key notin (a), key, !key.",
      ],
    });
  const requirements: Requirement[] = [];
  const parseTerm = (term: string): Requirement => {
    if (term === "") throw invalid(term, "an empty term");
    const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
    if (set) {
      const [, key = "", op, list = ""] = set;
      const values = list.split(",").map((v) => v.trim());
      if (!KEY.test(key)) throw invalid(term, `"${key}" is not a label key`);
      for (const v of values) if (!VALUE.test(v)) throw invalid(term, `"${v}" is not a label value`);
      return { key, op: op === "notin" ? "notin" : "in", values };
    }
    const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (equality) {
      const [, key = "", op, value = ""] = equality;
      if (!KEY.test(key)) throw invalid(term, `"${key}" is not a label key`);
      if (!VALUE.test(value)) throw invalid(term, `"${value}" is not a label value`);
      return { key, op: op === "!=" ? "notin" : "in", values: [value] };
    }
    const absent = /^!\s*(\S+)$/.exec(term);
    if (absent) {
      const key = absent[1] ?? "";
      if (!KEY.test(key)) throw invalid(term, `"${key}" is not a label key`);
      return { key, op: "!exists" };
    }
    if (KEY.test(term)) return { key: term, op: "exists" };
    throw invalid(term, "not a label requirement");
  };
  if (text.trim() !== "") for (const term of splitTerms(text)) requirements.push(parseTerm(term));
  return {
    text,
    matches(labels) {
      return requirements.every((r) => {
        const value = labels[r.key];
        switch (r.op) {
          case "exists":
            return value !== undefined;
          case "!exists":
            return value === undefined;
          case "in":
            return value !== undefined && r.values.includes(value);
          default:
            return value === undefined || !r.values.includes(value);
        }
      });
    },
  };
}
