import { type LoadProtocol, startEchoServer } from "@meshctl/bench";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

export interface BenchServerResult {
  readonly protocol: LoadProtocol;
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly uptimeSeconds: number;
}

const DEFAULT_PORTS: Record<LoadProtocol, number> = { http1: 8080, http2: 8081, grpc: 50051, tcp: 7000 };

export default class BenchServer extends MeshctlCommand<BenchServerResult> {
  static override summary = "Start an echo server for bench run (HTTP/1.1, h2c, gRPC, TCP)";
  static override description = `Serves until Ctrl-C (SIGINT) or SIGTERM:
  http1  HTTP/1.1 keep-alive; echoes the request body (GET answers "ok")
  http2  HTTP/2 cleartext (prior knowledge, h2c://); echoes the body
  grpc   gRPC unary /meshctl.bench.v1.Echo/Echo; echoes the message
  tcp    echoes every byte (ping-pong)
Prints the URL to pass to \`meshctl bench run\`.`;
  static override examples = [
    "<%= config.bin %> bench server --protocol http1 --port 8080",
    "<%= config.bin %> bench server --protocol grpc --port 50051 --host 0.0.0.0",
  ];
  static override flags = {
    protocol: Flags.string({
      description: "Protocol to serve.",
      options: ["http1", "http2", "grpc", "tcp"],
      default: "http1",
    }),
    port: Flags.integer({
      description: "Port (0 picks a free one). Default: 8080 http1, 8081 http2, 50051 grpc, 7000 tcp.",
      min: 0,
      max: 65535,
    }),
    host: Flags.string({ description: "Address to listen on.", default: "127.0.0.1" }),
    "busy-poll": Flags.boolean({
      description:
        "Poll without sleeping while clients are connected (one busy core; lowest round-trip floor).",
    }),
  };

  protected async execute(): Promise<BenchServerResult> {
    const { flags } = await this.parse(BenchServer);
    const protocol = flags.protocol as LoadProtocol;
    const server = await startEchoServer({
      protocol,
      port: flags.port ?? DEFAULT_PORTS[protocol],
      host: flags.host,
    });
    const started = Date.now();
    // Serving ends on SIGINT/SIGTERM: a normal stop (exit 0). Closing destroys the clients'
    // connections, so it takes milliseconds; a second signal exits at once all the same. The
    // handlers are in place before the URL is printed: whoever waits for it may signal at once.
    const stopped = new Promise<void>((resolve) => {
      const onSignal = (): void => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        process.once("SIGINT", () => process.exit(130));
        process.once("SIGTERM", () => process.exit(143));
        resolve();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    });
    // The URL goes to stderr under --json so stdout stays one JSON document.
    const line = `${protocol} echo server listening on ${server.url} (Ctrl-C to stop)`;
    if (this.jsonEnabled()) process.stderr.write(`${line}\n`);
    else this.log(line);
    await stopped;
    await server.close();
    return {
      protocol,
      url: server.url,
      host: server.host,
      port: server.port,
      uptimeSeconds: Math.round((Date.now() - started) / 100) / 10,
    };
  }

  protected renderText(r: BenchServerResult): string {
    return `stopped ${r.protocol} echo server on ${r.url} after ${r.uptimeSeconds}s`;
  }
}
