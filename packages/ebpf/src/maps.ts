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
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export const MAX_PORTS = 16;
const CONFIG_SIZE = 16 + 2 * MAX_PORTS + 4 + 2 * MAX_PORTS;

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
}

/**
 * Encodes `struct mc_config` as the byte list `bpftool map update ... value` takes (little endian).
 *
 * @example
 * encodeConfig({ enabled: true, maxMessageBytes: 0, maxStreamBytes: 0, ports: [15001], excludePorts: [] }).slice(0, 4); // ["1","0","0","0"]
 */
export function encodeConfig(config: AccelerationConfig): string[] {
  const buf = Buffer.alloc(CONFIG_SIZE);
  buf.writeUInt32LE(config.enabled ? 1 : 0, 0);
  buf.writeUInt32LE(config.maxMessageBytes, 4);
  buf.writeUInt32LE(config.maxStreamBytes, 8);
  buf.writeUInt32LE(config.ports.length, 12);
  for (const [i, port] of config.ports.entries()) buf.writeUInt16LE(port, 16 + 2 * i);
  const excludeAt = 16 + 2 * MAX_PORTS;
  buf.writeUInt32LE(config.excludePorts.length, excludeAt);
  for (const [i, port] of config.excludePorts.entries()) buf.writeUInt16LE(port, excludeAt + 4 + 2 * i);
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
}): AccelerationConfig {
  const n = formatted.nports ?? 0;
  const excluded = formatted.nexclude ?? 0;
  return {
    enabled: (formatted.enabled ?? 0) !== 0,
    maxMessageBytes: formatted.max_msg_bytes ?? 0,
    maxStreamBytes: formatted.max_stream_bytes ?? 0,
    ports: (formatted.ports ?? []).slice(0, n),
    excludePorts: (formatted.exclude ?? []).slice(0, excluded),
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
  /** Sockets left on TCP because payload had crossed TCP before they were established (TCP Fast Open). */
  readonly socketsSkipped: number;
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
  };
}
