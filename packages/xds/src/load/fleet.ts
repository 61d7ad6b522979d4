/**
 * What the load harness (run-xds-load.ts) and the soak (soak.ts) share: option checks, the
 * fleet of simulated proxies multiplexed over gRPC channels, counting it for progress, and
 * waiting for it to converge.
 */
import type * as grpc from "@grpc/grpc-js";
import { MeshctlError } from "@meshctl/core";
import type { ProxyIdentity } from "./proxy-plan.js";
import {
  type AdsClient,
  createAdsChannel,
  SimulatedProxy,
  type SimulatedProxyHooks,
} from "./simulated-proxy.js";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** A usage error for a load or soak option (`XDS_LOAD_INVALID_OPTION`). */
export function loadUsage(message: string, suggestion?: string): MeshctlError {
  return new MeshctlError("XDS_LOAD_INVALID_OPTION", message, {
    kind: "usage",
    ...(suggestion ? { suggestions: [suggestion] } : {}),
  });
}

/**
 * Throws a usage error naming `--name` unless `value` is a finite number in [min, max].
 *
 * @example
 * checkLoadNumber("proxies", 0, 1, 100_000, true); // throws: --proxies must be an integer from 1 to 100000, got 0.
 */
export function checkLoadNumber(
  name: string,
  value: number,
  min: number,
  max: number,
  integer = false,
): void {
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value)))
    throw loadUsage(
      `--${name} must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, got ${value}.`,
    );
}

/** One simulated proxy per identity, `perChannel` of them sharing each gRPC channel. */
export function createFleet(
  identities: readonly ProxyIdentity[],
  address: string,
  perChannel: number,
  hooks: SimulatedProxyHooks,
  channelOptions: grpc.ChannelOptions = {},
): { proxies: SimulatedProxy[]; channels: AdsClient[] } {
  const channels: AdsClient[] = [];
  const proxies = identities.map((identity, i) => {
    if (i % perChannel === 0) channels.push(createAdsChannel(address, channelOptions));
    return new SimulatedProxy(identity, channels[channels.length - 1] as AdsClient, hooks);
  });
  return { proxies, channels };
}

/** How many proxies have a stream open and how many `converged` says are done. */
export function countFleet(
  proxies: readonly SimulatedProxy[],
  converged: (p: SimulatedProxy) => boolean,
): { connected: number; converged: number } {
  let c = 0;
  let done = 0;
  for (const p of proxies) {
    if (p.connected) c++;
    if (converged(p)) done++;
  }
  return { connected: c, converged: done };
}

/** Calls a progress callback; a renderer that throws never breaks the run. */
export function emitProgress<T>(onProgress: ((event: T) => void) | undefined, event: () => T): void {
  if (!onProgress) return;
  try {
    onProgress(event());
  } catch {
    // a renderer must never break the run
  }
}

/**
 * Polls every 50 ms until every proxy is `converged`, `now()` passes `deadline` or `stop()` says
 * so; returns how many did not converge.
 */
export async function waitForFleet(
  proxies: readonly SimulatedProxy[],
  converged: (p: SimulatedProxy) => boolean,
  now: () => number,
  deadline: number,
  stop: () => boolean = () => false,
): Promise<number> {
  while (now() < deadline && !stop() && proxies.some((p) => !converged(p))) await sleep(50);
  return proxies.filter((p) => !converged(p)).length;
}
