/**
 * Sidecar -> SidecarModel: the egress scope of the workloads it selects, and where their traffic
 * to destinations outside the registry goes (`outboundTrafficPolicy`).
 */
import type { FieldReader } from "./field-reader.js";
import type { OutboundTrafficMode, SidecarModel, SourceRef } from "./types.js";

/**
 * @example
 * parseSidecar(reader, "default", "demo", source).outboundTrafficPolicy; // "REGISTRY_ONLY"
 */
export function parseSidecar(
  r: FieldReader,
  name: string,
  namespace: string,
  source: SourceRef,
): SidecarModel {
  const egressHosts: string[] = [];
  const n = r.list(["spec", "egress"]);
  for (let i = 0; i < n; i++) {
    const e = ["spec", "egress", i];
    const hosts = r.strings([...e, "hosts"], { required: true });
    hosts.forEach((h, j) => {
      if (!h.includes("/")) r.error([...e, "hosts", j], `egress host must be namespace/host, got "${h}"`);
    });
    egressHosts.push(...hosts);
    for (const key of ["port", "bind", "captureMode"]) {
      if (r.has([...e, key]))
        r.unsupported(
          [...e, key],
          `Sidecar egress ${key} is not supported by meshctl yet; ignored (the hosts apply to every port)`,
        );
    }
  }
  if (n === 0) egressHosts.push("*/*");
  if (r.has(["spec", "ingress"]))
    r.unsupported(["spec", "ingress"], "Sidecar ingress is not supported by meshctl yet; ignored");
  if (r.has(["spec", "inboundConnectionPool"]))
    r.unsupported(
      ["spec", "inboundConnectionPool"],
      "inboundConnectionPool is not supported by meshctl yet; ignored",
    );
  let outboundTrafficPolicy: OutboundTrafficMode | undefined;
  const otp = ["spec", "outboundTrafficPolicy"];
  if (r.has(otp)) {
    const mode = r.str([...otp, "mode"]) ?? "REGISTRY_ONLY";
    if (mode === "ALLOW_ANY" || mode === "REGISTRY_ONLY") outboundTrafficPolicy = mode;
    else
      r.error(
        [...otp, "mode"],
        `unknown outboundTrafficPolicy mode ${mode}; expected ALLOW_ANY or REGISTRY_ONLY`,
      );
    if (r.has([...otp, "egressProxy"]))
      r.unsupported([...otp, "egressProxy"], "egressProxy is not supported by meshctl yet; ignored");
  }
  const selKeys = r.keys(["spec", "workloadSelector", "labels"]);
  return {
    name,
    namespace,
    egressHosts,
    source,
    ...(outboundTrafficPolicy ? { outboundTrafficPolicy } : {}),
    ...(selKeys.length > 0 ? { workloadSelector: r.labels(["spec", "workloadSelector", "labels"]) } : {}),
  };
}
