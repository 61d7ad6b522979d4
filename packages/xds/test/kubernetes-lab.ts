/**
 * A real kube-apiserver for the Kubernetes source tests (bench/peers/istiod/launch.mjs), with
 * what a cluster would have and this one lacks: Istio's CRDs (test/fixtures/istio-crds.yaml),
 * "pods" that carry traffic (a network namespace + veth with a 10.x address each, running the
 * echo server: the API server rejects loopback endpoint addresses), and a TCP proxy in front of
 * the API server that a test can cut (a network partition, e.g. long enough for compaction).
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { SpawnedProgram } from "@meshctl/core";
import { parseAllDocuments } from "yaml";
import { waitFor } from "../src/testing/index.js";
import { createTestNetns } from "./netns.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const XDS_PACKAGE = resolve(HERE, "..");
export const CRD_FIXTURE = join(HERE, "fixtures/istio-crds.yaml");
const LAUNCHER = pathToFileURL(resolve(HERE, "../../../bench/peers/istiod/launch.mjs")).href;

export interface KubeApiserver {
  readonly kubeconfig: string;
  readonly server: string;
  readonly token: string;
  readonly ca: string;
  readonly users: Readonly<Record<string, { readonly token: string; readonly kubeconfig: string }>>;
  logs(): { etcd: string; apiserver: string };
  restartApiserver(opts?: { apiserverArgs?: string[]; downMs?: number }): Promise<void>;
  close(): Promise<void>;
}

export interface KubeResponse {
  readonly status: number;
  readonly body: string;
  readonly json: unknown;
}

/** What the tests use of bench/peers/istiod/launch.mjs (plain JS, no types). */
interface KubeLauncher {
  kubeAvailable(): { ok: boolean; reason: string };
  startKubeApiserver(opts: { users?: string[]; apiserverArgs?: string[] }): Promise<KubeApiserver>;
  ensureNamespace(kube: KubeApiserver, name: string): Promise<void>;
  kubeRequest(
    kube: KubeApiserver,
    method: string,
    path: string,
    body?: unknown,
    opts?: { token?: string; contentType?: string; timeoutMs?: number },
  ): Promise<KubeResponse>;
}

export const launcher = (await import(LAUNCHER)) as KubeLauncher;

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
};

const PLURALS: Record<string, string> = {
  Service: "services",
  Pod: "pods",
  Node: "nodes",
  Namespace: "namespaces",
  ConfigMap: "configmaps",
  ServiceAccount: "serviceaccounts",
  EndpointSlice: "endpointslices",
  ClusterRole: "clusterroles",
  ClusterRoleBinding: "clusterrolebindings",
  CustomResourceDefinition: "customresourcedefinitions",
  VirtualService: "virtualservices",
  DestinationRule: "destinationrules",
  Sidecar: "sidecars",
  ServiceEntry: "serviceentries",
  WorkloadEntry: "workloadentries",
};

/** The object's own path: `/api/v1/namespaces/demo/services/echo`. */
export function objectPath(o: Pick<Obj, "apiVersion" | "kind" | "metadata">): string {
  const plural = PLURALS[o.kind];
  if (!plural) throw new Error(`objectPath: no plural for ${o.kind}`);
  const base = o.apiVersion.includes("/") ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : "";
  return `${base}${ns}/${plural}/${o.metadata.name}`;
}

export class KubeLab {
  private constructor(readonly kube: KubeApiserver) {}

  /** Starts the API server (with token users that have no RBAC rights) and applies Istio's CRDs. */
  static async start(opts: { users?: string[] } = {}): Promise<KubeLab> {
    const kube = await launcher.startKubeApiserver({ users: opts.users ?? [] });
    const lab = new KubeLab(kube);
    try {
      await lab.applyCrds();
    } catch (error) {
      await kube.close();
      throw error;
    }
    return lab;
  }

  request(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse> {
    return launcher.kubeRequest(this.kube, method, path, body, contentType ? { contentType } : {});
  }

  private async ok(what: string, r: Promise<KubeResponse>, accept: number[] = [200, 201]): Promise<unknown> {
    const res = await r;
    if (!accept.includes(res.status))
      throw new Error(`${what}: HTTP ${res.status} ${res.body.slice(0, 400)}`);
    return res.json;
  }

  /** Server-side apply (create or update); returns the object as stored. */
  apply(o: Obj): Promise<unknown> {
    return this.ok(
      `apply ${o.kind}/${o.metadata.name}`,
      this.request(
        "PATCH",
        `${objectPath(o)}?fieldManager=mcx-test&force=true`,
        o,
        "application/apply-patch+yaml",
      ),
    );
  }

  /** Replaces `status` (the API server drops it on create); e.g. a Pod's podIP. */
  applyStatus(o: Obj & { status: unknown }): Promise<unknown> {
    return this.ok(
      `status of ${o.kind}/${o.metadata.name}`,
      this.request(
        "PATCH",
        `${objectPath(o)}/status?fieldManager=mcx-test-status&force=true`,
        {
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
          status: o.status,
        },
        "application/apply-patch+yaml",
      ),
    );
  }

  /** A JSON merge patch (touches only the fields given, e.g. one label). */
  patch(o: Pick<Obj, "apiVersion" | "kind" | "metadata">, patch: unknown): Promise<unknown> {
    return this.ok(
      `patch ${o.kind}/${o.metadata.name}`,
      this.request("PATCH", objectPath(o), patch, "application/merge-patch+json"),
    );
  }

  delete(o: Pick<Obj, "apiVersion" | "kind" | "metadata">): Promise<unknown> {
    return this.ok(
      `delete ${o.kind}/${o.metadata.name}`,
      this.request("DELETE", objectPath(o)),
      [200, 202, 404],
    );
  }

  async namespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    await this.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
  }

  private async applyCrds(): Promise<void> {
    const docs = parseAllDocuments(await readFile(CRD_FIXTURE, "utf8"));
    const names: string[] = [];
    for (const doc of Array.isArray(docs) ? docs : []) {
      const crd = doc.toJS() as Obj | null;
      if (!crd) continue;
      names.push(crd.metadata.name);
      await this.apply(crd);
    }
    for (const name of names)
      await waitFor(
        async () => {
          const r = await this.request(
            "GET",
            `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
          );
          const conditions =
            (r.json as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ??
            [];
          return conditions.some((c) => c.type === "Established" && c.status === "True");
        },
        { timeoutMs: 20_000, what: `CRD ${name} established` },
      );
    // Discovery of the new group is served a moment after Established.
    await waitFor(async () => (await this.request("GET", "/apis/networking.istio.io/v1")).status === 200, {
      timeoutMs: 20_000,
      what: "networking.istio.io/v1 discovery",
    });
  }

  close(): Promise<void> {
    return this.kube.close();
  }
}

/** A "pod": a network namespace with a veth to the host (10.x/30) running the echo server. */
export interface NetnsPod {
  readonly netns: string;
  readonly ip: string;
  readonly id: string;
  readonly port: number;
  close(): Promise<void>;
}

const ECHO_SCRIPT = (id: string, port: number) =>
  `const { startEchoServer } = await import("@meshctl/xds/testing");
   await startEchoServer({ id: ${JSON.stringify(id)}, host: "0.0.0.0", port: ${port} });
   process.stdout.write("ready\\n");
   process.on("SIGTERM", () => process.exit(0));`;

/**
 * Creates `mcx-<tag>` with the pod at 10.<octet>.<index>.2 and the host at .1, and runs the echo
 * server inside. Removes everything again if any step fails.
 */
export async function startNetnsPod(opts: {
  tag: string;
  octet: number;
  index: number;
  id: string;
  port: number;
}): Promise<NetnsPod> {
  const ns = await createTestNetns(opts);
  let echo: SpawnedProgram | undefined;
  const close = async () => {
    if (echo) {
      echo.kill("SIGTERM");
      const done = await Promise.race([
        echo.exited.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 3000)),
      ]);
      if (!done) {
        echo.kill("SIGKILL");
        await echo.exited;
      }
    }
    await ns.close();
  };
  try {
    echo = ns.spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=@meshctl/source",
        "--input-type=module",
        "-e",
        ECHO_SCRIPT(opts.id, opts.port),
      ],
      { cwd: XDS_PACKAGE },
    );
    let out = "";
    echo.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    echo.stderr?.on("data", (d: Buffer) => {
      out = (out + d.toString()).slice(-4000);
    });
    let exited = false;
    void echo.exited.then(() => {
      exited = true;
    });
    await waitFor(
      () => {
        if (exited) throw new Error(`echo server in ${ns.name} exited: ${out}`);
        return out.includes("ready");
      },
      { timeoutMs: 30_000, what: `the echo server in ${ns.name}` },
    );
  } catch (error) {
    await close();
    throw error;
  }
  return { netns: ns.name, ip: ns.ip, id: opts.id, port: opts.port, close };
}

/** A TCP proxy to `target` that a test can cut (every connection closed, new ones refused) and heal. */
export interface CuttableProxy {
  readonly port: number;
  cut(): Promise<void>;
  heal(): Promise<void>;
  close(): Promise<void>;
}

export async function startCuttableProxy(target: { host: string; port: number }): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let listener: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolveListen, reject) => {
      const server = createServer((client) => {
        const upstream = connect(target.port, target.host);
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on("error", drop).on("close", drop);
        upstream.on("error", drop).on("close", drop);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        port = (server.address() as { port: number }).port;
        listener = server;
        resolveListen();
      });
    });
  const stop = async () => {
    const server = listener;
    listener = undefined;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    cut: stop,
    heal: listen,
    close: stop,
  };
}

/** A kubeconfig like `original` whose server is `server` (e.g. a proxy). */
export async function kubeconfigVia(original: string, server: string, dir: string): Promise<string> {
  const text = await readFile(original, "utf8");
  const file = join(dir, `kubeconfig-${randomBytes(3).toString("hex")}`);
  await writeFile(file, text.replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: ${server}`), {
    mode: 0o600,
  });
  return file;
}

export { type EnvoyProcess, startEnvoy } from "./envoy-process.js";
