/** uid/gid sidecar proxies run as; istio-init capture exempts their traffic (Istio's 1337). */
export const SIDECAR_UID = 1337;

/**
 * One pod: a network namespace wired to the node bridge, in its own cgroup. A pod with a
 * `sidecar` gets istio-init capture rules redirecting its traffic to the sidecar's ports.
 */
export interface PodSpec {
  readonly netns: string;
  readonly ip: string;
  /** The veth end on the bridge, inside the node namespace. */
  readonly bridgePort: string;
  /** Absolute cgroup directory the pod's processes live in. */
  readonly cgroup: string;
  /** The capture target, when the pod is meshed. */
  readonly sidecar?: { readonly outboundPort: number; readonly inboundPort: number } | undefined;
}

/** A set of pods on one bridge: the node namespace holds the bridge; the host's is never touched. */
export interface PodNetwork {
  readonly nodeNetns: string;
  readonly bridge: string;
  /** CIDR (e.g. `10.213.7.0/24`) that exists only inside these namespaces. */
  readonly subnet: string;
  readonly pods: readonly PodSpec[];
}
