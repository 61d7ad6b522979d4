/**
 * istiod (pilot-discovery) as a peer, with the kube-apiserver + etcd it needs, started by the
 * monorepo's `bench/peers/istiod/launch.mjs`. istiod reads the same YAML directory (its fs
 * config source), so churn is the same file writes as for meshctl.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { MeshctlError } from "@meshctl/core";
import { DEFAULT_MAX_STREAMS_PER_SECOND } from "../server/ads-server.js";
import type { ChurnChange } from "./churn.js";
import {
  findRepoRoot,
  type LoadTargetDriver,
  type ServerOptionValue,
  type TargetContext,
  type TargetEndpoint,
  writeMeshFiles,
} from "./target.js";

/** What bench/peers/istiod/launch.mjs's startKubeApiserver returns. */
export interface KubeHandle {
  readonly kubeconfig: string;
  readonly server: string;
  readonly token: string;
  /** The CA certificate (PEM). */
  readonly ca: string;
  readonly pids: { readonly etcd: number; readonly apiserver: number };
  close(): Promise<void>;
}

/** What launch.mjs's startIstiod returns (the fields the harness uses). */
export interface IstiodHandle {
  readonly xdsAddress: string;
  readonly monitoringAddress: string;
  readonly pid: number;
  close(): Promise<void>;
}

/** The contract of bench/peers/istiod/launch.mjs. */
export interface IstiodLauncher {
  istiodAvailable(): { ok: boolean; reason: string };
  kubeAvailable(): { ok: boolean; reason: string };
  startKubeApiserver(opts: { workDir?: string }): Promise<KubeHandle>;
  ensureNamespace?(kube: KubeHandle, name: string): Promise<void>;
  startIstiod(opts: {
    /** Istio YAML directory; or istioConfigFromKube for the API server's Istio custom resources. */
    configDir?: string;
    istioConfigFromKube?: boolean;
    kube: KubeHandle;
    env: Record<string, string>;
    logLevel?: string;
  }): Promise<IstiodHandle>;
}

/** meshctl's server knobs, as istiod's environment (so both run with the same tuning). */
const ISTIOD_ENV: Record<string, (v: ServerOptionValue) => [string, string]> = {
  debounceAfterMs: (v) => ["PILOT_DEBOUNCE_AFTER", `${Number(v)}ms`],
  debounceMaxMs: (v) => ["PILOT_DEBOUNCE_MAX", `${Number(v)}ms`],
  pushConcurrency: (v) => ["PILOT_PUSH_THROTTLE", String(Number(v))],
  maxStreamsPerSecond: (v) => ["PILOT_MAX_REQUESTS_PER_SECOND", String(Number(v))],
};

/**
 * istiod's environment for meshctl-style knobs; knobs istiod has no twin for are skipped.
 *
 * @example
 * istiodEnvironment({ debounceAfterMs: 100 }); // { PILOT_MAX_REQUESTS_PER_SECOND: "500", PILOT_DEBOUNCE_AFTER: "100ms" }
 */
export function istiodEnvironment(
  options: Readonly<Record<string, ServerOptionValue>>,
): Record<string, string> {
  // meshctl's defaults where they differ from istiod's, so a run without knobs is still fair:
  // istiod admits min(15 + 5 x cores, 100) new streams/s (25 on 2 cores), meshctl 500.
  const env: Record<string, string> = {
    PILOT_MAX_REQUESTS_PER_SECOND: String(DEFAULT_MAX_STREAMS_PER_SECOND),
  };
  for (const [key, value] of Object.entries(options)) {
    const map = ISTIOD_ENV[key];
    if (!map) continue;
    const [name, text] = map(value);
    env[name] = text;
  }
  return env;
}

/** The launcher script, or undefined outside the monorepo. */
export function istiodLauncherPath(): string | undefined {
  const root = findRepoRoot();
  return root ? join(root, "bench/peers/istiod/launch.mjs") : undefined;
}

/**
 * @example
 * const target = new IstiodTarget({ serverOptions: { debounceAfterMs: 100 } });
 */
export class IstiodTarget implements LoadTargetDriver {
  readonly name = "istiod";
  readonly canChurn = true;
  private kube: KubeHandle | undefined;
  private istiod: IstiodHandle | undefined;
  private meshDir = "";
  private startMs = 0;

  constructor(
    private readonly options: { readonly serverOptions?: Readonly<Record<string, ServerOptionValue>> } = {},
  ) {}

  /** Loads the launcher, or throws an environment error saying what to build. */
  static async launcher(need: "istiod" | "kube" = "istiod"): Promise<IstiodLauncher> {
    const path = istiodLauncherPath();
    if (!path || !existsSync(path))
      throw new MeshctlError(
        "XDS_LOAD_PEER_MISSING",
        "The istiod peer launcher (bench/peers/istiod/launch.mjs) is missing.",
        {
          kind: "environment",
          suggestions: ["Run from the meshctl monorepo, where bench/peers/istiod/ lives."],
        },
      );
    const launcher = (await import(pathToFileURL(path).href)) as IstiodLauncher;
    const available = need === "istiod" ? launcher.istiodAvailable() : launcher.kubeAvailable();
    if (!available.ok)
      throw new MeshctlError("XDS_LOAD_PEER_MISSING", `${need} is not available: ${available.reason}`, {
        kind: "environment",
        suggestions: ["bash scripts/peers/build-kube.sh && bash scripts/peers/build-istiod.sh"],
      });
    return launcher;
  }

  async start(meshDir: string, context: TargetContext): Promise<TargetEndpoint> {
    this.meshDir = meshDir;
    const launcher = await IstiodTarget.launcher();
    try {
      this.kube = await launcher.startKubeApiserver({});
      for (const ns of context.description.namespaces) await launcher.ensureNamespace?.(this.kube, ns);
      const startedAt = performance.now();
      this.istiod = await launcher.startIstiod({
        configDir: meshDir,
        kube: this.kube,
        env: istiodEnvironment(this.options.serverOptions ?? {}),
        logLevel: "default:warn",
      });
      this.startMs = performance.now() - startedAt;
    } catch (cause) {
      await this.stop();
      throw new MeshctlError(
        "XDS_LOAD_SERVER_FAILED",
        `istiod did not start: ${cause instanceof Error ? cause.message : String(cause)}`,
        { kind: "external", cause },
      );
    }
    return {
      address: this.istiod.xdsAddress,
      pid: this.istiod.pid,
      componentPids: { apiserver: this.kube.pids.apiserver, etcd: this.kube.pids.etcd },
      metricsUrl: `http://${this.istiod.monitoringAddress}/metrics`,
      metricsPrefix: "pilot_",
      startMs: this.startMs,
      countStartCpu: ["server"],
    };
  }

  async apply(change: ChurnChange): Promise<void> {
    await writeMeshFiles(this.meshDir, change.files);
  }

  async stop(): Promise<void> {
    const istiod = this.istiod;
    const kube = this.kube;
    this.istiod = undefined;
    this.kube = undefined;
    await istiod?.close().catch(() => {});
    await kube?.close().catch(() => {});
  }
}
