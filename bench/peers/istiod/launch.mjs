/**
 * Starts the real peers on loopback: etcd + kube-apiserver (built by scripts/peers/build-kube.sh)
 * and istiod (pilot-discovery, built by scripts/peers/build-istiod.sh). Plain ESM, node:* only,
 * so the benchmark harness and tests can import it without a build step.
 *
 * @example
 * import { startKubeApiserver, startIstiod } from "./bench/peers/istiod/launch.mjs";
 * const kube = await startKubeApiserver({ workDir: "/tmp/kube-1" });
 * const istiod = await startIstiod({ configDir: "/abs/config", kube, env: { PILOT_DEBOUNCE_AFTER: "100ms" } });
 * // ... connect an ADS client to istiod.xdsAddress ...
 * await istiod.close();
 * await kube.close();
 */

import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, existsSync, constants as fsConstants } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileP = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const STDERR_TAIL_LINES = 40;

/** Absolute path of the repo's `.tools` directory (gitignored; the build scripts write there). */
export function toolsDir() {
  return resolve(HERE, "../../../.tools");
}

function isExecutable(file) {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(cmd) {
  return (process.env.PATH ?? "").split(":").some((d) => d && isExecutable(join(d, cmd)));
}

/** Whether kube-apiserver + etcd are built (and openssl, which makes the certs, is present). */
export function kubeAvailable({ binDir = join(toolsDir(), "kube/bin") } = {}) {
  for (const b of ["kube-apiserver", "etcd"]) {
    if (!isExecutable(join(binDir, b))) {
      return {
        ok: false,
        reason: `${b} not found in ${binDir}: run bash scripts/peers/build-kube.sh (about 5 min cold)`,
      };
    }
  }
  if (!onPath("openssl"))
    return { ok: false, reason: "openssl is not on PATH (needed for the API server's certificates)" };
  return { ok: true, reason: "" };
}

/** Whether pilot-discovery (istiod) is built. istiod also needs kubeAvailable(). */
export function istiodAvailable({ binDir = join(toolsDir(), "istiod/bin") } = {}) {
  const bin = join(binDir, "pilot-discovery");
  if (!isExecutable(bin)) {
    return {
      ok: false,
      reason: `pilot-discovery not found in ${binDir}: run bash scripts/peers/build-istiod.sh (about 6 min cold)`,
    };
  }
  const kube = kubeAvailable();
  if (!kube.ok) return { ok: false, reason: `istiod needs a Kubernetes API server: ${kube.reason}` };
  return { ok: true, reason: "" };
}

/** A free TCP port on 127.0.0.1 (the OS picks; a small race remains until the child binds it). */
function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Kills the registered children if the parent exits without calling close(). */
const liveChildren = new Set();
let exitHookInstalled = false;
function track(child) {
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of liveChildren) {
        try {
          c.kill("SIGKILL");
        } catch {}
      }
    });
  }
}

/**
 * Spawns `bin args` with stdout/stderr drained into a bounded tail (logs are not kept on disk
 * unless `logFile` is set). Returns { child, tail(), exited }.
 */
function startProcess(name, bin, args, { env, cwd } = {}) {
  const child = spawn(bin, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const lines = [];
  let partial = "";
  const onData = (buf) => {
    const parts = (partial + buf.toString("utf8")).split("\n");
    partial = parts.pop() ?? "";
    for (const l of parts) {
      lines.push(l);
      if (lines.length > STDERR_TAIL_LINES) lines.shift();
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  let exitInfo;
  const exited = new Promise((res) => {
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      res(exitInfo);
    });
    child.once("error", (err) => {
      exitInfo = { code: null, signal: null, error: err };
      res(exitInfo);
    });
  });
  return {
    name,
    child,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    tail: () => [...lines, ...(partial ? [partial] : [])].join("\n"),
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
async function stopProcess(proc, graceMs = 3000) {
  if (!proc || proc.exitInfo || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill("SIGTERM");
  const timer = sleep(graceMs).then(() => "timeout");
  if ((await Promise.race([proc.exited, timer])) === "timeout") {
    proc.child.kill("SIGKILL");
    await proc.exited;
  }
}

function describeExit(info) {
  if (!info) return "";
  if (info.error) return ` (spawn failed: ${info.error.message})`;
  return info.signal ? ` (killed by ${info.signal})` : ` (exit code ${info.code})`;
}

class PeerStartError extends Error {
  constructor(message, { tail, addrInUse = false } = {}) {
    super(tail ? `${message}\n--- last lines of output ---\n${tail}` : message);
    this.name = "PeerStartError";
    this.addrInUse = addrInUse;
  }
}

/**
 * Polls `probe()` (resolves true when ready) every `intervalMs` until `timeoutMs`, failing fast
 * if `proc` exits.
 */
async function waitReady(proc, what, probe, { timeoutMs, intervalMs = 100 }) {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    if (proc.exitInfo) {
      const tail = proc.tail();
      throw new PeerStartError(`${proc.name} exited before ${what}${describeExit(proc.exitInfo)}`, {
        tail,
        addrInUse: /address already in use/i.test(tail),
      });
    }
    try {
      if (await probe()) return;
    } catch (e) {
      lastError = e?.message ?? String(e);
    }
    await sleep(intervalMs);
  }
  throw new PeerStartError(
    `${proc.name} not ready (${what}) within ${timeoutMs} ms${lastError ? `; last probe error: ${lastError}` : ""}`,
    { tail: proc.tail() },
  );
}

/** One HTTP(S) request; resolves { status, body }. `ca` switches to https with that CA. */
function fetchText(url, { method = "GET", headers = {}, body, ca, timeoutMs = 2000 } = {}) {
  return new Promise((res, rej) => {
    const u = new URL(url);
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(
      u,
      { method, headers, ca, timeout: timeoutMs },
      (resp) => {
        const chunks = [];
        resp.on("data", (c) => chunks.push(c));
        resp.on("end", () =>
          res({ status: resp.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        resp.on("error", rej);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", rej);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function openssl(args, cwd) {
  try {
    await execFileP("openssl", args, { cwd });
  } catch (e) {
    throw new PeerStartError(`openssl ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}

/** CA, a serving cert for 127.0.0.1/localhost/kubernetes.default, and service-account keys. */
async function makePki(dir) {
  await mkdir(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(
    [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "3650",
      "-subj",
      "/CN=meshctl-bench-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  await openssl(
    ["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver"],
    dir,
  );
  await writeFile(
    join(dir, "server.ext"),
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
      "",
    ].join("\n"),
  );
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "3650",
      "-extfile",
      "server.ext",
    ],
    dir,
  );
  await openssl(
    ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "sa.key"],
    dir,
  );
  await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  return {
    caFile: join(dir, "ca.crt"),
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
  };
}

function kubeconfigYaml({ server, caPem, token, user = "admin" }) {
  const caData = Buffer.from(caPem).toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: ${server}
    certificate-authority-data: ${caData}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: bench
  context:
    cluster: bench
    user: ${user}
current-context: bench
`;
}

const USER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Starts etcd + kube-apiserver on free loopback ports. No controller-manager, scheduler or
 * kubelet: Pods are never scheduled and EndpointSlices must be written by the caller.
 *
 * @param {object} opts
 * @param {string} [opts.workDir] certificates, token file, etcd data, kubeconfig (created;
 *   removed by close()). Default: a fresh directory under the OS temp dir.
 * @param {string} [opts.binDir] where kube-apiserver and etcd are (default .tools/kube/bin).
 * @param {number} [opts.timeoutMs] bound on etcd health + apiserver /readyz (default 60000).
 * @param {boolean} [opts.keepWorkDir] do not remove workDir on close (debugging).
 * @param {string[]} [opts.users] extra static-token users (lower-case names), in no group: they
 *   are authenticated but may do nothing until RBAC grants it (`system:authenticated` only).
 * @param {string[]} [opts.apiserverArgs] extra kube-apiserver flags (e.g. `--watch-cache=false`).
 * @returns {Promise<{kubeconfig: string, server: string, token: string, ca: string, caFile: string,
 *   workDir: string, pids: {etcd: number, apiserver: number}, logs(): {etcd: string, apiserver: string},
 *   users: Record<string, {token: string, kubeconfig: string}>,
 *   restartApiserver(opts?: {apiserverArgs?: string[], downMs?: number}): Promise<void>,
 *   close(): Promise<void>}>}
 */
export async function startKubeApiserver({
  workDir,
  binDir = join(toolsDir(), "kube/bin"),
  timeoutMs = 60_000,
  keepWorkDir = false,
  users = [],
  apiserverArgs = [],
} = {}) {
  const avail = kubeAvailable({ binDir });
  if (!avail.ok) throw new PeerStartError(avail.reason);
  for (const u of users) {
    if (!USER_NAME.test(u) || u === "admin")
      throw new PeerStartError(`startKubeApiserver: bad user name ${u}`);
  }
  workDir = workDir ? resolve(workDir) : await mkdtemp(join(tmpdir(), "meshctl-kube-"));
  await mkdir(workDir, { recursive: true });

  const procs = {};
  const cleanup = async () => {
    await Promise.all([stopProcess(procs.apiserver), stopProcess(procs.etcd)]);
    if (!keepWorkDir) await rm(workDir, { recursive: true, force: true });
  };

  try {
    const pki = await makePki(join(workDir, "pki"));
    const caPem = await readFile(pki.caFile, "utf8");
    const token = randomBytes(24).toString("hex");
    const tokenFile = join(workDir, "tokens.csv");
    const userTokens = Object.fromEntries(users.map((u) => [u, randomBytes(24).toString("hex")]));
    await writeFile(
      tokenFile,
      [
        `${token},admin,admin,"system:masters"`,
        ...users.map((u, i) => `${userTokens[u]},${u},uid-${u}-${i}`),
        "",
      ].join("\n"),
      { mode: 0o600 },
    );

    // A port taken between freePort() and the child's bind: retry with new ports.
    for (let attempt = 1; ; attempt++) {
      const [etcdClient, etcdPeer, securePort] = await freePorts(3);
      const etcdUrl = `http://127.0.0.1:${etcdClient}`;
      const peerUrl = `http://127.0.0.1:${etcdPeer}`;
      const dataDir = join(workDir, `etcd-${attempt}`);
      procs.etcd = startProcess("etcd", join(binDir, "etcd"), [
        "--name=bench",
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=bench=${peerUrl}`,
        "--log-level=warn",
        // A throwaway store on a shared machine: skip fsync (no durability needed).
        "--unsafe-no-fsync",
      ]);
      try {
        await waitReady(
          procs.etcd,
          "answering /health",
          async () => {
            const r = await fetchText(`${etcdUrl}/health`, { timeoutMs: 1000 });
            return r.status === 200 && /"health":\s*"true"/.test(r.body);
          },
          { timeoutMs },
        );
      } catch (e) {
        await stopProcess(procs.etcd);
        if (e.addrInUse && attempt < 3) continue;
        throw e;
      }

      const server = `https://127.0.0.1:${securePort}`;
      const baseArgs = [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${securePort}`,
        `--tls-cert-file=${pki.certFile}`,
        `--tls-private-key-file=${pki.keyFile}`,
        `--client-ca-file=${pki.caFile}`,
        `--token-auth-file=${tokenFile}`,
        "--authorization-mode=RBAC",
        "--anonymous-auth=false",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        "--api-audiences=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.96.0.0/16",
        // Core validation rejects 127.0.0.0/8 endpoint addresses, including its own.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=0",
      ];
      const spawnApiserver = (extra) =>
        startProcess("kube-apiserver", join(binDir, "kube-apiserver"), [...baseArgs, ...extra], {
          cwd: workDir,
        });
      const apiserverReady = () =>
        waitReady(
          procs.apiserver,
          "answering /readyz",
          async () => {
            const r = await fetchText(`${server}/readyz`, {
              ca: caPem,
              headers: { authorization: `Bearer ${token}` },
              timeoutMs: 2000,
            });
            return r.status === 200;
          },
          { timeoutMs },
        );
      procs.apiserver = spawnApiserver(apiserverArgs);
      try {
        await apiserverReady();
      } catch (e) {
        await Promise.all([stopProcess(procs.apiserver), stopProcess(procs.etcd)]);
        if (e.addrInUse && attempt < 3) continue;
        throw e;
      }

      const kubeconfig = join(workDir, "kubeconfig");
      await writeFile(kubeconfig, kubeconfigYaml({ server, caPem, token }), { mode: 0o600 });
      const userHandles = {};
      for (const u of users) {
        const file = join(workDir, `kubeconfig-${u}`);
        await writeFile(file, kubeconfigYaml({ server, caPem, token: userTokens[u], user: u }), {
          mode: 0o600,
        });
        userHandles[u] = { token: userTokens[u], kubeconfig: file };
      }
      let closing;
      let restarting;
      const restart = async ({ apiserverArgs: args = apiserverArgs, downMs = 0 } = {}) => {
        if (closing) throw new PeerStartError("restartApiserver after close()");
        // Same port, same etcd, same certificates and tokens: clients reconnect to the same
        // address with the same kubeconfig, as after a real API server restart.
        await stopProcess(procs.apiserver, 10_000);
        if (downMs > 0) await sleep(downMs);
        procs.apiserver = spawnApiserver(args);
        await apiserverReady();
      };
      return {
        kubeconfig,
        server,
        token,
        ca: caPem,
        caFile: pki.caFile,
        workDir,
        users: userHandles,
        get pids() {
          return { etcd: procs.etcd.child.pid, apiserver: procs.apiserver.child.pid };
        },
        logs: () => ({ etcd: procs.etcd.tail(), apiserver: procs.apiserver.tail() }),
        /**
         * Stops kube-apiserver (SIGTERM, as a rolling restart does) and starts it again on the
         * same port and etcd, optionally with other extra flags; resolves once /readyz answers.
         */
        restartApiserver: (opts) => {
          const run = (restarting ?? Promise.resolve()).then(() => restart(opts));
          restarting = run.catch(() => {});
          return run;
        },
        close: () => {
          closing ??= (restarting ?? Promise.resolve()).then(cleanup);
          return closing;
        },
      };
    }
  } catch (e) {
    await cleanup().catch(() => {});
    throw e;
  }
}

/** A minimal authenticated call to the API server started above. */
async function kubeApi(kube, method, path, body) {
  return kubeRequest(kube, method, path, body);
}

/**
 * One JSON request to the API server started above, as admin (or as `token`). Resolves
 * `{status, body, json}` (json undefined when the body is not JSON); never throws on HTTP errors.
 * `contentType` e.g. `application/apply-patch+yaml` for server-side apply (JSON is YAML).
 *
 * @example
 * await kubeRequest(kube, "PATCH", "/api/v1/namespaces/demo/services/echo?fieldManager=test&force=true", svc,
 *   { contentType: "application/apply-patch+yaml" });
 */
export async function kubeRequest(
  kube,
  method,
  path,
  body,
  { token = kube.token, contentType, timeoutMs = 10_000 } = {},
) {
  const r = await fetchText(`${kube.server}${path}`, {
    method,
    ca: kube.ca,
    headers: {
      authorization: `Bearer ${token}`,
      accept: "application/json",
      ...(body !== undefined ? { "content-type": contentType ?? "application/json" } : {}),
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    timeoutMs,
  });
  let json;
  try {
    json = JSON.parse(r.body);
  } catch {}
  return { ...r, json };
}

/** Creates a namespace; an existing one is fine. */
export async function ensureNamespace(kube, name) {
  const r = await kubeApi(kube, "POST", "/api/v1/namespaces", {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name },
  });
  if (r.status !== 201 && r.status !== 409) {
    throw new PeerStartError(`creating namespace ${name} failed: HTTP ${r.status} ${r.body.slice(0, 500)}`);
  }
}

function meshConfigYaml(configDir) {
  // JSON is YAML: no quoting surprises (ingressControllerMode OFF must be a string).
  // No configDir: no configSources, so istiod watches the Istio CRDs of the API server.
  return `${JSON.stringify(
    {
      ...(configDir ? { configSources: [{ address: `fs://${configDir}` }] } : {}),
      rootNamespace: "istio-system",
      ingressControllerMode: "OFF",
      enableAutoMtls: false,
      defaultConfig: {},
    },
    null,
    2,
  )}\n`;
}

/**
 * Starts istiod (pilot-discovery) with Istio config from the YAML files in `configDir`
 * (watched: fsnotify + a fixed 250 ms debounce, then the whole directory is re-read) and
 * services/endpoints from the API server `kube` (as returned by startKubeApiserver).
 * With `istioConfigFromKube: true` instead of `configDir`, Istio config also comes from the
 * API server (its Istio custom resources; the caller applies the CRDs), as in a cluster.
 *
 * @param {object} opts
 * @param {string} [opts.configDir] directory of Istio YAML (ServiceEntry, WorkloadEntry,
 *   VirtualService, DestinationRule, Sidecar, ...); made absolute. Required unless
 *   istioConfigFromKube.
 * @param {boolean} [opts.istioConfigFromKube] read Istio config from the API server's CRDs.
 * @param {object} opts.kube { server, token, ca, kubeconfig } from startKubeApiserver.
 * @param {Record<string,string>} [opts.env] extra environment (PILOT_DEBOUNCE_AFTER, ...).
 * @param {string} [opts.binDir] where pilot-discovery is (default .tools/istiod/bin).
 * @param {number} [opts.timeoutMs] bound on /ready (default 60000).
 * @param {string} [opts.logLevel] istiod --log_output_level (default: istiod's own, info, as
 *   stock; e.g. "default:warn" to quieten it).
 * @returns {Promise<{xdsAddress: string, httpAddress: string, monitoringAddress: string, pid: number,
 *   workDir: string, logs(): string, close(): Promise<void>}>}
 */
export async function startIstiod({
  configDir,
  istioConfigFromKube = false,
  kube,
  env = {},
  binDir = join(toolsDir(), "istiod/bin"),
  timeoutMs = 60_000,
  logLevel,
} = {}) {
  if (!configDir && !istioConfigFromKube)
    throw new PeerStartError("startIstiod: configDir is required (or istioConfigFromKube: true)");
  if (configDir && istioConfigFromKube)
    throw new PeerStartError("startIstiod: pass configDir or istioConfigFromKube, not both");
  if (!kube?.server || !kube?.token || !kube?.ca || !kube?.kubeconfig) {
    throw new PeerStartError("startIstiod: kube must be the object returned by startKubeApiserver()");
  }
  const bin = join(binDir, "pilot-discovery");
  if (!isExecutable(bin)) {
    throw new PeerStartError(
      `pilot-discovery not found in ${binDir}: run bash scripts/peers/build-istiod.sh`,
    );
  }
  if (configDir) {
    configDir = isAbsolute(configDir) ? configDir : resolve(configDir);
    if (!existsSync(configDir))
      throw new PeerStartError(`startIstiod: configDir ${configDir} does not exist`);
  }

  await ensureNamespace(kube, "istio-system");

  // istiod's cwd: it may write stray files (e.g. ./var/run/secrets/...) relative to it.
  const workDir = await mkdtemp(join(tmpdir(), "meshctl-istiod-"));
  let proc;
  const cleanup = async () => {
    await stopProcess(proc);
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    const meshFile = join(workDir, "mesh.yaml");
    const networksFile = join(workDir, "networks.yaml");
    await writeFile(meshFile, meshConfigYaml(configDir));
    await writeFile(networksFile, "networks: {}\n");

    for (let attempt = 1; ; attempt++) {
      const [grpc, http, monitoring, ctrlz] = await freePorts(4);
      const xdsAddress = `127.0.0.1:${grpc}`;
      const httpAddress = `127.0.0.1:${http}`;
      const monitoringAddress = `127.0.0.1:${monitoring}`;
      proc = startProcess(
        "pilot-discovery",
        bin,
        [
          "discovery",
          `--kubeconfig=${kube.kubeconfig}`,
          "--registries=Kubernetes",
          `--meshConfig=${meshFile}`,
          `--networksConfig=${networksFile}`,
          "--domain=cluster.local",
          `--grpcAddr=${xdsAddress}`,
          `--httpAddr=${httpAddress}`,
          `--monitoringAddr=${monitoringAddress}`,
          "--secureGRPCAddr=",
          "--httpsAddr=",
          "--ctrlz_address=127.0.0.1",
          `--ctrlz_port=${ctrlz}`,
          ...(logLevel ? [`--log_output_level=${logLevel}`] : []),
        ],
        {
          cwd: workDir,
          env: {
            ...process.env,
            KUBECONFIG: kube.kubeconfig,
            ENABLE_CA_SERVER: "false",
            POD_NAMESPACE: "istio-system",
            POD_NAME: "istiod-bench",
            PILOT_ENABLE_METADATA_EXCHANGE: "false",
            PILOT_ENABLE_ALPN_FILTER: "false",
            ...env,
          },
        },
      );
      try {
        await waitReady(
          proc,
          "answering /ready",
          async () => (await fetchText(`http://${httpAddress}/ready`, { timeoutMs: 1000 })).status === 200,
          { timeoutMs },
        );
      } catch (e) {
        await stopProcess(proc);
        if (e.addrInUse && attempt < 3) continue;
        throw e;
      }
      const started = proc;
      let closing;
      return {
        xdsAddress,
        httpAddress,
        monitoringAddress,
        pid: started.child.pid,
        workDir,
        logs: () => started.tail(),
        close: () => {
          closing ??= cleanup();
          return closing;
        },
      };
    }
  } catch (e) {
    await cleanup().catch(() => {});
    throw e;
  }
}
