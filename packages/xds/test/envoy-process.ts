/**
 * A stock Envoy for the xds tests: bootstrapped from an object, admin on 127.0.0.1 (port picked by
 * Envoy), stopped and cleaned up by `close()`. In a network namespace (a "pod", see netns.ts) its
 * admin listens on the namespace's address instead, so the test on the host can reach it.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, type SpawnedProgram, spawnProgram } from "@meshctl/core";
import { requirementGate } from "@meshctl/core/testing";
import type { XdsServerHandle } from "../src/server/start.js";
import { waitFor } from "../src/testing/index.js";
import type { TestNetns } from "./netns.js";

/** A stock Envoy on ADS, with its admin API (127.0.0.1, port picked by Envoy). */
export interface EnvoyProcess {
  /** `http://127.0.0.1:PORT`. */
  readonly admin: string;
  log(): string;
  adminGet(path: string): Promise<string>;
  /** Host addresses (sorted) of a cluster, undefined when Envoy has no such cluster. */
  hostsOf(cluster: string): Promise<string[] | undefined>;
  /** Localities (`region/zone`) of a cluster's hosts, by address. */
  localitiesOf(cluster: string): Promise<Record<string, string>>;
  stats(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

interface EnvoyClusters {
  cluster_statuses: {
    name: string;
    host_statuses?: {
      address?: { socket_address?: { address?: string } };
      locality?: { region?: string; zone?: string };
    }[];
  }[];
}

export async function startEnvoy(
  envoyPath: string,
  bootstrap: Record<string, unknown>,
  options: {
    readonly netns?: TestNetns;
    /** More command-line flags, e.g. `--file-flush-interval-msec 200` (access logs: default 10 s). */
    readonly args?: readonly string[];
  } = {},
): Promise<EnvoyProcess> {
  const netns = options.netns;
  if (netns) {
    const admin = (bootstrap.admin ?? {}) as { address?: { socket_address?: Record<string, unknown> } };
    bootstrap = {
      ...bootstrap,
      admin: {
        ...admin,
        address: { socket_address: { ...admin.address?.socket_address, address: netns.ip } },
      },
    };
  }
  const dir = await mkdtemp(join(tmpdir(), "mcx-envoy-"));
  let log = "";
  let proc: SpawnedProgram | undefined;
  const close = async () => {
    if (proc) {
      proc.kill("SIGTERM");
      const done = await Promise.race([
        proc.exited.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 5000)),
      ]);
      if (!done) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const file = join(dir, "envoy.json");
    await writeFile(file, JSON.stringify(bootstrap));
    const args = [
      "-c",
      file,
      // No hot restart, as Istio runs it: no shared memory in /dev/shm, nothing to clean up.
      "--disable-hot-restart",
      "--admin-address-path",
      join(dir, "admin-address"),
      "--log-level",
      "warn",
      ...(options.args ?? []),
    ];
    proc = netns ? netns.spawn(envoyPath, args) : spawnProgram(envoyPath, args);
    const append = (d: Buffer) => {
      log = (log + d.toString()).slice(-8000);
    };
    proc.stdout?.on("data", append);
    proc.stderr?.on("data", append);
    let exited = false;
    void proc.exited.then(() => {
      exited = true;
    });
    const address = await waitFor(
      async () => {
        if (exited) throw new Error(`Envoy exited early:\n${log}`);
        return (await readFile(join(dir, "admin-address"), "utf8").catch(() => "")).trim() || false;
      },
      { timeoutMs: 20_000, what: "Envoy's admin address" },
    );
    const admin = `http://${address}`;
    const adminGet = async (path: string) => {
      const res = await fetch(`${admin}${path}`);
      if (!res.ok) throw new Error(`Envoy admin ${path}: HTTP ${res.status}`);
      return res.text();
    };
    const clusterOf = async (cluster: string) =>
      ((JSON.parse(await adminGet("/clusters?format=json")) as EnvoyClusters).cluster_statuses ?? []).find(
        (c) => c.name === cluster,
      );
    return {
      admin,
      log: () => log,
      adminGet,
      async hostsOf(cluster) {
        const c = await clusterOf(cluster);
        return c
          ? (c.host_statuses ?? []).map((h) => h.address?.socket_address?.address ?? "").sort()
          : undefined;
      },
      async localitiesOf(cluster) {
        const c = await clusterOf(cluster);
        return Object.fromEntries(
          (c?.host_statuses ?? []).map((h) => [
            h.address?.socket_address?.address ?? "",
            `${h.locality?.region ?? ""}/${h.locality?.zone ?? ""}`,
          ]),
        );
      },
      async stats() {
        const out = new Map<string, number>();
        for (const line of (await adminGet("/stats")).split("\n")) {
          const i = line.lastIndexOf(": ");
          if (i > 0) out.set(line.slice(0, i), Number(line.slice(i + 2)));
        }
        return out;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The gate of a test that runs Envoy as root in a network namespace: skipped without Envoy or
 * root, unless MESHCTL_REQUIRE lists envoy (CI), where it fails instead.
 */
export async function envoyInNetnsGate(
  what: string,
): Promise<{ gate: ReturnType<typeof requirementGate>; envoyPath?: string }> {
  const envoyPath = await findProgram("envoy");
  const isRoot = process.getuid?.() === 0;
  const gate = requirementGate(
    "envoy",
    !envoyPath
      ? "no `envoy` binary on PATH (npm run setup installs the pinned one)"
      : !isRoot
        ? "needs root (Envoy runs in a network namespace)"
        : undefined,
    what,
  );
  return envoyPath ? { gate, envoyPath } : { gate };
}

/**
 * Waits until the server has settled and Envoy has ACKed the latest version of each kind; on
 * timeout the error carries the server's view of its clients and Envoy's log.
 */
export async function waitForEnvoyAcks(
  xds: Pick<XdsServerHandle, "clients" | "settled">,
  envoy: EnvoyProcess,
  kinds: readonly string[] = ["cds", "lds", "rds"],
): Promise<void> {
  await waitFor(
    () => {
      const c = xds.clients()[0];
      return Boolean(
        c &&
          xds.settled() &&
          kinds.every(
            (k) => c.types[k]?.ackedVersion && c.types[k]?.ackedVersion === c.types[k]?.lastVersionSent,
          ),
      );
    },
    { timeoutMs: 30_000, what: `Envoy to ACK ${kinds.map((k) => k.toUpperCase()).join(", ")}` },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nclients: ${JSON.stringify(xds.clients())}\nEnvoy log:\n${envoy.log()}`);
  });
}
