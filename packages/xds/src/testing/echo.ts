/** A tiny gRPC echo service (JSON-encoded, no .proto needed) for tests and the bench lab. */
import * as grpc from "@grpc/grpc-js";

export interface EchoRequest {
  readonly message?: string;
}

export interface EchoReply {
  /** Id of the server that answered. */
  readonly server: string;
  readonly message: string;
  /** Request headers the server saw (lower-case). */
  readonly headers: Readonly<Record<string, string>>;
}

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString("utf8")) as unknown,
};

export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Echo: {
    path: "/meshctl.testing.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
    originalName: "echo",
  },
};

export interface EchoServerOptions {
  readonly id: string;
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Return a gRPC status to fail call number `n` (0-based), or undefined to answer. */
  readonly fail?: (n: number) => grpc.status | undefined;
}

export interface EchoServer {
  readonly id: string;
  readonly port: number;
  /** Calls received so far (including failed ones). */
  readonly calls: number;
  close(): Promise<void>;
}

/**
 * Starts an echo server on 127.0.0.1.
 *
 * @example
 * const a = await startEchoServer({ id: "a" });
 * // ... point an EndpointSlice at 127.0.0.1:a.port
 * await a.close();
 */
export async function startEchoServer(options: EchoServerOptions): Promise<EchoServer> {
  const server = new grpc.Server();
  let calls = 0;
  server.addService(ECHO_SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      const n = calls++;
      const failure = options.fail?.(n);
      if (failure !== undefined) {
        callback({ code: failure, details: `${options.id} failed call ${n} on purpose` });
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(call.metadata.getMap())) headers[k] = String(v);
      callback(null, { server: options.id, message: call.request.message ?? "", headers });
    },
  });
  const host = options.host ?? "127.0.0.1";
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    id: options.id,
    port,
    get calls() {
      return calls;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000).unref();
      }),
  };
}

export interface EchoClient {
  echo(
    message?: string,
    metadata?: Readonly<Record<string, string>>,
    deadlineMs?: number,
  ): Promise<EchoReply>;
  close(): void;
}

const EchoClientCtor = grpc.makeGenericClientConstructor(ECHO_SERVICE, "Echo");

let xdsRegistered: Promise<void> | undefined;

/** Registers the `xds:` resolver of @grpc/grpc-js-xds (once per process). */
export function registerXdsResolver(): Promise<void> {
  xdsRegistered ??= import("@grpc/grpc-js-xds").then((m) => {
    const mod = m as unknown as { register?: () => void; default?: { register: () => void } };
    (mod.register ?? mod.default?.register)?.();
  });
  return xdsRegistered;
}

/**
 * An echo client for any target, including `xds:///host:port`. `bootstrap` is passed through the
 * grpc-js-xds per-channel test option, so several clients with different node identities can
 * live in one process; without it, GRPC_XDS_BOOTSTRAP / GRPC_XDS_BOOTSTRAP_CONFIG apply.
 *
 * @example
 * const client = await createEchoClient("xds:///echo.demo.svc.cluster.local:7070", { bootstrap });
 * const reply = await client.echo("hi");
 */
export async function createEchoClient(
  target: string,
  opts: { bootstrap?: Record<string, unknown> } = {},
): Promise<EchoClient> {
  if (target.startsWith("xds:")) await registerXdsResolver();
  const options: grpc.ChannelOptions = {};
  if (opts.bootstrap)
    options["grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config"] = JSON.stringify(opts.bootstrap);
  const client = new EchoClientCtor(target, grpc.credentials.createInsecure(), options);
  return {
    echo: (message = "", metadata = {}, deadlineMs = 5000) =>
      new Promise<EchoReply>((resolve, reject) => {
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(metadata)) md.set(k, v);
        (
          client as unknown as {
            Echo: (
              req: EchoRequest,
              md: grpc.Metadata,
              opts: grpc.CallOptions,
              cb: (e: grpc.ServiceError | null, r?: EchoReply) => void,
            ) => void;
          }
        ).Echo({ message }, md, { deadline: Date.now() + deadlineMs }, (err, reply) =>
          err ? reject(err) : resolve(reply as EchoReply),
        );
      }),
    close: () => client.close(),
  };
}
