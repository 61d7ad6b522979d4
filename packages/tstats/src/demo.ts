/**
 * A self-contained demonstration: an exporter plus, optionally, proxyless gRPC traffic between
 * in-process clients and an echo server through the tstats interceptors, so a Prometheus pointed
 * at the exporter shows Istio-shaped series within seconds (`meshctl tstats serve --demo-traffic`).
 */
import {
  credentials,
  Metadata,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  status,
} from "@grpc/grpc-js";
import { MeshctlError } from "@meshctl/core";
import { type RunningExporter, startTstatsExporter } from "./exporter.js";
import {
  createTstatsClientInterceptor,
  createTstatsServerInterceptor,
  withMessageSizes,
} from "./grpc-interceptors.js";
import { type LocalWorkload, localWorkload } from "./local-workload.js";
import { MetricRegistry } from "./metric-registry.js";
import { TstatsRecorder } from "./recorder.js";

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const parse = (b: Buffer): unknown => JSON.parse(b.toString());
const DEMO_SERVICE: ServiceDefinition = withMessageSizes({
  echo: {
    path: "/meshctl.demo.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: json,
    requestDeserialize: parse,
    responseSerialize: json,
    responseDeserialize: parse,
    originalName: "echo",
  },
});

export interface TstatsDemoOptions {
  /** The identity the exporter reports as (server side of the demo traffic). */
  readonly local: LocalWorkload;
  readonly host?: string;
  readonly port?: number;
  /** Calls per second of demo traffic; 0 serves the exporter only. */
  readonly rate?: number;
}

export interface RunningTstatsDemo {
  readonly exporter: RunningExporter;
  readonly registry: MetricRegistry;
  readonly recorder: TstatsRecorder;
  /** Calls made so far by the demo traffic. */
  calls(): number;
  close(): Promise<void>;
}

/**
 * Starts the exporter and, with `rate > 0`, two demo clients (`frontend`, `batch`; one in ten
 * batch calls fails with NOT_FOUND) calling an echo server that reports as `local`.
 *
 * @example
 * const demo = await startTstatsDemo({ local: localWorkload({ workloadName: "echo-v1", namespace: "default" }), rate: 20 });
 */
export async function startTstatsDemo(options: TstatsDemoOptions): Promise<RunningTstatsDemo> {
  const registry = new MetricRegistry({ istioVersion: options.local.istioVersion });
  const recorder = new TstatsRecorder({ local: options.local, registry });
  const exporter = await startTstatsExporter({
    registry,
    ...(options.host ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
  });
  const rate = options.rate ?? 0;
  if (rate <= 0) return { exporter, registry, recorder, calls: () => 0, close: () => exporter.close() };

  const server = new Server({ interceptors: [createTstatsServerInterceptor(recorder)] });
  server.addService(DEMO_SERVICE, {
    echo: (
      call: { request: { text: string; fail?: boolean } },
      cb: (e: { code: number } | null, r?: unknown) => void,
    ) => (call.request.fail ? cb({ code: status.NOT_FOUND }) : cb(null, { text: call.request.text })),
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
  } catch (cause) {
    await exporter.close();
    throw new MeshctlError("TSTATS_DEMO_FAILED", "The demo gRPC server could not listen on 127.0.0.1.", {
      kind: "environment",
      cause,
    });
  }
  const Client = makeGenericClientConstructor(DEMO_SERVICE, "Echo");
  const target = `${options.local.canonicalService || "echo"}.${options.local.namespace || "default"}.svc.cluster.local:${port}`;
  const clients = ["frontend", "batch"].map((name) => {
    const local = localWorkload({
      workloadName: `${name}-v1`,
      namespace: options.local.namespace || "default",
      app: name,
      version: "v1",
      instanceName: `${name}-v1-0`,
    });
    const rec = new TstatsRecorder({ local, registry });
    return new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
      interceptors: [createTstatsClientInterceptor(rec, { target })],
    }) as unknown as { echo: (r: unknown, md: Metadata, cb: () => void) => void; close(): void };
  });
  let n = 0;
  const timer = setInterval(() => {
    const client = clients[n % 2]!;
    client.echo({ text: `hello ${n}`, fail: n % 2 === 1 && n % 10 === 1 }, new Metadata(), () => undefined);
    n++;
  }, 1000 / rate);
  timer.unref();
  return {
    exporter,
    registry,
    recorder,
    calls: () => n,
    close: async () => {
      clearInterval(timer);
      for (const c of clients) c.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await exporter.close();
    },
  };
}
