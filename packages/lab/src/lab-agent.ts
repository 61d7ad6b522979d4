// The lab's pod agent (dist/lab-agent.js), run inside a pod's network namespace and cgroup:
//   lab-agent.js echo '<EchoServerOptions JSON>'  serves until SIGTERM; prints {"ready":...} once listening
//   lab-agent.js load '<LoadOptions JSON>'        runs the load engine; live progress goes to stderr as
//                                                 "@progress <LoadProgress JSON>" lines, the LoadResult to stdout
//   lab-agent.js grpc-load '<GrpcLoadOptions>'  the same for proxyless gRPC over an xds:/// target
//   lab-agent.js xds '{"objects","port"}'          meshctl's xDS control plane on 127.0.0.1 inside the pod
// It wraps the engine (runLoad, startEchoServer); it is not a second engine.
import {
  type EchoServerOptions,
  type LoadOptions,
  type LoadProgress,
  runLoad,
  startEchoServer,
} from "@meshctl/bench";
import { isMeshctlError } from "@meshctl/core";
import {
  decodeAgentArgv,
  encodeAgentOutput,
  encodeProgressLine,
  type XdsAgentSpec,
} from "./agent-protocol.js";
import { type GrpcLoadOptions, runGrpcLoad } from "./grpc-load.js";

function stopSignal(): AbortController {
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  process.once("SIGTERM", () => controller.abort());
  return controller;
}

async function echo(spec: EchoServerOptions): Promise<number> {
  const controller = stopSignal();
  const server = await startEchoServer(spec);
  process.stdout.write(`${JSON.stringify({ ready: true, url: server.url, pid: process.pid })}\n`);
  await new Promise<void>((resolve) =>
    controller.signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  await server.close();
  return 0;
}

async function load(options: LoadOptions): Promise<number> {
  const controller = stopSignal();
  const result = await runLoad({
    ...options,
    signal: controller.signal,
    onProgress: reportProgress,
  });
  process.stdout.write(encodeAgentOutput(result));
  return 0;
}

function reportProgress(p: LoadProgress): void {
  process.stderr.write(encodeProgressLine(p));
}

async function grpcLoad(options: GrpcLoadOptions): Promise<number> {
  const controller = stopSignal();
  const result = await runGrpcLoad(options, { signal: controller.signal, onProgress: reportProgress });
  process.stdout.write(encodeAgentOutput(result));
  return 0;
}

async function xds(spec: XdsAgentSpec): Promise<number> {
  const controller = stopSignal();
  const { staticMeshSource, startXdsServer } = await import("@meshctl/xds");
  const envoyFilters = spec.telemetry
    ? (await import("@meshctl/tstats")).tstatsEnvoyFilters({
        enabled: true,
        module: spec.telemetry,
        filters: {},
        updatedAt: "",
      })
    : undefined;
  const server = await startXdsServer({
    source: staticMeshSource(spec.objects),
    host: "127.0.0.1",
    port: spec.port,
    debugPort: false,
    ...(spec.accessLog ? { accessLog: spec.accessLog } : {}),
    ...(envoyFilters ? { envoyFilters } : {}),
  });
  process.stdout.write(`${JSON.stringify({ ready: true, address: server.address, pid: process.pid })}\n`);
  await new Promise<void>((resolve) =>
    controller.signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  await server.close();
  return 0;
}

async function main(): Promise<number> {
  try {
    const { mode, spec } = decodeAgentArgv(process.argv.slice(2));
    if (mode === "echo") return await echo(spec as EchoServerOptions);
    if (mode === "load") return await load(spec as LoadOptions);
    if (mode === "grpc-load") return await grpcLoad(spec as GrpcLoadOptions);
    if (mode === "xds") return await xds(spec as XdsAgentSpec);
    throw new Error(`unknown mode ${mode || "(none)"}: use echo, load, grpc-load or xds`);
  } catch (err) {
    const error = isMeshctlError(err)
      ? { code: err.code, message: err.message, kind: err.kind }
      : { code: "LAB_AGENT_FAILED", message: err instanceof Error ? err.message : String(err), kind: "bug" };
    process.stdout.write(encodeAgentOutput({ error }));
    return 1;
  }
}

main().then((code) => {
  process.exitCode = code;
});
