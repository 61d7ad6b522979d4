// A tiny gRPC echo service over JSON serialization, shared by tests and the benchmark.
import {
  type Client,
  credentials,
  type Interceptor,
  Metadata,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServerInterceptor,
  type ServiceDefinition,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";

export interface EchoMessage {
  text: string;
  fail?: number;
}

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};

export const ECHO_SERVICE: ServiceDefinition = {
  echo: {
    path: "/meshctl.test.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
    originalName: "echo",
  },
  collect: {
    path: "/meshctl.test.Echo/Collect",
    requestStream: true,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
    originalName: "collect",
  },
};

export interface EchoServer {
  readonly port: number;
  /** Metadata keys the handler saw on the last call. */
  readonly seenKeys: string[][];
  close(): Promise<void>;
}

export async function startEchoServer(
  options: {
    interceptors?: ServerInterceptor[];
    service?: ServiceDefinition;
    /** Response headers the handler sends itself (benchmark control: headers without interceptors). */
    responseMetadata?: Metadata;
    /** Runs inside the echo handler before it answers (tests that act mid-call). */
    onEcho?: () => void;
    /** Port to bind (default: any free one). */
    port?: number;
  } = {},
): Promise<EchoServer> {
  const server = new Server({ interceptors: options.interceptors ?? [] });
  const seenKeys: string[][] = [];
  type Callback = (err: { code: number; details: string } | null, res?: EchoMessage) => void;
  const impl: UntypedServiceImplementation = {
    echo: (
      call: { request: EchoMessage; metadata: Metadata; sendMetadata(md: Metadata): void },
      cb: Callback,
    ) => {
      // Bounded: the benchmark makes hundreds of thousands of calls.
      if (seenKeys.length >= 100) seenKeys.shift();
      seenKeys.push(Object.keys(call.metadata.getMap()));
      options.onEcho?.();
      if (options.responseMetadata) call.sendMetadata(options.responseMetadata.clone());
      if (call.request.fail) cb({ code: call.request.fail, details: "asked to fail" });
      else cb(null, { text: call.request.text });
    },
    collect: (call: NodeJS.EventEmitter & { metadata: Metadata }, cb: Callback) => {
      const texts: string[] = [];
      call.on("data", (m: EchoMessage) => texts.push(m.text));
      call.on("end", () => cb(null, { text: texts.join(",") }));
    },
  };
  server.addService(options.service ?? ECHO_SERVICE, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    seenKeys,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export type EchoClient = Client & {
  echo(
    req: EchoMessage,
    md: Metadata,
    cb: (err: (Error & { code?: number; metadata?: Metadata }) | null, res?: EchoMessage) => void,
  ): unknown;
  collect(
    md: Metadata,
    cb: (err: Error | null, res?: EchoMessage) => void,
  ): { write(m: EchoMessage): void; end(): void };
};

export function echoClient(
  port: number,
  options: {
    interceptors?: Interceptor[];
    service?: ServiceDefinition;
    /** The `:authority` to send instead of `127.0.0.1:<port>` (e.g. a service name through a sidecar). */
    authority?: string;
  } = {},
): EchoClient {
  const Ctor = makeGenericClientConstructor(options.service ?? ECHO_SERVICE, "Echo");
  return new Ctor(`127.0.0.1:${port}`, credentials.createInsecure(), {
    interceptors: options.interceptors ?? [],
    ...(options.authority ? { "grpc.default_authority": options.authority } : {}),
  }) as unknown as EchoClient;
}

/** One unary call; also returns the response header keys the application saw. */
export function callEcho(
  client: EchoClient,
  req: EchoMessage,
): Promise<{ res?: EchoMessage; code: number; headerKeys: string[] }> {
  return new Promise((resolve) => {
    let headerKeys: string[] = [];
    const call = client.echo(req, new Metadata(), (err, res) =>
      resolve(
        err ? { code: err.code ?? status.UNKNOWN, headerKeys } : { res: res!, code: status.OK, headerKeys },
      ),
    ) as NodeJS.EventEmitter;
    call.on("metadata", (md: Metadata) => {
      headerKeys = Object.keys(md.getMap());
    });
  });
}
