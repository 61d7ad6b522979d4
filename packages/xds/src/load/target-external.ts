/**
 * An xDS server that is already running (`--server host:port`). Churn is possible only when
 * the harness knows the directory that server watches (`--config-dir`).
 */
import type { ChurnChange } from "./churn.js";
import type { LoadTargetDriver, TargetEndpoint } from "./target.js";
import { writeMeshFiles } from "./target.js";

export interface ExternalTargetOptions {
  readonly address: string;
  readonly pid?: number;
  readonly metricsUrl?: string;
  /** Prefix of the metrics to copy into the report; default: `meshctl_xds_` and `pilot_`. */
  readonly metricsPrefix?: string;
  /** The directory the server watches: the harness writes the mesh and churn there. */
  readonly configDir?: string;
}

/**
 * @example
 * const target = new ExternalTarget({ address: "127.0.0.1:15010", configDir: "./mesh" });
 */
export class ExternalTarget implements LoadTargetDriver {
  readonly name = "external";
  readonly canChurn: boolean;
  private meshDir = "";

  constructor(private readonly options: ExternalTargetOptions) {
    this.canChurn = options.configDir !== undefined;
  }

  async start(meshDir: string): Promise<TargetEndpoint> {
    this.meshDir = meshDir;
    const o = this.options;
    return {
      address: o.address,
      ...(o.pid !== undefined ? { pid: o.pid } : {}),
      ...(o.metricsUrl !== undefined ? { metricsUrl: o.metricsUrl } : {}),
      ...(o.metricsPrefix !== undefined ? { metricsPrefix: o.metricsPrefix } : {}),
    };
  }

  async apply(change: ChurnChange): Promise<void> {
    if (this.canChurn) await writeMeshFiles(this.meshDir, change.files);
  }

  async stop(): Promise<void> {}
}
