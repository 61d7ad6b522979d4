/**
 * Proxyless gRPC: one ApiListener per `host:port` alias a client may dial (gRPC subscribes by
 * the target's path), one RouteConfiguration per service port. Clusters and CLAs are built per
 * cluster in proxy-config.ts (shared with Envoy's).
 */
import type { MeshService } from "../model/types.js";
import { packAny } from "../protocol/protos.js";
import {
  ADS_SOURCE,
  clusterName,
  type GeneratedListeners,
  HCM_TYPE,
  hostAliases,
  httpFilters,
  isHttp,
  virtualHostDomains,
} from "./common.js";
import type { ProxyInfo } from "./proxy.js";
import type { PushContext } from "./push-context.js";
import { buildRoutes } from "./routes.js";
import { egressListenerForPort, sidecarEgressScope } from "./sidecar-scope.js";

/** Listeners and routes of a proxyless gRPC client: depend only on its view. */
export function generateGrpcOutbound(
  ctx: PushContext,
  proxy: ProxyInfo,
  visible: readonly MeshService[],
): GeneratedListeners {
  const out: GeneratedListeners = { lds: new Map(), rds: new Map() };
  const scope = sidecarEgressScope(ctx.sidecarFor(proxy), proxy, visible);
  for (const service of visible) {
    const aliases = hostAliases(service, proxy);
    for (const port of service.ports) {
      // As istiod: a port's routes come from the Sidecar egress listener owning that port, so a
      // service imported only by another listener gets an empty route config (and no cluster).
      const routed = egressListenerForPort(scope, port.port)?.services.some(
        (s) => s.hostname === service.hostname && s.namespace === service.namespace,
      );
      const routeName = clusterName("outbound", port.port, "", service.hostname);
      const hcm = packAny(HCM_TYPE, {
        rds: { route_config_name: routeName, config_source: ADS_SOURCE },
        http_filters: httpFilters(),
      });
      for (const alias of aliases) {
        const name = `${alias}:${port.port}`;
        out.lds.set(name, { name, api_listener: { api_listener: hcm } });
      }
      // As istiod: a TCP port's route config has no virtual host (and the port no cluster).
      out.rds.set(routeName, {
        name: routeName,
        virtual_hosts:
          isHttp(port) && routed
            ? [
                {
                  name: `${service.hostname}:${port.port}`,
                  // With ports: gRPC has no ignore_port_in_host_matching (istiod's SidecarIgnorePort).
                  domains: virtualHostDomains(service, proxy, port.port),
                  routes: buildRoutes(ctx, proxy, service, port),
                  include_request_attempt_count: true,
                },
              ]
            : [],
      });
    }
  }
  return out;
}
