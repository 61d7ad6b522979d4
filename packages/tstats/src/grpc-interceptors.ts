/**
 * Proxyless gRPC integration for `@grpc/grpc-js`: a client and a server interceptor that exchange
 * Istio peer metadata (`x-envoy-peer-metadata[-id]` request and response headers, stripped when
 * read) and record Istio's metrics with `reporter="source"` and `reporter="destination"`.
 *
 * Wire bytes are not visible to interceptors; `istio_request_bytes`/`istio_response_bytes` count
 * gRPC frames (5-byte prefix + serialized message). Sizes come for free when messages are Buffers
 * or when the service definition is wrapped with `withMessageSizes`; otherwise the interceptor
 * serializes the message once more to measure it, where a serializer is at hand.
 */
import {
  status as GrpcStatus,
  InterceptingCall,
  type Interceptor,
  type InterceptorOptions,
  Metadata,
  type MetadataValue,
  type Responder,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServiceDefinition,
  type StatusObject,
} from "@grpc/grpc-js";
import { PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER } from "./peer-metadata.js";
import {
  type CallSite,
  type DestinationService,
  destinationServiceFromTarget,
  type HttpOutcome,
  type PeerHandle,
  type TstatsRecorder,
} from "./recorder.js";
import { PEER_CACHE_TOKEN_HEADER, type ResponseExchangeMode } from "./response-exchange.js";

type PartialStatusObject = Parameters<NonNullable<Responder["sendStatus"]>>[0];

const GRPC_FRAME_PREFIX_BYTES = 5;
const sizes = new WeakMap<object, number>();

type Serialize = (value: unknown) => Buffer;
type Deserialize = (bytes: Buffer) => unknown;

function rememberSerialize(fn: Serialize): Serialize {
  return (value) => {
    const bytes = fn(value);
    if (value !== null && typeof value === "object") sizes.set(value, bytes.length);
    return bytes;
  };
}

function rememberDeserialize(fn: Deserialize): Deserialize {
  return (bytes) => {
    const value = fn(bytes);
    if (value !== null && typeof value === "object") sizes.set(value as object, bytes.length);
    return value;
  };
}

/**
 * Wraps a service definition's (de)serializers so the interceptors learn message sizes without
 * serializing twice. Use the result for both `server.addService` and `makeGenericClientConstructor`.
 *
 * @example
 * server.addService(withMessageSizes(EchoService), impl);
 */
export function withMessageSizes<T extends ServiceDefinition>(definition: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    out[name] = {
      ...method,
      requestSerialize: rememberSerialize(method.requestSerialize as Serialize),
      responseSerialize: rememberSerialize(method.responseSerialize as Serialize),
      requestDeserialize: rememberDeserialize(method.requestDeserialize as Deserialize),
      responseDeserialize: rememberDeserialize(method.responseDeserialize as Deserialize),
    };
  }
  return out as T;
}

function messageSize(message: unknown, serialize: Serialize | undefined): number {
  if (message instanceof Uint8Array) return message.length + GRPC_FRAME_PREFIX_BYTES;
  if (message !== null && typeof message === "object") {
    const known = sizes.get(message);
    if (known !== undefined) return known + GRPC_FRAME_PREFIX_BYTES;
  }
  if (serialize) {
    try {
      return serialize(message).length + GRPC_FRAME_PREFIX_BYTES;
    } catch {
      return GRPC_FRAME_PREFIX_BYTES;
    }
  }
  return GRPC_FRAME_PREFIX_BYTES;
}

function firstString(values: MetadataValue[]): string | undefined {
  const v = values[0];
  return typeof v === "string" ? v : undefined;
}

/**
 * Our exchange headers as a Metadata to merge into each call. `merge` copies the validated
 * values; `set` would re-run grpc-js's header-value regex over the ~400-byte value every call.
 */
function exchangeMetadata(recorder: TstatsRecorder, what: "full" | "id-only", token?: string): Metadata {
  const md = new Metadata();
  if (what === "full") md.set(PEER_METADATA_HEADER, recorder.localMetadataHeader);
  if (recorder.local.nodeId) md.set(PEER_METADATA_ID_HEADER, recorder.local.nodeId);
  if (token !== undefined) md.set(PEER_CACHE_TOKEN_HEADER, token);
  return md;
}

/**
 * Client: reads and strips the server's exchange headers from response headers or trailers.
 * `peer` is the resolved server; `missedId` is set when the server sent only its id (it believes
 * our cache holds it) and the cache does not.
 */
function takeServerPeer(
  recorder: TstatsRecorder,
  metadata: Metadata | undefined,
  acceptIdOnly: boolean,
): { peer: PeerHandle | undefined; missedId: string | undefined } | undefined {
  if (!metadata) return undefined;
  const header = firstString(metadata.get(PEER_METADATA_HEADER));
  const id = firstString(metadata.get(PEER_METADATA_ID_HEADER));
  if (header !== undefined) {
    metadata.remove(PEER_METADATA_HEADER);
    metadata.remove(PEER_METADATA_ID_HEADER);
    return { peer: recorder.resolvePeer(header, id), missedId: undefined };
  }
  if (id === undefined || !acceptIdOnly) return undefined;
  metadata.remove(PEER_METADATA_ID_HEADER);
  const peer = recorder.cachedPeer(id);
  return { peer, missedId: peer === undefined ? id : undefined };
}

export interface TstatsClientInterceptorOptions {
  /** The channel target (`xds:///echo.default.svc.cluster.local:8080`), for `destination_service*`. */
  readonly target?: string;
  /** Overrides what `target` derives. */
  readonly service?: DestinationService;
  /** This workload's SPIFFE id, when the channel uses mTLS. */
  readonly localPrincipal?: string;
  /** Send our metadata to the server (default true). */
  readonly propagate?: boolean;
  /**
   * `every-request` (default): exactly Istio's exchange. `once-per-client`: also send
   * `x-meshctl-peer-cache`, so that a tstats server in the same mode sends its full metadata once
   * per client cache and afterwards only its id; Envoy sidecars ignore it (see ADR 0053).
   */
  readonly exchange?: ResponseExchangeMode;
}

/**
 * A grpc-js client interceptor that sends this workload's peer metadata and records
 * `reporter="source"` metrics when each call ends.
 *
 * @example
 * const client = new EchoClient(target, credentials.createInsecure(), {
 *   interceptors: [createTstatsClientInterceptor(recorder, { target })],
 * });
 */
export function createTstatsClientInterceptor(
  recorder: TstatsRecorder,
  options: TstatsClientInterceptorOptions = {},
): Interceptor {
  const service =
    options.service ?? (options.target ? destinationServiceFromTarget(options.target) : undefined);
  const site = recorder.callSite({
    reporter: "source",
    ...(service ? { service } : {}),
    ...(options.localPrincipal ? { localPrincipal: options.localPrincipal } : {}),
  });
  const propagate = options.propagate ?? true;
  const once = options.exchange === "once-per-client";
  // The request headers, rebuilt only when the token changes (after a cache eviction or a miss).
  let ours = exchangeMetadata(recorder, "full");
  let oursToken: string | undefined;
  const requestMetadata = (): Metadata => {
    if (!once) return ours;
    const token = recorder.peerCacheToken();
    if (token !== oursToken) {
      ours = exchangeMetadata(recorder, "full", token);
      oursToken = token;
    }
    return ours;
  };

  return (callOptions: InterceptorOptions, nextCall) => {
    const def = callOptions.method_definition;
    const started = performance.now();
    let peer: PeerHandle | undefined;
    let missedId: string | undefined;
    let acceptIdOnly = false;
    let gotHeaders = false;
    let requestMessages = 0;
    let responseMessages = 0;
    let requestBytes = 0;
    let responseBytes = 0;
    return new InterceptingCall(nextCall(callOptions), {
      start(metadata, _listener, next) {
        if (propagate) {
          const md = requestMetadata();
          // Only a request that advertised our cache may be answered with an id alone.
          acceptIdOnly = oursToken !== undefined && once;
          metadata.merge(md);
        }
        next(metadata, {
          onReceiveMetadata(md, nextMd) {
            gotHeaders = true;
            const got = takeServerPeer(recorder, md, acceptIdOnly);
            if (got !== undefined) {
              peer = got.peer;
              missedId = got.missedId;
            }
            nextMd(md);
          },
          onReceiveMessage(message, nextMessage) {
            responseMessages++;
            responseBytes += messageSize(message, undefined);
            nextMessage(message);
          },
          onReceiveStatus(status: StatusObject, nextStatus) {
            if (peer === undefined && missedId === undefined) {
              // A trailers-only response carries the headers in the trailers.
              const got = takeServerPeer(recorder, status.metadata, acceptIdOnly);
              if (got !== undefined) {
                peer = got.peer;
                missedId = got.missedId;
              }
            }
            const noResponse =
              !gotHeaders &&
              status.code === GrpcStatus.UNAVAILABLE &&
              peer === undefined &&
              missedId === undefined;
            const outcome: HttpOutcome = {
              protocol: "grpc",
              responseCode: noResponse ? 0 : 200,
              grpcStatus: status.code,
              responseFlags: noResponse ? "UF" : "-",
              durationMs: performance.now() - started,
              requestBytes,
              responseBytes,
              requestMessages,
              responseMessages,
            };
            if (missedId !== undefined) recorder.recordWhenPeerKnown(missedId, site, outcome);
            else recorder.recordHttp(site, peer ?? recorder.resolvePeer(undefined), outcome);
            nextStatus(status);
          },
        });
      },
      sendMessage(message, next) {
        requestMessages++;
        next(message);
        // grpc-js serializes synchronously below the interceptors, so a wrapped serializer has run.
        requestBytes += messageSize(message, def.requestSerialize as Serialize | undefined);
      },
    });
  };
}

export interface TstatsServerInterceptorOptions {
  /** The service this server implements; default: derived from each call's `:authority`. */
  readonly service?: DestinationService;
  /** This workload's SPIFFE id, when the server uses mTLS. */
  readonly localPrincipal?: string;
  /**
   * `every-request` (default): exactly Istio's exchange. `once-per-client`: to a client that
   * advertises its peer cache (`x-meshctl-peer-cache`, tstats clients in the same mode), send the
   * full metadata once and then only the id; clients without it (Envoy sidecars) get both headers
   * on every response either way (see ADR 0053).
   */
  readonly exchange?: ResponseExchangeMode;
}

/** The first SPIFFE (URI) SAN of the client's certificate; mTLS means grpc-js verified it. */
function peerPrincipalOf(auth: ReturnType<ServerInterceptingCallInterface["getAuthContext"]>): string {
  const san = auth.sslPeerCertificate?.subjectaltname;
  if (!san) return "";
  const uri = san.split(", ").find((s) => s.startsWith("URI:"));
  return uri ? uri.slice(4) : "";
}

/**
 * A grpc-js server interceptor that reads (and strips) the client's peer metadata, answers with
 * this workload's when the client sent some, and records `reporter="destination"` metrics.
 *
 * @example
 * const server = new Server({ interceptors: [createTstatsServerInterceptor(recorder)] });
 */
export function createTstatsServerInterceptor(
  recorder: TstatsRecorder,
  options: TstatsServerInterceptorOptions = {},
): ServerInterceptor {
  const ours = exchangeMetadata(recorder, "full");
  const oursIdOnly = exchangeMetadata(recorder, "id-only");
  const once = options.exchange === "once-per-client" && recorder.local.nodeId !== "";
  const sitesByHost = new Map<string, CallSite>();
  // The call site depends on the connection (its TLS peer) and the :authority. A connection's
  // TLS identity cannot change (HTTP/2 forbids renegotiation), so when the HTTP/2 session is
  // reachable (this interceptor wraps grpc-js's base call) the site is kept per session; this
  // skips getAuthContext(), which goes through the session's socket proxy on every call.
  const sitesBySession = new WeakMap<object, Map<string, CallSite>>();
  const siteFor = (call: ServerInterceptingCallInterface): CallSite => {
    const session = (call as { stream?: { session?: unknown } }).stream?.session;
    if (typeof session !== "object" || session === null) return siteOf(call);
    let byHost = sitesBySession.get(session);
    if (byHost === undefined) {
      byHost = new Map();
      sitesBySession.set(session, byHost);
    }
    const host = call.getHost();
    let site = byHost.get(host);
    if (site === undefined) {
      site = siteOf(call);
      byHost.set(host, site);
    }
    return site;
  };
  const siteOf = (call: ServerInterceptingCallInterface): CallSite => {
    const host = call.getHost();
    // grpc-js reports "ssl" only for a verified client certificate, i.e. mutual TLS.
    const auth = call.getAuthContext();
    if (auth.transportSecurityType !== "ssl") {
      let site = sitesByHost.get(host);
      if (site === undefined) {
        site = recorder.callSite({
          reporter: "destination",
          service: options.service ?? destinationServiceFromTarget(host),
          mutualTls: false,
        });
        sitesByHost.set(host, site);
      }
      return site;
    }
    const principal = peerPrincipalOf(auth);
    return recorder.callSite({
      reporter: "destination",
      service: options.service ?? destinationServiceFromTarget(host),
      ...(options.localPrincipal ? { localPrincipal: options.localPrincipal } : {}),
      ...(principal ? { peerPrincipal: principal } : {}),
      // Istio: mutual_tls when both sides have a SAN.
      mutualTls: principal !== "" && (options.localPrincipal ?? "") !== "",
    });
  };

  return (method, call) => {
    const started = performance.now();
    const site = siteFor(call);
    let peer: PeerHandle | undefined;
    let peerId: string | undefined;
    let peerToken: string | undefined;
    let sentMetadata = false;
    let recorded = false;
    let requestMessages = 0;
    let responseMessages = 0;
    let requestBytes = 0;
    let responseBytes = 0;
    // Which of our headers this response carries (decided once, when they are sent).
    const ourHeaders = (): Metadata =>
      once && !recorder.sentMetadata.needsFullMetadata(peerToken, peerId) ? oursIdOnly : ours;
    const record = (responseCode: number, grpcStatus: number, responseFlags: string): void => {
      if (recorded) return;
      recorded = true;
      recorder.recordHttp(site, peer ?? recorder.resolvePeer(undefined), {
        protocol: "grpc",
        responseCode,
        grpcStatus,
        responseFlags,
        durationMs: performance.now() - started,
        requestBytes,
        responseBytes,
        requestMessages,
        responseMessages,
      });
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMd) {
            const header = firstString(metadata.get(PEER_METADATA_HEADER));
            const token = firstString(metadata.get(PEER_CACHE_TOKEN_HEADER));
            if (token !== undefined) metadata.remove(PEER_CACHE_TOKEN_HEADER);
            if (header !== undefined) {
              peerId = firstString(metadata.get(PEER_METADATA_ID_HEADER));
              peerToken = token;
              metadata.remove(PEER_METADATA_HEADER);
              metadata.remove(PEER_METADATA_ID_HEADER);
              peer = recorder.resolvePeer(header, peerId);
            }
            nextMd(metadata);
          },
          onReceiveMessage(message, nextMessage) {
            requestMessages++;
            requestBytes += messageSize(message, undefined);
            nextMessage(message);
          },
          onCancel() {
            // Envoy: "DC", downstream connection termination.
            record(0, GrpcStatus.CANCELLED, "DC");
          },
        });
      },
      sendMetadata(metadata, next) {
        sentMetadata = true;
        if (peer !== undefined) metadata.merge(ourHeaders());
        next(metadata);
      },
      sendMessage(message, next) {
        responseMessages++;
        next(message);
        responseBytes += messageSize(message, method.responseSerialize as Serialize | undefined);
      },
      sendStatus(status: PartialStatusObject, next) {
        if (!sentMetadata && peer !== undefined) {
          // Trailers-only response: our headers travel in the trailers.
          const md = status.metadata ?? new Metadata();
          md.merge(ourHeaders());
          status = { ...status, metadata: md };
        }
        record(200, status.code, "-");
        next(status);
      },
    });
  };
}
