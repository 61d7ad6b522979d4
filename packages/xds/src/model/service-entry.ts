/**
 * ServiceEntry -> ServiceEntryItem, with Istio's validation of `resolution` against
 * `endpoints` and `addresses` (what istiod rejects is an error that rejects the object).
 */
import type { FieldReader } from "./field-reader.js";
import { isIpLiteral, parseWorkloadFields, type ServiceEntryItem } from "./parse-documents.js";
import type { ServicePort, ServiceResolution, SourceRef } from "./types.js";

const RESOLUTIONS: readonly ServiceResolution[] = ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"];

/** Istio's protocols that are plain TCP for listener purposes (no HTTP routing, no SNI). */
const TCP_PROTOCOLS = new Set(["TCP", "MONGO", "REDIS", "MYSQL"]);

function isAddressOrCidr(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash < 0) return isIpLiteral(text);
  const ip = text.slice(0, slash);
  const bits = Number(text.slice(slash + 1));
  const max = ip.includes(":") ? 128 : 32;
  return (
    isIpLiteral(ip) && Number.isInteger(bits) && bits >= 0 && bits <= max && text.slice(slash + 1) !== ""
  );
}

/**
 * @example
 * parseServiceEntrySpec(reader, "demo", source).resolution; // "DNS"
 */
export function parseServiceEntrySpec(
  r: FieldReader,
  namespace: string,
  source: SourceRef,
): ServiceEntryItem {
  const hosts = r.strings(["spec", "hosts"], { required: true });
  hosts.forEach((h, i) => {
    if (h.includes("*")) r.error(["spec", "hosts", i], "wildcard hosts are not supported yet");
  });
  const addresses = r.strings(["spec", "addresses"]);
  addresses.forEach((a, i) => {
    if (!isAddressOrCidr(a)) r.error(["spec", "addresses", i], `"${a}" is not an IP address or CIDR`);
  });
  const ports: ServicePort[] = [];
  const n = r.list(["spec", "ports"], { required: true });
  const numbers = new Set<number>();
  for (let i = 0; i < n; i++) {
    const p = ["spec", "ports", i];
    const port = r.port([...p, "number"], { required: true });
    const name = r.str([...p, "name"], { required: true }) ?? "";
    const targetPort = r.port([...p, "targetPort"]);
    const protocol = (r.str([...p, "protocol"]) ?? "TCP").toUpperCase();
    if (port === undefined) continue;
    if (numbers.has(port)) r.error([...p, "number"], `duplicate port ${port}`);
    numbers.add(port);
    ports.push({ name, port, targetPort: targetPort ?? port, protocol });
  }
  const text = r.str(["spec", "resolution"]) ?? "NONE";
  const resolution = RESOLUTIONS.find((x) => x === text);
  if (!resolution)
    r.error(
      ["spec", "resolution"],
      `unknown resolution ${text}; expected NONE, STATIC, DNS or DNS_ROUND_ROBIN`,
    );
  const dns = resolution === "DNS" || resolution === "DNS_ROUND_ROBIN";
  const endpoints = [];
  const en = r.list(["spec", "endpoints"]);
  for (let i = 0; i < en; i++) endpoints.push(parseWorkloadFields(r, ["spec", "endpoints", i], source, dns));
  const selKeys = r.keys(["spec", "workloadSelector", "labels"]);
  const workloadSelector = selKeys.length > 0 ? r.labels(["spec", "workloadSelector", "labels"]) : undefined;
  if (workloadSelector && en > 0)
    r.error(["spec", "workloadSelector"], "only one of workloadSelector or endpoints may be set");
  if (resolution === "NONE" && en > 0)
    r.error(["spec", "endpoints"], "no endpoints should be provided for resolution NONE");
  if (resolution === "DNS_ROUND_ROBIN" && en > 1)
    r.error(["spec", "endpoints"], "there must be at most 1 endpoint for resolution DNS_ROUND_ROBIN");
  if (dns && addresses.length > 0 && hosts.length > 1 && ports.some((p) => TCP_PROTOCOLS.has(p.protocol)))
    r.error(
      ["spec", "hosts"],
      "a ServiceEntry can not have more than one host together with addresses and a TCP port",
    );
  const exportTo = r.strings(["spec", "exportTo"]);
  const location = r.str(["spec", "location"]);
  return {
    kind: "ServiceEntry",
    namespace,
    hosts,
    ports,
    resolution: resolution ?? "NONE",
    addresses,
    endpoints,
    workloadSelector,
    exportTo: exportTo.length > 0 ? exportTo : ["*"],
    meshExternal: location !== "MESH_INTERNAL",
    source,
  };
}
