/**
 * Per-proxy generation and encoding: model -> plain proto objects -> encoded Any + version.
 * Versions are content hashes, so "did anything this client subscribed to change?" is a map
 * comparison, and identical resources share one version across proxies.
 */
import { createHash } from "node:crypto";
import { type EncodedAny, PUSH_ORDER, packAny, type ResourceKind, TYPE_URLS } from "../protocol/protos.js";
import type { Proto } from "./common.js";
import { generateEnvoyResources } from "./envoy.js";
import { generateGrpcResources } from "./grpc.js";
import type { ProxyInfo } from "./proxy.js";
import type { PushContext } from "./push-context.js";

export interface EncodedResource {
  readonly name: string;
  readonly kind: ResourceKind;
  readonly any: EncodedAny;
  /** Content hash of the encoded bytes. */
  readonly version: string;
  readonly value: Proto;
}

export type ProxyConfig = Readonly<Record<ResourceKind, ReadonlyMap<string, EncodedResource>>>;

/**
 * Test-only hook to alter a generated resource before it is encoded (for example to provoke a
 * NACK). Return the value unchanged to keep it.
 */
export type ResourceTransform = (kind: ResourceKind, name: string, value: Proto, proxy: ProxyInfo) => Proto;

const MESSAGE_TYPES: Record<ResourceKind, string> = {
  cds: TYPE_URLS.cds.slice(TYPE_URLS.cds.indexOf("/") + 1),
  eds: TYPE_URLS.eds.slice(TYPE_URLS.eds.indexOf("/") + 1),
  lds: TYPE_URLS.lds.slice(TYPE_URLS.lds.indexOf("/") + 1),
  rds: TYPE_URLS.rds.slice(TYPE_URLS.rds.indexOf("/") + 1),
};

/**
 * Encodes one resource. This is the seam where a shared serialized-resource cache goes
 * (keyed by the resource's dependencies), so N proxies reuse one encoding.
 */
export function encodeResource(kind: ResourceKind, name: string, value: Proto): EncodedResource {
  const any = packAny(MESSAGE_TYPES[kind], value);
  const version = createHash("sha256").update(any.value).digest("base64url").slice(0, 16);
  return { name, kind, any, version, value };
}

/**
 * Everything one proxy should receive for a model version.
 *
 * @example
 * const config = generateProxyConfig(ctx, proxyFromNode({ id: "grpc~127.0.0.1~app.default~default.svc.cluster.local" }));
 * config.lds.get("echo.default.svc.cluster.local:7070");
 */
export function generateProxyConfig(
  ctx: PushContext,
  proxy: ProxyInfo,
  transform?: ResourceTransform,
): ProxyConfig {
  // Proxies with the same view share one generated, encoded config per model version; the
  // test-only transform sees each proxy, so it opts out of sharing.
  if (transform) return buildProxyConfig(ctx, proxy, transform);
  return ctx.memo(`config:${ctx.proxyViewKey(proxy)}`, () => buildProxyConfig(ctx, proxy));
}

function buildProxyConfig(ctx: PushContext, proxy: ProxyInfo, transform?: ResourceTransform): ProxyConfig {
  const generated =
    proxy.type === "grpc" ? generateGrpcResources(ctx, proxy) : generateEnvoyResources(ctx, proxy);
  const out = {} as Record<ResourceKind, Map<string, EncodedResource>>;
  for (const kind of PUSH_ORDER) {
    const map = new Map<string, EncodedResource>();
    for (const [name, value] of [...generated[kind].entries()].sort(([a], [b]) => a.localeCompare(b))) {
      map.set(name, encodeResource(kind, name, transform ? transform(kind, name, value, proxy) : value));
    }
    out[kind] = map;
  }
  return out;
}
