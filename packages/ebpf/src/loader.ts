import { access, mkdir, readdir, readFile, rmdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTracer, isMeshctlError, runCommand } from "@meshctl/core";
import { runBpftool, runBpftoolJson, tryBpftool } from "./bpftool.js";
import {
  assertEbpfSupported,
  findCgroup2Mount,
  mountBpffs,
  mountsAt,
  resolveCgroup,
  resolvePinDir,
} from "./environment.js";
import { ebpfError } from "./errors.js";
import {
  type AccelerationConfig,
  type BulkService,
  decodeBulkServices,
  decodeConfig,
  decodeCounters,
  type EbpfCounters,
  encodeConfig,
  MAP_NAMES,
  MAX_PORTS,
  type MapName,
  PROGRAM_NAMES,
} from "./maps.js";

const trace = createTracer("ebpf");

/** Where production pins live. Tests and the bench lab pass their own. */
export const DEFAULT_PIN_DIR = "/sys/fs/bpf/meshctl";

/** No per-message limit by default: the stream policy below covers bulk transfers. */
export const DEFAULT_MAX_MESSAGE_BYTES = 0;

/**
 * The bulk policy enabled by default: a direction of a connection that sends more than this many
 * bytes without the other side sending anything goes to plain TCP for good. The kernel's sk_msg
 * ingress path loses to TCP on bulk transfers, request/response wins (docs/ebpf.md "Policy").
 */
export const DEFAULT_MAX_STREAM_BYTES = 256 * 1024;

/**
 * How long a learned bulk service keeps its new connections off the sockhash (docs/ebpf.md
 * "Learned bulk services"). A connection that crosses the stream limit marks its service; after
 * the TTL the next connection to it is accelerated again and re-learns if it still streams.
 */
export const DEFAULT_BULK_TTL_SECONDS = 600;

/** The compiled programs shipped in the package (built by scripts/build-bpf.mjs). */
export function defaultObjectPath(): string {
  return fileURLToPath(new URL("../obj/mc-accel.bpf.o", import.meta.url));
}

/** The bpf_map iterator that reports which sk_msg program each sockhash hands out (bpf/mc-query.bpf.c). */
function queryObjectPath(): string {
  return fileURLToPath(new URL("../obj/mc-query.bpf.o", import.meta.url));
}

/** Where the iterator is pinned while it is read; removed right after (and by disable after a crash). */
const QUERY_PIN = "mc_query"; // bpffs refuses dots in names

/**
 * How long disable keeps the sockops program attached, with acceleration off, so that connections
 * still exchanging data leave the sockhash as plain TCP sockets (docs/ebpf.md "Fallback").
 */
export const DEFAULT_RELEASE_TIMEOUT_MS = 1000;

export interface EnableEbpfOptions {
  /** cgroup v2 directory to attach to; default: the cgroup v2 root (every process on the node). */
  readonly cgroupPath?: string;
  /** bpffs directory for pins; default /sys/fs/bpf/meshctl. */
  readonly pinDir?: string;
  /** Only connections with one of these ports on either end are redirected (max 16); default: all. */
  readonly ports?: readonly number[];
  /**
   * Sockets with one of these ports on either end never enter the sockhash (max 16), nor does the
   * sidecar's socket of a REDIRECTed connection to one of them: bulk services stay on plain TCP
   * at no cost.
   */
  readonly excludePorts?: readonly number[];
  /** Directions writing larger messages fall back to TCP for good; 0 = no limit (default). */
  readonly maxMessageBytes?: number;
  /** Directions sending more than this without a reply fall back to TCP for good; 0 = no limit; default 256 KiB. */
  readonly maxStreamBytes?: number;
  /**
   * Learned bulk services: when a connection crosses `maxStreamBytes`, new connections to the same
   * service (netns, IP, port as the client dialled it) skip the sockhash for this many seconds.
   * 0 = learning off; default 600. Needs a stream limit (nothing is learned with `maxStreamBytes` 0).
   */
  readonly bulkTtlSeconds?: number;
  /**
   * Sidecar-uid filter: only connections with one end owned by this uid are accelerated (the
   * sidecar's, e.g. Istio's 1337), so app <-> app pairs on the node stay on TCP. Default: off,
   * every connection in the cgroup qualifies. Reads the socket owner through CO-RE (kernel BTF).
   */
  readonly sidecarUid?: number;
  /** Path of the BPF object; default: the one shipped in the package. */
  readonly objectPath?: string;
}

export interface ProgramInfo {
  readonly name: string;
  readonly id: number;
  readonly pin: string;
}

export interface MapInfo {
  readonly name: string;
  readonly id: number;
  readonly type: string;
  readonly maxEntries: number;
  readonly pin: string;
  /** Current entries (sockhash, pairs, original destinations); undefined where not countable. */
  readonly entries?: number;
}

export interface Attachment {
  readonly cgroupPath: string;
  readonly attachType: string;
  readonly programId: number;
  readonly programName: string;
  readonly flags: string;
}

export interface EnableEbpfResult {
  /** False when everything already was as requested (idempotent enable). */
  readonly changed: boolean;
  readonly pinDir: string;
  readonly cgroupPath: string;
  readonly programs: { readonly sockops: ProgramInfo; readonly skMsg: ProgramInfo };
  readonly config: AccelerationConfig;
  /**
   * Attachments found missing in the kernel and made again (e.g. after a crash between loading and
   * attaching): "sk_msg verdict on mc_socks", "sock_ops on <cgroup>".
   */
  readonly repaired: readonly string[];
}

/** The sk_msg program attached to a sockhash, as the kernel reports it. */
export interface VerdictAttachment {
  readonly mapId: number;
  /** The program the map hands to every socket inserted from now on; null = none. */
  readonly programId: number | null;
}

interface PinState {
  readonly sockops?: ProgramInfo;
  readonly skMsg?: ProgramInfo;
  readonly maps: Partial<Record<MapName, MapInfo>>;
  readonly complete: boolean;
  readonly empty: boolean;
}

function progPin(pinDir: string, name: string): string {
  return join(pinDir, "progs", name);
}
function mapPin(pinDir: string, name: string): string {
  return join(pinDir, "maps", name);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readProgram(pinDir: string, name: string): Promise<ProgramInfo | undefined> {
  const pin = progPin(pinDir, name);
  if (!(await exists(pin))) return undefined;
  const info = await runBpftoolJson<{ id: number; name: string }>(
    ["prog", "show", "pinned", pin],
    `reading ${pin}`,
  );
  return { name: info.name, id: info.id, pin };
}

async function readMap(pinDir: string, name: MapName): Promise<MapInfo | undefined> {
  const pin = mapPin(pinDir, name);
  if (!(await exists(pin))) return undefined;
  const info = await runBpftoolJson<{ id: number; name: string; type: string; max_entries: number }>(
    ["map", "show", "pinned", pin],
    `reading ${pin}`,
  );
  return { name: info.name, id: info.id, type: info.type, maxEntries: info.max_entries, pin };
}

async function readPins(pinDir: string): Promise<PinState> {
  const sockops = await readProgram(pinDir, PROGRAM_NAMES.sockops);
  const skMsg = await readProgram(pinDir, PROGRAM_NAMES.skMsg);
  const maps: Partial<Record<MapName, MapInfo>> = {};
  for (const name of MAP_NAMES) {
    const map = await readMap(pinDir, name);
    if (map) maps[name] = map;
  }
  const mapCount = Object.keys(maps).length;
  const leftovers = (await readdir(pinDir).catch(() => [])).length;
  return {
    ...(sockops ? { sockops } : {}),
    ...(skMsg ? { skMsg } : {}),
    maps,
    complete: Boolean(sockops && skMsg) && mapCount === MAP_NAMES.length,
    empty: !sockops && !skMsg && mapCount === 0 && leftovers === 0,
  };
}

interface CgroupTreeEntry {
  cgroup: string;
  programs: Array<{ id: number; attach_type: string; attach_flags?: string; name: string }>;
}

/** Every sock_ops attachment under the cgroup v2 mount. */
async function listSockOpsAttachments(mount: string): Promise<Attachment[]> {
  const tree =
    (await runBpftoolJson<CgroupTreeEntry[]>(["cgroup", "tree", mount], "listing cgroup attachments")) ?? [];
  return tree.flatMap((entry) =>
    entry.programs
      .filter((p) => p.attach_type === "cgroup_sock_ops" || p.attach_type === "sock_ops")
      .map((p) => ({
        cgroupPath: entry.cgroup,
        attachType: p.attach_type,
        programId: p.id,
        programName: p.name,
        flags: p.attach_flags ?? "",
      })),
  );
}

/** sock_ops programs that run for sockets of `cgroupPath`, including ones inherited from ancestors. */
async function effectiveSockOps(cgroupPath: string): Promise<Attachment[]> {
  const programs =
    (await runBpftoolJson<CgroupTreeEntry["programs"]>(
      ["cgroup", "show", cgroupPath, "effective"],
      `reading programs of ${cgroupPath}`,
    )) ?? [];
  return programs
    .filter((p) => p.attach_type === "cgroup_sock_ops" || p.attach_type === "sock_ops")
    .map((p) => ({
      cgroupPath,
      attachType: p.attach_type,
      programId: p.id,
      programName: p.name,
      flags: p.attach_flags ?? "",
    }));
}

/**
 * The sk_msg verdict program attached to map `mapId`, from the kernel itself: bpftool cannot list
 * map attachments, so a bpf_map iterator (bpf/mc-query.bpf.c) pinned with `bpftool iter pin`
 * prints "<map id> <program id>" for every sockmap and sockhash.
 */
async function verdictAttachment(pinDir: string, mapId: number): Promise<VerdictAttachment> {
  const pin = join(pinDir, QUERY_PIN);
  await unlink(pin).catch(() => undefined);
  await runBpftool(["iter", "pin", queryObjectPath(), pin], "querying the sockhash's sk_msg program");
  try {
    const text = await readFile(pin, "utf8");
    for (const line of text.split("\n")) {
      const [map, prog] = line.trim().split(/\s+/).map(Number);
      if (map === mapId) return { mapId, programId: prog ? prog : null };
    }
    return { mapId, programId: null };
  } finally {
    await unlink(pin).catch(() => undefined);
  }
}

function validatePorts(field: string, list: readonly number[] | undefined): number[] {
  const ports = [...new Set(list ?? [])];
  if (ports.length > MAX_PORTS) {
    throw ebpfError("EBPF_INVALID_OPTIONS", `${field}: at most ${MAX_PORTS} ports (got ${ports.length}).`, {
      kind: "usage",
    });
  }
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw ebpfError("EBPF_INVALID_OPTIONS", `${field}: ${port} is not a TCP port (1-65535).`, {
        kind: "usage",
      });
    }
  }
  return ports;
}

function validateOptions(options: EnableEbpfOptions): AccelerationConfig {
  const ports = validatePorts("ports", options.ports);
  const excludePorts = validatePorts("excludePorts", options.excludePorts);
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxStreamBytes = options.maxStreamBytes ?? DEFAULT_MAX_STREAM_BYTES;
  const bulkTtlSeconds = options.bulkTtlSeconds ?? DEFAULT_BULK_TTL_SECONDS;
  for (const [name, value] of [
    ["maxMessageBytes", maxMessageBytes],
    ["maxStreamBytes", maxStreamBytes],
    ["bulkTtlSeconds", bulkTtlSeconds],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw ebpfError("EBPF_INVALID_OPTIONS", `${name}: ${value} must be an integer from 0 to 4294967295.`, {
        kind: "usage",
        ...(name === "bulkTtlSeconds"
          ? { suggestions: ["Seconds a learned bulk service stays on plain TCP; 0 turns learning off."] }
          : {}),
      });
    }
  }
  const sidecarUid = options.sidecarUid ?? null;
  if (sidecarUid !== null && (!Number.isInteger(sidecarUid) || sidecarUid < 0 || sidecarUid >= 0xffffffff)) {
    throw ebpfError("EBPF_INVALID_OPTIONS", `sidecarUid: ${sidecarUid} is not a uid (0 to 4294967294).`, {
      kind: "usage",
      suggestions: ["Pass the uid the sidecar runs as (Istio: 1337)."],
    });
  }
  return { enabled: true, maxMessageBytes, maxStreamBytes, ports, excludePorts, bulkTtlSeconds, sidecarUid };
}

async function writeConfig(pinDir: string, config: AccelerationConfig, valueSize?: number): Promise<void> {
  // struct mc_config only ever grows at the end, so a prefix is the same config for an object an
  // older meshctl pinned (disable must still be able to write `enabled = 0` into it).
  const encoded = encodeConfig(config);
  const value =
    valueSize === undefined || valueSize === encoded.length
      ? encoded
      : [...encoded.slice(0, valueSize), ...Array<string>(Math.max(0, valueSize - encoded.length)).fill("0")];
  await runBpftool(
    ["map", "update", "pinned", mapPin(pinDir, "mc_config"), "key", "0", "0", "0", "0", "value", ...value],
    "writing the acceleration config",
  );
}

async function readConfig(pinDir: string): Promise<AccelerationConfig | undefined> {
  const dump = await runBpftoolJson<Array<{ formatted?: { value: Parameters<typeof decodeConfig>[0] } }>>(
    ["map", "dump", "pinned", mapPin(pinDir, "mc_config")],
    "reading the acceleration config",
  ).catch(() => undefined);
  const formatted = dump?.[0]?.formatted?.value;
  return formatted ? decodeConfig(formatted) : undefined;
}

function sameConfig(a: AccelerationConfig, b: AccelerationConfig): boolean {
  return (
    a.enabled === b.enabled &&
    a.maxMessageBytes === b.maxMessageBytes &&
    a.maxStreamBytes === b.maxStreamBytes &&
    a.bulkTtlSeconds === b.bulkTtlSeconds &&
    a.sidecarUid === b.sidecarUid &&
    a.ports.join(",") === b.ports.join(",") &&
    a.excludePorts.join(",") === b.excludePorts.join(",")
  );
}

/**
 * Loads the sockops + sk_msg programs, pins them under `pinDir` and attaches them to a cgroup.
 * Idempotent: a second call with the same cgroup changes nothing (or only the config).
 * Refuses to attach where another sock_ops program already runs (EBPF_FOREIGN_PROGRAM).
 *
 * @example
 * const result = await enableEbpfAcceleration({ cgroupPath: "/sys/fs/cgroup/unified/mypod" });
 * console.log(result.changed, result.programs.sockops.id);
 */
export async function enableEbpfAcceleration(options: EnableEbpfOptions = {}): Promise<EnableEbpfResult> {
  const config = validateOptions(options);
  const location = await resolvePinDir(options.pinDir ?? DEFAULT_PIN_DIR);
  const pinDir = location.path;
  const objectPath = options.objectPath ?? defaultObjectPath();
  await assertEbpfSupported();
  for (const object of [objectPath, queryObjectPath()]) {
    if (!(await exists(object))) {
      throw ebpfError("EBPF_OBJECT_MISSING", `The BPF object ${object} is missing.`, {
        kind: "bug",
        suggestions: [
          "Build the package (`npm run build -w packages/ebpf`), which compiles bpf/*.bpf.c with clang.",
        ],
      });
    }
  }
  const { mount, path: cgroupPath } = await resolveCgroup(options.cgroupPath);
  if (location.needsBpffs) await mountBpffs();

  let pins = await readPins(pinDir);
  if (!pins.empty && !pins.complete) {
    trace(`incomplete pins in ${pinDir}; removing them before a fresh load`);
    await disableEbpfAcceleration({ pinDir, drainTimeoutMs: 0, releaseTimeoutMs: 0 });
    pins = await readPins(pinDir);
  }

  if (pins.complete && pins.sockops && pins.skMsg && pins.maps.mc_socks) {
    const ours = pins.sockops.id;
    const attachments = await listSockOpsAttachments(mount);
    const mine = attachments.filter((a) => a.programId === ours);
    const elsewhere = mine.filter((a) => a.cgroupPath !== cgroupPath);
    if (elsewhere.length > 0) {
      throw ebpfError(
        "EBPF_ALREADY_ENABLED_ELSEWHERE",
        `Acceleration from ${pinDir} is already attached to ${elsewhere.map((a) => a.cgroupPath).join(", ")}.`,
        {
          kind: "usage",
          details: { pinDir, attachedTo: elsewhere.map((a) => a.cgroupPath), requested: cgroupPath },
          suggestions: [
            "Run `meshctl disable ebpf` first, or use another pin directory for a second cgroup.",
          ],
        },
      );
    }
    const current = await readConfig(pinDir);
    const configChanged = !current || !sameConfig(current, config);
    if (configChanged) await writeConfig(pinDir, config);
    // Never assume an attachment from the pins: a crash between loading and attaching leaves
    // complete pins with nothing attached. Ask the kernel, and make what is missing.
    const verdict = await verdictAttachment(pinDir, pins.maps.mc_socks.id);
    const missing = { verdict: verdict.programId !== pins.skMsg.id, sockops: mine.length === 0 };
    if (missing.sockops) await assertNoForeignPrograms(cgroupPath, ours);
    await attachAll(pinDir, cgroupPath, missing);
    const repaired = [
      ...(missing.verdict ? ["sk_msg verdict on mc_socks"] : []),
      ...(missing.sockops ? [`sock_ops on ${cgroupPath}`] : []),
    ];
    if (repaired.length) trace(`attached what the kernel lacked: ${repaired.join(", ")}`);
    return {
      changed: configChanged || repaired.length > 0,
      pinDir,
      cgroupPath,
      programs: { sockops: pins.sockops, skMsg: pins.skMsg },
      config,
      repaired,
    };
  }

  await assertNoForeignPrograms(cgroupPath, undefined);
  await mkdir(pinDir, { recursive: true });
  try {
    await runBpftool(
      ["prog", "loadall", objectPath, join(pinDir, "progs"), "pinmaps", join(pinDir, "maps")],
      "loading the BPF programs",
    );
    await writeConfig(pinDir, config);
    await attachAll(pinDir, cgroupPath, { verdict: true, sockops: true });
  } catch (error) {
    await disableEbpfAcceleration({ pinDir, cgroupPath, drainTimeoutMs: 0, releaseTimeoutMs: 0 }).catch(
      (cleanup: unknown) => trace(`rollback after a failed enable failed too: ${String(cleanup)}`),
    );
    throw error;
  }
  const loaded = await readPins(pinDir);
  if (!loaded.sockops || !loaded.skMsg) {
    throw ebpfError(
      "EBPF_OPERATION_FAILED",
      `bpftool loaded the object but ${pinDir}/progs lacks the programs.`,
      { kind: "bug" },
    );
  }
  return {
    changed: true,
    pinDir,
    cgroupPath,
    programs: { sockops: loaded.sockops, skMsg: loaded.skMsg },
    config,
    repaired: [],
  };
}

async function attachAll(
  pinDir: string,
  cgroupPath: string,
  which: { readonly verdict: boolean; readonly sockops: boolean },
): Promise<void> {
  // The verdict program goes on the map before sockops fills it: sockets inherit the map's programs
  // when they are inserted, never afterwards.
  if (which.verdict) {
    await runBpftool(
      [
        "prog",
        "attach",
        "pinned",
        progPin(pinDir, PROGRAM_NAMES.skMsg),
        "msg_verdict",
        "pinned",
        mapPin(pinDir, "mc_socks"),
      ],
      "attaching the sk_msg program to the sockhash",
    );
  }
  if (!which.sockops) return;
  // `multi` never replaces a program someone else attached, and lets others attach after us.
  await runBpftool(
    ["cgroup", "attach", cgroupPath, "sock_ops", "pinned", progPin(pinDir, PROGRAM_NAMES.sockops), "multi"],
    `attaching the sockops program to ${cgroupPath}`,
  );
}

async function assertNoForeignPrograms(cgroupPath: string, ours: number | undefined): Promise<void> {
  const foreign = (await effectiveSockOps(cgroupPath)).filter((a) => a.programId !== ours);
  if (foreign.length === 0) return;
  throw ebpfError(
    "EBPF_FOREIGN_PROGRAM",
    `Another sock_ops program already runs for ${cgroupPath}: ${foreign.map((f) => `${f.programName || "?"} (id ${f.programId})`).join(", ")}. meshctl does not attach beside it.`,
    {
      kind: "environment",
      details: { cgroupPath, foreign },
      suggestions: [
        "Find its owner with `bpftool cgroup tree` and `bpftool prog show id <id>` (Cilium, Merbridge, another meshctl pin dir?).",
        "Two socket accelerators fight over the same sockets (EBUSY); disable the other one first.",
      ],
    },
  );
}

export interface DisableEbpfOptions {
  readonly pinDir?: string;
  /** Also detach from this cgroup (found automatically otherwise). */
  readonly cgroupPath?: string;
  /**
   * Remove accelerated sockets from the sockhash right away. Bytes already redirected but not yet
   * read by the receiving application are then lost; by default meshctl lets open connections finish.
   */
  readonly force?: boolean;
  /** How long to wait for the kernel to free programs and maps; default 2000 ms. */
  readonly drainTimeoutMs?: number;
  /**
   * How long the sockops program stays attached, with acceleration off, so that connections still
   * exchanging data leave the sockhash as plain TCP sockets (each does once its peer has sent
   * through TCP and its redirect queue is read). Ends early when the sockhash is empty; default 1000 ms.
   */
  readonly releaseTimeoutMs?: number;
}

export interface DisableEbpfResult {
  readonly changed: boolean;
  readonly pinDir: string;
  readonly detached: readonly Attachment[];
  readonly removedPins: readonly string[];
  /** Sockets that left the sockhash while disable waited (released to plain TCP, or closed). */
  readonly releasedSockets: number;
  /**
   * Sockets still in the sockhash when disable finished (idle connections); they keep the programs
   * alive until they close and send through the coalescing fallback path meanwhile.
   */
  readonly openSockets: number;
  /** Mounts at the pin directory that an older meshctl made through bpftool, removed. */
  readonly unmounted: readonly string[];
  /** Kernel objects still alive after the drain timeout (only while such sockets are open). */
  readonly lingering: { readonly programIds: readonly number[]; readonly mapIds: readonly number[] };
}

/**
 * Stops redirecting, detaches everything and removes every pin. Open accelerated connections
 * switch to plain TCP without losing bytes; the kernel frees programs and maps when they close.
 *
 * @example
 * const result = await disableEbpfAcceleration({ pinDir: "/sys/fs/bpf/meshctl" });
 * console.log(result.detached.length, result.lingering);
 */
export async function disableEbpfAcceleration(options: DisableEbpfOptions = {}): Promise<DisableEbpfResult> {
  if (process.getuid?.() !== 0) {
    throw ebpfError("EBPF_PERMISSION_DENIED", "Disabling eBPF acceleration needs root.", {
      kind: "environment",
      suggestions: ["Run with sudo."],
    });
  }
  const location = await resolvePinDir(options.pinDir ?? DEFAULT_PIN_DIR, { allowMountPoint: true });
  const pinDir = location.path;
  const pins = await readPins(pinDir);
  if (pins.empty) {
    await rmdir(pinDir).catch(() => undefined);
    const unmounted = location.isMountPoint ? await unmountPinDir(pinDir) : [];
    return {
      changed: unmounted.length > 0,
      pinDir,
      detached: [],
      removedPins: [],
      releasedSockets: 0,
      openSockets: 0,
      unmounted,
      lingering: { programIds: [], mapIds: [] },
    };
  }
  const programIds = [pins.sockops?.id, pins.skMsg?.id].filter((id): id is number => id !== undefined);
  const mapIds = Object.values(pins.maps).map((m) => m.id);

  const socks = pins.maps.mc_socks?.pin;
  const before = socks ? (await sockhashKeys(socks)).length : 0;

  // 1. Every direction falls back to TCP on its next message; redirect -> TCP keeps byte order.
  if (pins.maps.mc_config) {
    const { bytes_value: valueSize } = await runBpftoolJson<{ bytes_value?: number }>(
      ["map", "show", "pinned", pins.maps.mc_config.pin],
      "reading mc_config",
    ).catch(() => ({ bytes_value: undefined }));
    await writeConfig(
      pinDir,
      {
        enabled: false,
        maxMessageBytes: 0,
        maxStreamBytes: 0,
        ports: [],
        excludePorts: [],
        bulkTtlSeconds: 0,
        sidecarUid: null,
      },
      valueSize,
    ).catch(() => undefined);
  }

  const mount = await findCgroup2Mount();
  const attachments = pins.sockops && mount ? await listSockOpsAttachments(mount) : [];
  const targets = attachments.filter((a) => a.programId === pins.sockops?.id);
  if (pins.sockops && options.cgroupPath && !targets.some((t) => t.cgroupPath === options.cgroupPath)) {
    const direct = await effectiveSockOps(options.cgroupPath).catch(() => []);
    targets.push(...direct.filter((a) => a.programId === pins.sockops?.id));
  }

  // 2. While sockops is still attached, connections that exchange data leave the sockhash (their
  // sockets see TCP payload from a peer that fell back) and become plain TCP sockets.
  let inMap = before;
  if (socks && targets.length > 0 && !options.force) {
    const deadline = Date.now() + (options.releaseTimeoutMs ?? DEFAULT_RELEASE_TIMEOUT_MS);
    while (inMap > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      inMap = (await sockhashKeys(socks)).length;
    }
  }

  // 3. No new sockets get in.
  const detached: Attachment[] = [];
  for (const target of targets) {
    const result = await tryBpftool([
      "cgroup",
      "detach",
      target.cgroupPath,
      "sock_ops",
      "id",
      String(target.programId),
    ]);
    if (result.ok) detached.push(target);
    else trace(`detach from ${target.cgroupPath} failed: ${result.errorText}`);
  }

  // 4. The map stops handing its verdict program to sockets.
  let openSockets = 0;
  if (pins.skMsg && pins.maps.mc_socks) {
    await tryBpftool([
      "prog",
      "detach",
      "pinned",
      pins.skMsg.pin,
      "msg_verdict",
      "pinned",
      pins.maps.mc_socks.pin,
    ]);
  }
  if (socks) {
    const keys = await sockhashKeys(socks);
    openSockets = keys.length;
    if (options.force) {
      for (const key of keys) await tryBpftool(["map", "delete", "pinned", socks, "key", "hex", ...key]);
    }
  }

  // 5. Unpin. Programs and maps die with their last reference.
  const removedPins = await removePins(pinDir);
  const unmounted = location.isMountPoint ? await unmountPinDir(pinDir) : [];

  const lingering = await waitForRelease(programIds, mapIds, options.drainTimeoutMs ?? 2000);
  return {
    changed: true,
    pinDir,
    detached,
    removedPins,
    releasedSockets: Math.max(0, before - openSockets),
    openSockets,
    unmounted,
    lingering,
  };
}

/**
 * Older meshctl versions let bpftool mount a bpffs (over a private bind mount of the directory)
 * at a pin dir outside /sys/fs/bpf. Removes every mount stacked there, topmost first.
 */
async function unmountPinDir(pinDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const m of await mountsAt(pinDir)) {
    const result = await runCommand("umount", [pinDir], { reject: false });
    if (result.exitCode !== 0) {
      trace(`umount ${pinDir} failed: ${result.stderr.trim()}`);
      break;
    }
    removed.push(`${m.type} ${pinDir}`);
  }
  await rmdir(pinDir).catch(() => undefined);
  return removed;
}

/** Removes only the pins meshctl creates, never anything else someone put in the directory. */
async function removePins(pinDir: string): Promise<string[]> {
  const removed: string[] = [];
  const known = [
    ...Object.values(PROGRAM_NAMES).map((name) => progPin(pinDir, name)),
    ...MAP_NAMES.map((name) => mapPin(pinDir, name)),
    join(pinDir, QUERY_PIN),
  ];
  for (const pin of known) {
    if (
      await unlink(pin).then(
        () => true,
        () => false,
      )
    )
      removed.push(pin);
  }
  for (const dir of [join(pinDir, "progs"), join(pinDir, "maps"), pinDir]) {
    await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") trace(`kept ${dir}: ${error.code}`);
    });
  }
  return removed;
}

async function sockhashKeys(pin: string): Promise<string[][]> {
  const dump = await runBpftoolJson<Array<{ key: string[] }>>(
    ["map", "dump", "pinned", pin],
    "reading the sockhash",
  ).catch(() => []);
  return (dump ?? []).map((e) => e.key.map((b) => b.replace(/^0x/, "")));
}

async function objectAlive(kind: "prog" | "map", id: number): Promise<boolean> {
  return (await tryBpftool(["-j", kind, "show", "id", String(id)])).ok;
}

async function waitForRelease(
  programIds: readonly number[],
  mapIds: readonly number[],
  timeoutMs: number,
): Promise<{ programIds: number[]; mapIds: number[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const progs: number[] = [];
    const maps: number[] = [];
    for (const id of programIds) if (await objectAlive("prog", id)) progs.push(id);
    for (const id of mapIds) if (await objectAlive("map", id)) maps.push(id);
    if ((progs.length === 0 && maps.length === 0) || Date.now() >= deadline)
      return { programIds: progs, mapIds: maps };
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface GetEbpfStatusOptions {
  readonly pinDir?: string;
}

export interface EbpfStatus {
  /** Loaded, attached somewhere and redirecting. */
  readonly enabled: boolean;
  /**
   * "broken": pins incomplete, or sockops attached while the sockhash hands out no sk_msg program
   * (sockets enter the map and nothing is redirected); `meshctl enable ebpf` repairs it.
   */
  readonly state: "disabled" | "enabled" | "loaded-not-attached" | "paused" | "broken";
  readonly pinDir: string;
  readonly programs: readonly ProgramInfo[];
  /** sock_ops attachments, from `bpftool cgroup tree`. */
  readonly attachments: readonly Attachment[];
  /** The sockhash's sk_msg program, from the kernel (bpf_map iterator); absent when not pinned. */
  readonly verdict?: VerdictAttachment;
  /** Other sock_ops programs running for the attached cgroups. */
  readonly foreignPrograms: readonly Attachment[];
  readonly maps: readonly MapInfo[];
  readonly config?: AccelerationConfig;
  readonly counters?: EbpfCounters;
  /** Learned bulk services (mc_bulk), newest first; expired ones stay listed with `active: false` until evicted. */
  readonly bulkServices?: readonly BulkService[];
}

const COUNTED_MAPS: ReadonlySet<MapName> = new Set([
  "mc_socks",
  "mc_pairs",
  "mc_orig",
  "mc_flows",
  "mc_bulk",
]);

/**
 * What is loaded from `pinDir`, where it is attached, map sizes and the counters.
 *
 * @example
 * const status = await getEbpfStatus({ pinDir: "/sys/fs/bpf/meshctl" });
 * if (status.enabled) console.log(status.counters?.ingress.messages);
 */
export async function getEbpfStatus(options: GetEbpfStatusOptions = {}): Promise<EbpfStatus> {
  if (process.getuid?.() !== 0) {
    throw ebpfError("EBPF_PERMISSION_DENIED", "Reading BPF programs and maps needs root.", {
      kind: "environment",
      suggestions: ["Run with sudo."],
    });
  }
  const pinDir = (await resolvePinDir(options.pinDir ?? DEFAULT_PIN_DIR, { allowMountPoint: true })).path;
  const pins = await readPins(pinDir);
  if (pins.empty)
    return {
      enabled: false,
      state: "disabled",
      pinDir,
      programs: [],
      attachments: [],
      foreignPrograms: [],
      maps: [],
    };

  const programs = [pins.sockops, pins.skMsg].filter((p): p is ProgramInfo => p !== undefined);
  const mount = await findCgroup2Mount();
  const attachments =
    pins.sockops && mount
      ? (await listSockOpsAttachments(mount)).filter((a) => a.programId === pins.sockops?.id)
      : [];
  const foreign: Attachment[] = [];
  for (const attachment of attachments) {
    for (const other of await effectiveSockOps(attachment.cgroupPath).catch(() => [])) {
      if (other.programId !== pins.sockops?.id && !foreign.some((f) => f.programId === other.programId))
        foreign.push(other);
    }
  }
  const maps: MapInfo[] = [];
  let bulkDump: BulkDump | undefined;
  for (const name of MAP_NAMES) {
    const map = pins.maps[name];
    if (!map) continue;
    if (COUNTED_MAPS.has(name)) {
      const dump = await runBpftoolJson<unknown[]>(
        ["map", "dump", "pinned", map.pin],
        `reading ${name}`,
      ).catch(() => undefined);
      if (name === "mc_bulk" && dump) bulkDump = dump as BulkDump;
      maps.push(dump ? { ...map, entries: dump.length } : map);
    } else maps.push(map);
  }
  const config = pins.maps.mc_config ? await readConfig(pinDir) : undefined;
  // Same clock as bpf_ktime_get_ns (CLOCK_MONOTONIC), read right after the dump.
  const bulkServices = bulkDump
    ? decodeBulkServices(bulkDump, process.hrtime.bigint(), config?.bulkTtlSeconds ?? 0)
    : undefined;
  let counters: EbpfCounters | undefined;
  if (pins.maps.mc_counters) {
    const dump = await runBpftoolJson<Parameters<typeof decodeCounters>[0]>(
      ["map", "dump", "pinned", pins.maps.mc_counters.pin],
      "reading counters",
    ).catch((error: unknown) => {
      if (isMeshctlError(error)) trace(error.message);
      return undefined;
    });
    if (dump) counters = decodeCounters(dump);
  }
  const verdict = pins.maps.mc_socks
    ? await verdictAttachment(pinDir, pins.maps.mc_socks.id).catch((error: unknown) => {
        trace(`sk_msg query failed: ${String(error)}`);
        return undefined;
      })
    : undefined;
  const verdictOk =
    verdict !== undefined && verdict.programId !== null && verdict.programId === pins.skMsg?.id;
  const state: EbpfStatus["state"] = !pins.complete
    ? "broken"
    : attachments.length === 0
      ? "loaded-not-attached"
      : !verdictOk
        ? "broken"
        : config?.enabled
          ? "enabled"
          : "paused";
  return {
    enabled: state === "enabled",
    state,
    pinDir,
    programs,
    attachments,
    ...(verdict ? { verdict } : {}),
    foreignPrograms: foreign,
    maps,
    ...(config ? { config } : {}),
    ...(counters ? { counters } : {}),
    ...(bulkServices ? { bulkServices } : {}),
  };
}

type BulkDump = Array<{ key: string[]; value: string[] }>;
