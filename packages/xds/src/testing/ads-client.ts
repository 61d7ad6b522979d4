/**
 * A raw ADS client on the same Envoy protos, for protocol-level tests (Delta in particular,
 * which @grpc/grpc-js-xds does not speak) and for load simulators.
 */
import * as grpc from "@grpc/grpc-js";
import { decodeAnyDeep, loadXdsProtos } from "../protocol/protos.js";

export interface SotwResponse {
  readonly version_info: string;
  readonly nonce: string;
  readonly type_url: string;
  readonly resources: readonly { readonly name: string; readonly value: Record<string, unknown> }[];
}

export interface DeltaResponse {
  readonly system_version_info: string;
  readonly nonce: string;
  readonly type_url: string;
  readonly resources: readonly {
    readonly name: string;
    readonly version: string;
    readonly value: Record<string, unknown>;
  }[];
  readonly removed_resources: readonly string[];
}

export interface AdsTestClient<R> {
  /** Every response received so far, in order. */
  readonly responses: readonly R[];
  send(request: Record<string, unknown>): void;
  /** The next response not yet returned by `next` (waits up to `timeoutMs`). */
  next(timeoutMs?: number): Promise<R>;
  /** Resolves with the responses that arrive within `ms` (used to assert silence). */
  collectFor(ms: number): Promise<R[]>;
  close(): void;
}

function resourceName(value: Record<string, unknown>): string {
  return String(value.name ?? value.cluster_name ?? "");
}

/**
 * Opens a SotW or Delta ADS stream to `address` (`host:port`).
 *
 * @example
 * const c = await connectAdsTestClient({ address: xds.address, protocol: "delta", nodeId: "sidecar~127.0.0.1~a.demo~demo.svc.cluster.local" });
 * c.send({ type_url: TYPE_URLS.cds, resource_names_subscribe: ["*"] });
 * const r = await c.next();
 */
export async function connectAdsTestClient(opts: {
  address: string;
  protocol: "sotw";
  nodeId: string;
  credentials?: grpc.ChannelCredentials;
  /** More Node fields for the first request, e.g. `extensions` (what Envoy reports it has). */
  node?: Record<string, unknown>;
}): Promise<AdsTestClient<SotwResponse>>;
export async function connectAdsTestClient(opts: {
  address: string;
  protocol: "delta";
  nodeId: string;
  credentials?: grpc.ChannelCredentials;
  /** More Node fields for the first request, e.g. `extensions` (what Envoy reports it has). */
  node?: Record<string, unknown>;
}): Promise<AdsTestClient<DeltaResponse>>;
export async function connectAdsTestClient(opts: {
  address: string;
  protocol: "sotw" | "delta";
  nodeId: string;
  credentials?: grpc.ChannelCredentials;
  /** More Node fields for the first request, e.g. `extensions` (what Envoy reports it has). */
  node?: Record<string, unknown>;
}): Promise<AdsTestClient<SotwResponse> | AdsTestClient<DeltaResponse>> {
  const { adsService } = loadXdsProtos();
  const Ctor = grpc.makeClientConstructor(adsService as grpc.ServiceDefinition, "AggregatedDiscoveryService");
  const client = new Ctor(
    opts.address,
    opts.credentials ?? grpc.credentials.createInsecure(),
  ) as grpc.Client & Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>;
  const method = opts.protocol === "sotw" ? "StreamAggregatedResources" : "DeltaAggregatedResources";
  const call = (client[method] as () => grpc.ClientDuplexStream<unknown, Record<string, unknown>>)();
  const responses: (SotwResponse | DeltaResponse)[] = [];
  let cursor = 0;
  let waiter: (() => void) | undefined;
  let failure: Error | undefined;
  let sentNode = false;
  call.on("data", (msg: Record<string, unknown>) => {
    if (opts.protocol === "sotw") {
      const resources = (msg.resources as { type_url: string; value: Buffer }[]).map((any) => {
        const value = decodeAnyDeep(any);
        return { name: resourceName(value), value };
      });
      responses.push({
        version_info: String(msg.version_info),
        nonce: String(msg.nonce),
        type_url: String(msg.type_url),
        resources,
      });
    } else {
      const resources = (
        msg.resources as { name: string; version: string; resource: { type_url: string; value: Buffer } }[]
      ).map((r) => ({
        name: r.name,
        version: r.version,
        value: decodeAnyDeep(r.resource),
      }));
      responses.push({
        system_version_info: String(msg.system_version_info),
        nonce: String(msg.nonce),
        type_url: String(msg.type_url),
        resources,
        removed_resources: (msg.removed_resources as string[]) ?? [],
      });
    }
    waiter?.();
  });
  call.on("error", (e: Error) => {
    failure = e;
    waiter?.();
  });
  const api: AdsTestClient<SotwResponse | DeltaResponse> = {
    responses,
    send(request) {
      const msg = sentNode
        ? request
        : {
            node: { id: opts.nodeId, locality: {}, user_agent_name: "meshctl-test", ...opts.node },
            ...request,
          };
      sentNode = true;
      call.write(msg);
    },
    async next(timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (cursor >= responses.length) {
        if (failure) throw failure;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ADS response within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiter = () => {
            clearTimeout(t);
            resolve();
          };
        });
        waiter = undefined;
      }
      return responses[cursor++] as SotwResponse | DeltaResponse;
    },
    async collectFor(ms) {
      const start = responses.length;
      await new Promise((r) => setTimeout(r, ms));
      cursor = responses.length;
      return responses.slice(start);
    },
    close() {
      call.cancel();
      client.close();
    },
  };
  return api as AdsTestClient<SotwResponse> | AdsTestClient<DeltaResponse>;
}
