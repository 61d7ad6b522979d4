/**
 * A small "pod lab" on the real kernel: network namespaces with veths, a cgroup v2 directory for
 * the pods' processes, istio-init-style iptables rules and haproxy as the sidecar. Everything is
 * named mce-* and torn down by `lab.cleanup()`, which tests call in afterAll/finally.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { findProgram, runCommand } from "@meshctl/core";
import { findCgroup2Mount } from "../src/environment.js";
import { disableEbpfAcceleration, type EbpfCounters, getEbpfStatus } from "../src/index.js";

export const PEER = fileURLToPath(new URL("./fixtures/peer.mjs", import.meta.url));
export const SIDECAR_UID = 1337;
export const SVC_IP = "10.96.0.10";
export const SVC_PORT = 80;

export async function labPrerequisites(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "not root";
  if (!(await findCgroup2Mount())) return "no cgroup2 mount";
  for (const tool of ["ip", "iptables", "bpftool", "haproxy"]) {
    if (!(await findProgram(tool))) return `${tool} not installed`;
  }
  return undefined;
}

export interface Proc {
  readonly child: ChildProcess;
  /** Next JSON line printed by the process (fails after timeoutMs). */
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  send(line: string): void;
  wait(timeoutMs?: number): Promise<number | null>;
}

function wrapProc(child: ChildProcess): Proc {
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  const stderr: string[] = [];
  child.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
  if (child.stdout) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    next(timeoutMs = 30_000) {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(JSON.parse(line) as Record<string, unknown>);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no output within ${timeoutMs} ms; stderr: ${stderr.join("").slice(-500)}`)),
          timeoutMs,
        );
        const waiter = (l: string) => {
          clearTimeout(timer);
          resolve(JSON.parse(l) as Record<string, unknown>);
        };
        waiters.push(waiter);
        exited.then(() => {
          if (waiters.includes(waiter)) {
            clearTimeout(timer);
            reject(new Error(`process exited; stderr: ${stderr.join("").slice(-500)}`));
          }
        });
      });
    },
    send(line: string) {
      child.stdin?.write(`${line}\n`);
    },
    wait(timeoutMs = 60_000) {
      return Promise.race([
        exited,
        new Promise<number | null>((_, reject) =>
          setTimeout(() => reject(new Error("process did not exit")), timeoutMs),
        ),
      ]);
    },
  };
}

export interface Pod {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  readonly gatewayIp: string;
}

export class Lab {
  readonly id: string;
  readonly procs: Proc[] = [];
  readonly netns: string[] = [];
  readonly cgroups: string[] = [];
  readonly dirs: string[] = [];
  cgroupMount = "";
  private worldReady = false;
  private podCount = 0;

  constructor(id: string) {
    this.id = id;
  }

  get world(): string {
    return `mce-${this.id}-w`;
  }

  async cgroup(name: string): Promise<string> {
    this.cgroupMount ||= (await findCgroup2Mount())!;
    const path = join(this.cgroupMount, `mce-${this.id}-${name}`);
    await mkdir(path, { recursive: true });
    this.cgroups.push(path);
    return path;
  }

  async tempDir(name: string): Promise<string> {
    const dir = `/tmp/mce-${this.id}-${name}`;
    await mkdir(dir, { recursive: true });
    this.dirs.push(dir);
    return dir;
  }

  private async ensureWorld(): Promise<void> {
    if (this.worldReady) return;
    await runCommand("ip", ["netns", "add", this.world]);
    this.netns.push(this.world);
    await runCommand("ip", ["-n", this.world, "link", "set", "lo", "up"]);
    await runCommand("ip", ["-n", this.world, "addr", "add", `${SVC_IP}/32`, "dev", "lo"]);
    this.worldReady = true;
  }

  /** A pod netns joined to the "world" netns by a veth; the world holds the service IP. */
  async pod(name: string): Promise<Pod> {
    await this.ensureWorld();
    const n = ++this.podCount;
    const netns = `mce-${this.id}-${name}`;
    const ip = `10.201.${n}.2`;
    const gatewayIp = `10.201.${n}.1`;
    await runCommand("ip", ["netns", "add", netns]);
    this.netns.push(netns);
    const inPod = `mce${this.id}${n}a`.slice(0, 15);
    const inWorld = `mce${this.id}${n}b`.slice(0, 15);
    await runCommand("ip", [
      "link",
      "add",
      inPod,
      "netns",
      netns,
      "type",
      "veth",
      "peer",
      "name",
      inWorld,
      "netns",
      this.world,
    ]);
    await runCommand("ip", ["-n", netns, "link", "set", "lo", "up"]);
    await runCommand("ip", ["-n", netns, "addr", "add", `${ip}/24`, "dev", inPod]);
    await runCommand("ip", ["-n", netns, "link", "set", inPod, "up"]);
    await runCommand("ip", ["-n", netns, "route", "add", "default", "via", gatewayIp]);
    await runCommand("ip", ["-n", this.world, "addr", "add", `${gatewayIp}/24`, "dev", inWorld]);
    await runCommand("ip", ["-n", this.world, "link", "set", inWorld, "up"]);
    return { name, netns, ip, gatewayIp };
  }

  /** istio-init-style capture: outbound TCP to 15001 except the sidecar uid and loopback, inbound to 15006. */
  async istioIptables(pod: Pod): Promise<void> {
    const ipt = (...args: string[]) =>
      runCommand("ip", ["netns", "exec", pod.netns, "iptables", "-w", "-t", "nat", ...args]);
    await ipt("-N", "MCE_OUTPUT");
    await ipt("-A", "MCE_OUTPUT", "-m", "owner", "--uid-owner", String(SIDECAR_UID), "-j", "RETURN");
    await ipt("-A", "MCE_OUTPUT", "-d", "127.0.0.1/32", "-j", "RETURN");
    await ipt("-A", "MCE_OUTPUT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", "15001");
    await ipt("-A", "OUTPUT", "-p", "tcp", "-j", "MCE_OUTPUT");
    await ipt("-N", "MCE_INBOUND");
    await ipt("-A", "MCE_INBOUND", "-p", "tcp", "-j", "REDIRECT", "--to-ports", "15006");
    await ipt("-A", "PREROUTING", "-p", "tcp", "-j", "MCE_INBOUND");
  }

  /**
   * A sidecar pod in its own cgroup: istio-init rules, the upstream service (SVC_IP:SVC_PORT) in the
   * world netns, outside the cgroup, the app on "::" (IPv4 peers arrive as IPv4-mapped IPv6 sockets)
   * and haproxy as the sidecar.
   */
  async sidecarPod(name: string, appPort: number): Promise<{ pod: Pod; cgroup: string }> {
    const cgroup = await this.cgroup("pod");
    const pod = await this.pod(name);
    await this.istioIptables(pod);
    await (
      await this.peer(this.world, undefined, ["server", "--host", SVC_IP, "--port", String(SVC_PORT)])
    ).next();
    await (await this.peer(pod.netns, cgroup, ["server", "--host", "::", "--port", String(appPort)])).next();
    await this.sidecar(pod, cgroup, appPort);
    return { pod, cgroup };
  }

  /** Starts a program inside a netns (and a cgroup, when given). */
  spawnIn(netns: string, cgroup: string | undefined, command: string, args: readonly string[]): Proc {
    // Join the cgroup before entering the netns: `ip netns exec` remounts /sys, hiding the cgroup tree.
    const enter = ["ip", "netns", "exec", netns, command, ...args];
    const argv = cgroup ? ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...enter] : enter;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const proc = wrapProc(child);
    this.procs.push(proc);
    return proc;
  }

  async peer(netns: string, cgroup: string | undefined, args: readonly string[]): Promise<Proc> {
    return this.spawnIn(netns, cgroup, process.execPath, [PEER, ...args]);
  }

  /** haproxy as the sidecar (running as uid 1337): 15001 forwards to the original destination, 15006 to the app. */
  async sidecar(pod: Pod, cgroup: string, appPort: number): Promise<Proc> {
    const dir = await this.tempDir(`${pod.name}-haproxy`);
    const cfg = join(dir, "haproxy.cfg");
    await writeFile(
      cfg,
      [
        "global",
        "  maxconn 8000",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 60s",
        "  timeout server 60s",
        "  timeout client-fin 60s",
        "  timeout server-fin 60s",
        "frontend outbound",
        "  bind 0.0.0.0:15001",
        "  default_backend original_dst",
        "backend original_dst",
        // 0.0.0.0:0 = the address the client dialled, read with SO_ORIGINAL_DST after REDIRECT.
        "  server orig 0.0.0.0:0",
        "frontend inbound",
        "  bind 0.0.0.0:15006",
        "  default_backend app",
        "backend app",
        `  server app 127.0.0.1:${appPort}`,
        "",
      ].join("\n"),
    );
    // Runs as the sidecar uid from the start, as Istio's Envoy does (runAsUser 1337): its listeners,
    // and so the sockets it accepts, are owned by that uid (a proxy that binds as root and drops
    // privileges later would own them as root; the sidecar-uid filter reads the socket owner).
    const proc = this.spawnIn(pod.netns, cgroup, "setpriv", [
      `--reuid=${SIDECAR_UID}`,
      `--regid=${SIDECAR_UID}`,
      "--clear-groups",
      "haproxy",
      "-f",
      cfg,
      "-db",
    ]);
    await waitForListen(pod.netns, 15001);
    await waitForListen(pod.netns, 15006);
    return proc;
  }

  async cleanup(): Promise<void> {
    for (const proc of this.procs) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
    }
    await Promise.all(this.procs.map((p) => p.wait(5000).catch(() => undefined)));
    for (const cgroup of this.cgroups.reverse()) {
      // Anything still inside (a forked child) is killed so the directory can go.
      const procs = await readFile(join(cgroup, "cgroup.procs"), "utf8").catch(() => "");
      for (const pid of procs.split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
      }
      for (let i = 0; i < 50; i++) {
        const ok = await rmdir(cgroup).then(
          () => true,
          (e: NodeJS.ErrnoException) => e.code === "ENOENT",
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const ns of this.netns.reverse()) await runCommand("ip", ["netns", "del", ns], { reject: false });
    for (const dir of this.dirs) await rm(dir, { recursive: true, force: true });
  }
}

export async function waitForListen(netns: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { stdout } = await runCommand("ip", ["netns", "exec", netns, "ss", "-Htln", `sport = :${port}`], {
      reject: false,
    });
    if (stdout.trim()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${netns}:${port}`);
}

/** Compiles scripts/fallback-rr.c (the request/response peer of the fallback tests) into the lab's temp dir. */
export async function compileFallbackPeer(lab: Lab): Promise<string> {
  const cc = (await findProgram("cc")) ?? (await findProgram("clang"));
  if (!cc) throw new Error("no C compiler (cc or clang) for scripts/fallback-rr.c");
  const binary = join(await lab.tempDir("fallback-rr"), "fallback-rr");
  const source = fileURLToPath(new URL("../scripts/fallback-rr.c", import.meta.url));
  await runCommand(cc, ["-O2", "-Wall", "-pthread", "-o", binary, source]);
  return binary;
}

/** Runs a verifying client to completion and returns its JSON summary. */
export async function runClient(
  lab: Lab,
  netns: string,
  cgroup: string | undefined,
  args: readonly string[],
): Promise<Record<string, unknown>> {
  const proc = await lab.peer(netns, cgroup, ["client", ...args]);
  const result = await proc.next(120_000);
  await proc.wait(10_000);
  return result;
}

/** The counters of the programs pinned under pinDir (throws when they are not loaded). */
export async function counters(pinDir: string): Promise<EbpfCounters> {
  const status = await getEbpfStatus({ pinDir });
  if (!status.counters) throw new Error(`no counters under ${pinDir}`);
  return status.counters;
}

/** Polls check every 100 ms until it holds or timeoutMs passes; returns its last answer. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

/** afterAll of every real-kernel suite: disable (idempotent), then remove the lab, even if disable fails. */
export async function teardown(lab: Lab, pinDir: string): Promise<void> {
  try {
    await disableEbpfAcceleration({ pinDir, force: true, drainTimeoutMs: 0 });
  } finally {
    await lab.cleanup();
  }
}
