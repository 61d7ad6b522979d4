/**
 * The ABI shared with bpf/mc-common.h: map and program names, the config layout and the counter
 * indices. Change both sides together.
 */

export const PROGRAM_NAMES = { sockops: "mc_sockops", skMsg: "mc_redir" } as const;

export const MAP_NAMES = [
  "mc_socks",
  "mc_pairs",
  "mc_orig",
  "mc_flows",
  "mc_bulk",
  "mc_owner",
  "mc_counters",
  "mc_config",
  "mc_sk_state",
] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** Order of `enum mc_counter`. */
export const COUNTER_NAMES = [
  "ingressMessages",
  "ingressBytes",
  "ingressMisses",
  "egressMessages",
  "egressBytes",
  "egressMisses",
  "socketsAdded",
  "socketAddErrors",
  "pairsCreated",
  "passedMessages",
  "passedBytes",
  "policySkips",
  "socketsSkipped",
  "bulkLearned",
  "bulkSkips",
  "ownerSkips",
  "socketsReleased",
  "releaseDeferred",
  "coalesceFails",
  "peerFallbacks",
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export const MAX_PORTS = 16;
const EXCLUDE_AT = 16 + 2 * MAX_PORTS;
const BULK_TTL_AT = EXCLUDE_AT + 4 + 2 * MAX_PORTS;
const SIDECAR_UID_AT = BULK_TTL_AT + 4;
const CONFIG_SIZE = SIDECAR_UID_AT + 8;

/** What the programs read from mc_config. */
export interface AccelerationConfig {
  readonly enabled: boolean;
  /** A direction writing a larger single message goes to TCP for good; 0 = no limit. */
  readonly maxMessageBytes: number;
  /** A direction sending more bytes than this without hearing back goes to TCP for good; 0 = no limit. */
  readonly maxStreamBytes: number;
  /** Empty = every port. */
  readonly ports: readonly number[];
  /** Sockets with these ports (or REDIRECTed to the sidecar from them) never enter the sockhash. */
  readonly excludePorts: readonly number[];
  /**
   * Seconds a learned bulk service keeps its new connections off the sockhash; 0 = learning off.
   * A service is learned when one of its connections crosses `maxStreamBytes`.
   */
  readonly bulkTtlSeconds: number;
  /**
   * Sidecar-uid filter: only connections with one end owned by this uid qualify (app <-> sidecar);
   * null = every connection in the cgroup.
   */
  readonly sidecarUid: number | null;
}

/**
 * Encodes `struct mc_config` as the byte list `bpftool map update ... value` takes (little endian).
 *
 * @example
 * encodeConfig({ enabled: true, maxMessageBytes: 0, maxStreamBytes: 0, ports: [15001], excludePorts: [], bulkTtlSeconds: 600, sidecarUid: null }).slice(0, 4); // ["1","0","0","0"]
 */
export function encodeConfig(config: AccelerationConfig): string[] {
  const buf = Buffer.alloc(CONFIG_SIZE);
  buf.writeUInt32LE(config.enabled ? 1 : 0, 0);
  buf.writeUInt32LE(config.maxMessageBytes, 4);
  buf.writeUInt32LE(config.maxStreamBytes, 8);
  buf.writeUInt32LE(config.ports.length, 12);
  for (const [i, port] of config.ports.entries()) buf.writeUInt16LE(port, 16 + 2 * i);
  buf.writeUInt32LE(config.excludePorts.length, EXCLUDE_AT);
  for (const [i, port] of config.excludePorts.entries()) buf.writeUInt16LE(port, EXCLUDE_AT + 4 + 2 * i);
  buf.writeUInt32LE(config.bulkTtlSeconds, BULK_TTL_AT);
  buf.writeUInt32LE(config.sidecarUid === null ? 0 : 1, SIDECAR_UID_AT);
  buf.writeUInt32LE(config.sidecarUid ?? 0, SIDECAR_UID_AT + 4);
  return [...buf].map(String);
}

/** Decodes bpftool's BTF-formatted view of mc_config. */
export function decodeConfig(formatted: {
  enabled?: number;
  max_msg_bytes?: number;
  max_stream_bytes?: number;
  nports?: number;
  ports?: number[];
  nexclude?: number;
  exclude?: number[];
  bulk_ttl_s?: number;
  sidecar_uid_set?: number;
  sidecar_uid?: number;
}): AccelerationConfig {
  const n = formatted.nports ?? 0;
  const excluded = formatted.nexclude ?? 0;
  return {
    enabled: (formatted.enabled ?? 0) !== 0,
    maxMessageBytes: formatted.max_msg_bytes ?? 0,
    maxStreamBytes: formatted.max_stream_bytes ?? 0,
    ports: (formatted.ports ?? []).slice(0, n),
    excludePorts: (formatted.exclude ?? []).slice(0, excluded),
    bulkTtlSeconds: formatted.bulk_ttl_s ?? 0,
    sidecarUid: formatted.sidecar_uid_set ? (formatted.sidecar_uid ?? 0) : null,
  };
}

/** Counters summed over CPUs, by direction. */
export interface EbpfCounters {
  /** Mirror-tuple pairs: sidecar -> app inbound and any other same-namespace pair (127.0.0.1 included). */
  readonly ingress: DirectionCounters;
  /** Pairs matched through the recorded original destination: app -> sidecar after REDIRECT to 15001. */
  readonly egress: DirectionCounters;
  readonly socketsAdded: number;
  /** Sockets another sk_msg program already owned (EBUSY), left on TCP. */
  readonly socketAddErrors: number;
  readonly pairsCreated: number;
  /** Messages sent through TCP on sockets that meshctl watches (no peer, policy, or disabled). */
  readonly passedMessages: number;
  readonly passedBytes: number;
  /** Directions switched to TCP by the port, message-size or stream policy. */
  readonly policySkips: number;
  /** Sockets left on TCP: an excluded port, or payload had crossed TCP before they were established (TCP Fast Open). */
  readonly socketsSkipped: number;
  /** Bulk streams recorded in mc_bulk (a direction crossed `maxStreamBytes` with learning on). */
  readonly bulkLearned: number;
  /** Sockets kept out of the sockhash because their service is a learned bulk service. */
  readonly bulkSkips: number;
  /** Sockets kept out of the sockhash by the sidecar-uid filter (neither end owned by the sidecar). */
  readonly ownerSkips: number;
  /**
   * Sockets that left the sockhash after falling back (their peer sent through TCP and nothing
   * redirected to them was left unread): plain TCP sockets again, at no sk_msg cost.
   */
  readonly socketsReleased: number;
  /** Segments that found the socket's redirect queue not yet read; the release waits for the next one. */
  readonly releaseDeferred: number;
  /** Messages on the TCP fallback path that could not be made one contiguous write (allocation failed). */
  readonly coalesceFails: number;
  /** Directions that followed their peer to TCP (TCP payload had reached the socket). */
  readonly peerFallbacks: number;
}

export interface DirectionCounters {
  readonly messages: number;
  readonly bytes: number;
  /** First messages whose peer socket was not in the sockhash (peer outside the cgroup, or opened before enable). */
  readonly misses: number;
}

type PercpuDump = Array<{ formatted?: { key: number; values: Array<{ cpu: number; value: number }> } }>;

/**
 * Sums bpftool's per-CPU dump of mc_counters into named counters.
 *
 * @example
 * decodeCounters([{ formatted: { key: 0, values: [{ cpu: 0, value: 2 }, { cpu: 1, value: 3 }] } }]).ingress.messages; // 5
 */
export function decodeCounters(dump: PercpuDump): EbpfCounters {
  const raw = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Record<CounterName, number>;
  for (const entry of dump) {
    const f = entry.formatted;
    if (!f) continue;
    const name = COUNTER_NAMES[f.key];
    if (name) raw[name] = f.values.reduce((sum, v) => sum + Number(v.value), 0);
  }
  return {
    ingress: { messages: raw.ingressMessages, bytes: raw.ingressBytes, misses: raw.ingressMisses },
    egress: { messages: raw.egressMessages, bytes: raw.egressBytes, misses: raw.egressMisses },
    socketsAdded: raw.socketsAdded,
    socketAddErrors: raw.socketAddErrors,
    pairsCreated: raw.pairsCreated,
    passedMessages: raw.passedMessages,
    passedBytes: raw.passedBytes,
    policySkips: raw.policySkips,
    socketsSkipped: raw.socketsSkipped,
    bulkLearned: raw.bulkLearned,
    bulkSkips: raw.bulkSkips,
    ownerSkips: raw.ownerSkips,
    socketsReleased: raw.socketsReleased,
    releaseDeferred: raw.releaseDeferred,
    coalesceFails: raw.coalesceFails,
    peerFallbacks: raw.peerFallbacks,
  };
}

/** A service whose connections streamed recently (an entry of mc_bulk). */
export interface BulkService {
  /** Network namespace cookie (`bpf_get_netns_cookie`): the same service IP in two pods is two entries. */
  readonly netnsCookie: number;
  /** Plain IPv4 for IPv4 and IPv4-mapped addresses, else IPv6. */
  readonly ip: string;
  readonly port: number;
  /** Seconds since the last bulk stream was detected. */
  readonly ageSeconds: number;
  /** True while younger than the TTL: new connections to it skip the sockhash. */
  readonly active: boolean;
  /** Bulk streams detected for it. */
  readonly streams: number;
  /** Sockets of later connections kept out of the sockhash because of it. */
  readonly skippedSockets: number;
}

function bytesOf(hex: readonly string[]): Buffer {
  return Buffer.from(hex.map((b) => Number.parseInt(b, 16)));
}

function formatIp(ip: Buffer): string {
  const mapped = ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
  if (mapped) return [...ip.subarray(12, 16)].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(ip.readUInt16BE(i).toString(16));
  // Shorten the longest run of zero groups (RFC 5952).
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(":");
  return `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.len).join(":")}`;
}

/**
 * Decodes bpftool's raw dump of mc_bulk (`struct mc_endpoint` -> `struct mc_bulk_entry`, little
 * endian) into services, newest first. `nowNs` is CLOCK_MONOTONIC, the clock of `bpf_ktime_get_ns`.
 *
 * @example
 * decodeBulkServices([], process.hrtime.bigint(), 600); // []
 */
export function decodeBulkServices(
  dump: ReadonlyArray<{ key: readonly string[]; value: readonly string[] }>,
  nowNs: bigint,
  ttlSeconds: number,
): BulkService[] {
  const services = dump.flatMap((entry) => {
    const key = bytesOf(entry.key);
    const value = bytesOf(entry.value);
    if (key.length < 32 || value.length < 16) return [];
    const learned = value.readBigUInt64LE(0);
    const ageNs = nowNs > learned ? nowNs - learned : 0n;
    const ageSeconds = Number(ageNs / 1_000_000n) / 1000;
    return [
      {
        netnsCookie: Number(key.readBigUInt64LE(16)),
        ip: formatIp(key.subarray(0, 16)),
        port: key.readUInt16LE(24),
        ageSeconds,
        active: ttlSeconds > 0 && ageNs < BigInt(ttlSeconds) * 1_000_000_000n,
        streams: value.readUInt32LE(8),
        skippedSockets: value.readUInt32LE(12),
      },
    ];
  });
  return services.sort((a, b) => a.ageSeconds - b.ageSeconds);
}
