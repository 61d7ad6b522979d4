/**
 * istio-init style traffic capture for a lab pod, rendered as `iptables-restore` input.
 * The rules run inside the pod's own network namespace only; the host's tables are never touched.
 */

/** Capture settings of one meshed pod. */
export interface CaptureRulesOptions {
  /** uid the sidecar runs as; its own traffic is not captured (Istio: 1337). */
  readonly proxyUid: number;
  /** gid the sidecar runs as. */
  readonly proxyGid: number;
  /** Port of the sidecar's outbound listener (Istio: 15001). */
  readonly outboundPort?: number;
  /** Port of the sidecar's inbound listener (Istio: 15006). */
  readonly inboundPort?: number;
  /** Inbound ports never captured (the sidecar's own admin/health ports). */
  readonly excludeInboundPorts?: readonly number[];
  /** Prefix of the chains this renders, so cleanup can find them. */
  readonly chainPrefix?: string;
}

/** Chains the capture rules create, in creation order. */
export function captureChainNames(prefix = "MCL"): {
  inbound: string;
  inRedirect: string;
  output: string;
  redirect: string;
} {
  return {
    inbound: `${prefix}_INBOUND`,
    inRedirect: `${prefix}_IN_REDIRECT`,
    output: `${prefix}_OUTPUT`,
    redirect: `${prefix}_REDIRECT`,
  };
}

/**
 * Renders the nat-table rules istio-init installs, with our chain names: outbound TCP to the
 * sidecar's 15001 except the sidecar's own (uid/gid) traffic and loopback, inbound TCP to 15006
 * except excluded ports. The 127.0.0.6 rule lets the sidecar reach the app over loopback without
 * being captured again (Istio's inbound passthrough source).
 *
 * @example
 * const text = renderCaptureRules({ proxyUid: 1337, proxyGid: 1337 });
 * await runCommand("ip", ["netns", "exec", ns, "iptables-restore", "--noflush"], { input: text });
 */
export function renderCaptureRules(options: CaptureRulesOptions): string {
  const outbound = options.outboundPort ?? 15001;
  const inbound = options.inboundPort ?? 15006;
  const exclude = options.excludeInboundPorts ?? [15008, 15090, 15021, 15020];
  const c = captureChainNames(options.chainPrefix);
  const uid = String(options.proxyUid);
  const gid = String(options.proxyGid);
  const lines = [
    "*nat",
    `:${c.inbound} - [0:0]`,
    `:${c.inRedirect} - [0:0]`,
    `:${c.output} - [0:0]`,
    `:${c.redirect} - [0:0]`,
    `-A PREROUTING -p tcp -j ${c.inbound}`,
    `-A OUTPUT -p tcp -j ${c.output}`,
    ...exclude.map((port) => `-A ${c.inbound} -p tcp --dport ${port} -j RETURN`),
    `-A ${c.inbound} -p tcp -j ${c.inRedirect}`,
    `-A ${c.inRedirect} -p tcp -j REDIRECT --to-ports ${inbound}`,
    `-A ${c.output} -s 127.0.0.6/32 -o lo -j RETURN`,
    `-A ${c.output} ! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner ${uid} -j ${c.inRedirect}`,
    `-A ${c.output} -o lo -m owner ! --uid-owner ${uid} -j RETURN`,
    `-A ${c.output} -m owner --uid-owner ${uid} -j RETURN`,
    `-A ${c.output} ! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner ${gid} -j ${c.inRedirect}`,
    `-A ${c.output} -o lo -m owner ! --gid-owner ${gid} -j RETURN`,
    `-A ${c.output} -m owner --gid-owner ${gid} -j RETURN`,
    `-A ${c.output} -d 127.0.0.1/32 -j RETURN`,
    `-A ${c.output} -j ${c.redirect}`,
    `-A ${c.redirect} -p tcp -j REDIRECT --to-ports ${outbound}`,
    "COMMIT",
  ];
  return `${lines.join("\n")}\n`;
}
