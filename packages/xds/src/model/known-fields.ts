/**
 * The field names Kubernetes and Istio define for the kinds meshctl reads: how a field no parser
 * read is told apart as "valid, but meshctl ignores it" (a warning naming it) or "not a field at
 * all" (a typo: an "unknown field" warning with a did-you-mean). What meshctl *reads* is not
 * listed here: parsers record their reads (FieldReader.unreadKeys), so this table only has to
 * know what exists.
 *
 * Sources: Istio's networking/v1 protos (VirtualService, DestinationRule, ServiceEntry,
 * WorkloadEntry, Sidecar) and Kubernetes' core/v1 Service and discovery/v1 EndpointSlice.
 */

/**
 * - `fields`: a mapping with these field names;
 * - `list` / `map`: a list of, or a mapping of user keys to, the given shape;
 * - `"leaf"`: a scalar (or a value meshctl never looks inside);
 * - `"silent"`: a valid field meshctl does not read and that does not change what proxies get
 *   (Kubernetes bookkeeping like `metadata.uid`, `spec.clusterIP`): never reported;
 * - `"opaque"`: user keys (labels, annotations) or status: nothing under it is reported.
 * A known field no parser read is reported as ignored at its key, so the shape of what is under
 * it only matters where meshctl reads part of it.
 */
export type FieldShape =
  | { readonly fields: Readonly<Record<string, FieldShape>> }
  | { readonly list: FieldShape }
  | { readonly map: FieldShape }
  | "leaf"
  | "silent"
  | "opaque";

const leaf = "leaf" as const;
const silent = "silent" as const;
const opaque = "opaque" as const;
const fields = (f: Record<string, FieldShape>): FieldShape => ({ fields: f });
const list = (s: FieldShape): FieldShape => ({ list: s });
const map = (s: FieldShape): FieldShape => ({ map: s });
const allLeaves = (...names: string[]): FieldShape => fields(Object.fromEntries(names.map((n) => [n, leaf])));

/** Sidecar ingress/egress `port` (istio.networking.v1.SidecarPort). */
const sidecarPort = allLeaves("number", "protocol", "name", "targetPort");

/** Kubernetes ObjectMeta: bookkeeping fields are silent; labels and annotations are user keys. */
const objectMeta = fields({
  name: leaf,
  namespace: leaf,
  labels: opaque,
  annotations: opaque,
  generateName: silent,
  uid: silent,
  resourceVersion: silent,
  generation: silent,
  creationTimestamp: silent,
  deletionTimestamp: silent,
  deletionGracePeriodSeconds: silent,
  ownerReferences: silent,
  finalizers: silent,
  managedFields: silent,
  selfLink: silent,
  clusterName: silent,
});

function object(spec: FieldShape, extra: Record<string, FieldShape> = {}): FieldShape {
  return fields({
    apiVersion: leaf,
    kind: leaf,
    metadata: objectMeta,
    spec,
    status: opaque,
    ...extra,
  });
}

const stringMatch = allLeaves("exact", "prefix", "regex");
const percent = allLeaves("value");
const workloadSelector = fields({ labels: opaque });
const portSelector = allLeaves("number");
const headerOperations = fields({ set: opaque, add: opaque, remove: leaf });
const headers = fields({ request: headerOperations, response: headerOperations });

const httpMatchRequest = fields({
  name: leaf,
  uri: stringMatch,
  scheme: stringMatch,
  method: stringMatch,
  authority: stringMatch,
  headers: map(stringMatch),
  port: leaf,
  sourceLabels: opaque,
  gateways: leaf,
  queryParams: map(stringMatch),
  ignoreUriCase: leaf,
  withoutHeaders: map(stringMatch),
  sourceNamespace: leaf,
  statPrefix: leaf,
});

const destination = fields({ host: leaf, subset: leaf, port: portSelector });

const httpRoute = fields({
  name: leaf,
  match: list(httpMatchRequest),
  route: list(fields({ destination, weight: leaf, headers })),
  redirect: allLeaves("uri", "authority", "port", "derivePort", "scheme", "redirectCode"),
  directResponse: fields({ status: leaf, body: allLeaves("string", "bytes") }),
  delegate: allLeaves("name", "namespace"),
  rewrite: fields({ uri: leaf, authority: leaf, uriRegexRewrite: allLeaves("match", "rewrite") }),
  timeout: leaf,
  retries: allLeaves(
    "attempts",
    "perTryTimeout",
    "retryOn",
    "retryRemoteLocalities",
    "retryIgnorePreviousHosts",
    "backoff",
  ),
  fault: fields({
    delay: fields({ fixedDelay: leaf, exponentialDelay: leaf, percentage: percent, percent: leaf }),
    abort: fields({ httpStatus: leaf, grpcStatus: leaf, http2Error: leaf, percentage: percent }),
  }),
  mirror: destination,
  mirrors: list(fields({ destination, percentage: percent })),
  mirrorPercent: leaf,
  mirrorPercentage: percent,
  corsPolicy: fields({
    allowOrigin: leaf,
    allowOrigins: list(stringMatch),
    allowMethods: leaf,
    allowHeaders: leaf,
    exposeHeaders: leaf,
    maxAge: leaf,
    allowCredentials: leaf,
    unmatchedPreflights: leaf,
  }),
  headers,
});

const l4Match = {
  destinationSubnets: leaf,
  port: leaf,
  sourceLabels: opaque,
  gateways: leaf,
  sourceNamespace: leaf,
  sourceSubnet: leaf,
};
const l4Route = list(fields({ destination, weight: leaf }));
const tcpRoute = fields({ match: list(fields(l4Match)), route: l4Route });
const tlsRoute = fields({ match: list(fields({ ...l4Match, sniHosts: leaf })), route: l4Route });

const consistentHash = fields({
  httpHeaderName: leaf,
  httpCookie: fields({ name: leaf, path: leaf, ttl: leaf, attributes: leaf }),
  useSourceIp: leaf,
  httpQueryParameterName: leaf,
  ringHash: allLeaves("minimumRingSize"),
  maglev: allLeaves("tableSize"),
  minimumRingSize: leaf,
});

const loadBalancerSettings = fields({
  simple: leaf,
  consistentHash,
  localityLbSetting: fields({
    distribute: list(fields({ from: leaf, to: opaque })),
    failover: list(allLeaves("from", "to")),
    failoverPriority: leaf,
    enabled: leaf,
  }),
  warmupDurationSecs: leaf,
  warmup: leaf,
});

const connectionPoolSettings = fields({
  tcp: fields({
    maxConnections: leaf,
    connectTimeout: leaf,
    tcpKeepalive: allLeaves("probes", "time", "interval"),
    maxConnectionDuration: leaf,
    idleTimeout: leaf,
  }),
  http: allLeaves(
    "http1MaxPendingRequests",
    "http2MaxRequests",
    "maxRequestsPerConnection",
    "maxRetries",
    "idleTimeout",
    "h2UpgradePolicy",
    "useClientProtocol",
    "maxConcurrentStreams",
  ),
});

const outlierDetection = allLeaves(
  "splitExternalLocalOriginErrors",
  "consecutiveLocalOriginFailures",
  "consecutiveGatewayErrors",
  "consecutive5xxErrors",
  "interval",
  "baseEjectionTime",
  "maxEjectionPercent",
  "minHealthPercent",
  "consecutiveErrors",
);

const clientTls = allLeaves(
  "mode",
  "clientCertificate",
  "privateKey",
  "caCertificates",
  "credentialName",
  "subjectAltNames",
  "sni",
  "insecureSkipVerify",
  "caCrl",
);

const trafficPolicyFields: Record<string, FieldShape> = {
  loadBalancer: loadBalancerSettings,
  connectionPool: connectionPoolSettings,
  outlierDetection,
  tls: clientTls,
  portLevelSettings: list(
    fields({
      port: portSelector,
      loadBalancer: loadBalancerSettings,
      connectionPool: connectionPoolSettings,
      outlierDetection,
      tls: clientTls,
    }),
  ),
  tunnel: leaf,
  proxyProtocol: leaf,
  retryBudget: leaf,
};
const trafficPolicy = fields(trafficPolicyFields);

const workloadEntryFields: Record<string, FieldShape> = {
  address: leaf,
  ports: opaque,
  labels: opaque,
  network: leaf,
  locality: leaf,
  weight: leaf,
  serviceAccount: silent,
};

/** Per kind, the shape of the whole object; kinds not here (Pod, Node) are not checked. */
export const KNOWN_FIELDS: Readonly<Record<string, FieldShape>> = {
  VirtualService: object(
    fields({
      hosts: leaf,
      gateways: leaf,
      http: list(httpRoute),
      tls: list(tlsRoute),
      tcp: list(tcpRoute),
      exportTo: leaf,
    }),
  ),
  DestinationRule: object(
    fields({
      host: leaf,
      trafficPolicy,
      subsets: list(fields({ name: leaf, labels: opaque, trafficPolicy })),
      exportTo: leaf,
      workloadSelector,
    }),
  ),
  ServiceEntry: object(
    fields({
      hosts: leaf,
      addresses: leaf,
      ports: list(allLeaves("number", "protocol", "name", "targetPort")),
      location: silent,
      resolution: leaf,
      endpoints: list(fields(workloadEntryFields)),
      workloadSelector,
      exportTo: leaf,
      subjectAltNames: leaf,
    }),
  ),
  WorkloadEntry: object(fields(workloadEntryFields)),
  Sidecar: object(
    fields({
      workloadSelector,
      ingress: list(
        fields({
          port: sidecarPort,
          bind: leaf,
          captureMode: leaf,
          defaultEndpoint: leaf,
          tls: leaf,
          connectionPool: leaf,
        }),
      ),
      egress: list(fields({ port: sidecarPort, bind: leaf, captureMode: leaf, hosts: leaf })),
      outboundTrafficPolicy: fields({ mode: leaf, egressProxy: leaf }),
      inboundConnectionPool: leaf,
    }),
  ),
  // Kubernetes kinds: fields meshctl does not need (set by the API server or for kube-proxy)
  // are silent; only names Kubernetes does not have are reported.
  Service: object(
    fields({
      ports: list(
        fields({
          name: leaf,
          protocol: leaf,
          appProtocol: leaf,
          port: leaf,
          targetPort: leaf,
          nodePort: silent,
        }),
      ),
      selector: opaque,
      clusterIP: silent,
      clusterIPs: silent,
      type: silent,
      externalIPs: silent,
      sessionAffinity: silent,
      sessionAffinityConfig: silent,
      loadBalancerIP: silent,
      loadBalancerSourceRanges: silent,
      loadBalancerClass: silent,
      externalName: silent,
      externalTrafficPolicy: silent,
      internalTrafficPolicy: silent,
      healthCheckNodePort: silent,
      publishNotReadyAddresses: silent,
      ipFamilies: silent,
      ipFamilyPolicy: silent,
      allocateLoadBalancerNodePorts: silent,
      trafficDistribution: silent,
    }),
  ),
  EndpointSlice: fields({
    apiVersion: leaf,
    kind: leaf,
    metadata: objectMeta,
    addressType: leaf,
    ports: list(fields({ name: leaf, port: leaf, protocol: silent, appProtocol: silent })),
    endpoints: list(
      fields({
        addresses: leaf,
        conditions: fields({ ready: leaf, serving: silent, terminating: silent }),
        hostname: silent,
        targetRef: fields({
          kind: leaf,
          name: silent,
          namespace: silent,
          uid: silent,
          apiVersion: silent,
          resourceVersion: silent,
          fieldPath: silent,
        }),
        nodeName: leaf,
        zone: leaf,
        hints: silent,
        deprecatedTopology: silent,
      }),
    ),
  }),
};

/** The shape at `path` under `root`: `"opaque"` once the path passes an opaque field. */
export function fieldShapeAt(root: FieldShape, path: readonly (string | number)[]): FieldShape | undefined {
  let cur: FieldShape | undefined = root;
  for (const part of path) {
    if (cur === undefined) return undefined;
    if (cur === "opaque" || cur === "silent") return cur;
    if (cur === "leaf") return undefined;
    if ("list" in cur) cur = typeof part === "number" ? cur.list : undefined;
    else if ("map" in cur) cur = cur.map;
    else cur = typeof part === "string" && Object.hasOwn(cur.fields, part) ? cur.fields[part] : undefined;
  }
  return cur;
}

/** The field names a mapping at `path` may have (for did-you-mean). */
export function fieldNamesAt(root: FieldShape, path: readonly (string | number)[]): string[] {
  const shape = fieldShapeAt(root, path);
  return shape !== undefined && typeof shape === "object" && "fields" in shape
    ? Object.keys(shape.fields)
    : [];
}

/** Levenshtein distance, stopping early past `max`. */
export function editDistance(a: string, b: string, max = 2): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      cur.push(v);
      best = Math.min(best, v);
    }
    if (best > max) return max + 1;
    prev = cur;
  }
  return prev[b.length] ?? max + 1;
}

/** The closest known name within edit distance 2 (case-insensitively equal first), if any. */
export function didYouMean(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const same = candidates.find((c) => c.toLowerCase() === lower);
  if (same) return same;
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
