/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared definitions of meshctl's sidecar acceleration programs.
 * The layouts here are an ABI with the TypeScript loader (src/maps.ts): change both together.
 *
 * The programs read UAPI context fields (struct bpf_sock_ops, struct sk_msg_md) plus one kernel
 * field through CO-RE: the socket owner's uid (struct sock::sk_uid), for the sidecar-uid filter.
 * libbpf relocates it against the running kernel's BTF (/sys/kernel/btf/vmlinux) at load time, so
 * the objects load unchanged on any kernel >= 5.15 built with BTF.
 */
#ifndef MC_COMMON_H
#define MC_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

/* CO-RE view of the one kernel field read: only the member used, relocated by name at load time. */
typedef struct {
	__u32 val;
} mc_kuid_t;
struct sock {
	mc_kuid_t sk_uid;
	void *sk_user_data;
} __attribute__((preserve_access_index));

/* CO-RE view of struct tcp_sock: segments with payload received so far (redirected bytes bypass
 * TCP; unlike bytes_received, a bare FIN does not count). */
struct tcp_sock {
	__u32 data_segs_in;
} __attribute__((preserve_access_index));

/* CO-RE view of the socket's sk_psock (sk_user_data while the socket is in a sockmap): only its
 * queue of messages redirected to this socket and not yet read. Flavoured names (___mc) so that
 * libbpf matches them to the kernel's struct list_head and struct sk_psock. */
struct list_head___mc {
	struct list_head___mc *next;
	struct list_head___mc *prev;
};
struct sk_psock___mc {
	struct list_head___mc ingress_msg;
} __attribute__((preserve_access_index));

/* Flag bits kept in the low bits of sk_user_data (SK_USER_DATA_NOCOPY | _BPF | _PSOCK). */
#define MC_SK_USER_DATA_FLAGS 7UL

/* (uid_t)-1 is never a real owner: the value for "could not read it". */
#define MC_UID_UNKNOWN 0xffffffffu

#define AF_INET 2
#define AF_INET6 10

#define MC_MAX_PORTS 16

/*
 * A socket as seen from itself: local address/port first, then the remote one, plus the network
 * namespace cookie so that 127.0.0.1 tuples of two pods never collide. IPv4 addresses are stored
 * IPv4-mapped (::ffff:a.b.c.d) so that an AF_INET socket and its AF_INET6 dual-stack peer
 * (Node listening on "::") compute the same bytes. Ports are host order.
 */
struct mc_key {
	__u32 sip[4];
	__u32 dip[4];
	__u64 netns;
	__u16 sport;
	__u16 dport;
	__u32 pad;
};

/* One end of a connection inside one namespace: the app's local address as the sidecar sees it
 * (mc_orig), or a service endpoint (mc_bulk). */
struct mc_endpoint {
	__u32 ip[4];
	__u64 netns;
	__u16 port;
	__u16 pad1;
	__u32 pad2;
};

struct mc_config {
	__u32 enabled;
	/* Messages larger than this switch their direction of the connection to plain TCP for good
	 * (0 = no limit). */
	__u32 max_msg_bytes;
	/* A direction that sends more than this many bytes without the other side sending anything
	 * is a bulk stream and goes to plain TCP for good (0 = no limit). */
	__u32 max_stream_bytes;
	__u32 nports;
	__u16 ports[MC_MAX_PORTS];
	/* Sockets with one of these ports on either end (or, for a sidecar's REDIRECTed socket, an
	 * app that dialled one of them) never enter the sockhash: zero sk_msg cost for bulk services. */
	__u32 nexclude;
	__u16 exclude[MC_MAX_PORTS];
	/* Learned bulk services: a connection whose service endpoint streamed (crossed
	 * max_stream_bytes) less than this many seconds ago never enters the sockhash (0 = off). */
	__u32 bulk_ttl_s;
	/* Sidecar-uid filter: when set, a connection qualifies only if one of its two sockets is
	 * owned by sidecar_uid (e.g. Istio's 1337): app <-> sidecar, never app <-> app. */
	__u32 sidecar_uid_set;
	__u32 sidecar_uid;
};

/* Indices into mc_counters; mirrored by COUNTER_NAMES in src/maps.ts. */
enum mc_counter {
	MC_INGRESS_MSGS = 0,
	MC_INGRESS_BYTES,
	MC_INGRESS_MISSES,
	MC_EGRESS_MSGS,
	MC_EGRESS_BYTES,
	MC_EGRESS_MISSES,
	MC_SOCKETS_ADDED,
	MC_SOCKET_ADD_ERRORS,
	MC_PAIRS_CREATED,
	MC_PASSED_MSGS,
	MC_PASSED_BYTES,
	MC_POLICY_SKIPS,
	MC_SOCKETS_SKIPPED,
	MC_BULK_LEARNED,
	MC_BULK_SKIPS,
	MC_OWNER_SKIPS,
	MC_SOCKETS_RELEASED,
	MC_RELEASE_DEFERRED,
	MC_COALESCE_FAILS,
	MC_PEER_FALLBACKS,
	MC_COUNTER_MAX,
};

/* Per-socket redirect state: a direction may go from redirect to TCP, never back (see docs/ebpf.md). */
enum mc_state {
	MC_STATE_NEW = 0,
	MC_STATE_REDIRECTING = 1,
	MC_STATE_PASSING = 2,
};

#define MC_SK_HAS_SERVICE 1

/* sockops callbacks that can release a socket from the sockhash (mc_release). */
#define MC_RELEASE_CB_FLAGS (BPF_SOCK_OPS_RTT_CB_FLAG | BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG)

/*
 * Per socket. `state` belongs to the sk_msg program (this socket's sending direction); `service`
 * is written once by sockops at *_ESTABLISHED: the server side of the connection as the client
 * meant it (netns, IP, port), which the sk_msg program records in mc_bulk when it detects a
 * bulk stream.
 */
struct mc_sk_state {
	__u32 state;
	__u32 flags;
	struct mc_endpoint service;
	/* Filled by sk_msg on the first message that is redirected, so that later messages skip the
	 * key construction and the mc_pairs lookup: the peer's key, the flow's name in mc_flows,
	 * which side of the flow this socket is (1 or 2), and whether the pair is a REDIRECTed one. */
	struct mc_key target;
	struct mc_key flow;
	__u32 side;
	__u32 egress;
};

/* A learned bulk service (value of mc_bulk, keyed by struct mc_endpoint). */
struct mc_bulk_entry {
	/* bpf_ktime_get_ns (CLOCK_MONOTONIC) of the last bulk stream detected. */
	__u64 learned_ns;
	/* Bulk streams detected for this service (directions that crossed max_stream_bytes). */
	__u32 streams;
	/* Sockets of later connections kept out of the sockhash because of this entry. */
	__u32 skipped;
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, struct mc_key);
	/* 8 bytes so that user space can read entries (the kernel returns the socket cookie). */
	__type(value, __u64);
} mc_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mc_key);
	__type(value, struct mc_key);
} mc_pairs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mc_endpoint);
	__type(value, struct mc_key);
} mc_orig SEC(".maps");

/* One entry per accelerated connection (keyed by the smaller of its two socket keys): which side
 * sent last and how many bytes it has sent since the other side last sent. */
struct mc_flow {
	__u64 run_bytes;
	__u32 last_side;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mc_key);
	__type(value, struct mc_flow);
} mc_flows SEC(".maps");

/* Bounded on purpose: an LRU of the services that streamed recently. Losing an entry costs one
 * more connection on the stream-limit path, never correctness. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct mc_endpoint);
	__type(value, struct mc_bulk_entry);
} mc_bulk SEC(".maps");

/* Sidecar-uid filter: the owner uid of an active socket, from its establish callback until its
 * passive peer (established right after it) reads it, or until it closes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mc_key);
	__type(value, __u32);
} mc_owner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MC_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mc_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mc_config);
} mc_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mc_sk_state);
} mc_sk_state SEC(".maps");

static __always_inline void mc_count(__u32 index, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(&mc_counters, &index);
	if (value)
		*value += delta;
}

static __always_inline struct mc_config *mc_get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&mc_config, &zero);
}

static __always_inline void mc_set_v4(__u32 *dst, __u32 ip4)
{
	dst[0] = 0;
	dst[1] = 0;
	dst[2] = bpf_htonl(0x0000ffff);
	dst[3] = ip4;
}

/* remote_port holds the big-endian port in the upper 16 bits on little-endian hosts (uapi). */
static __always_inline __u16 mc_remote_port(__u32 remote_port)
{
	return (__u16)bpf_ntohl(remote_port);
}

static __always_inline void mc_swap(const struct mc_key *in, struct mc_key *out)
{
	out->sip[0] = in->dip[0];
	out->sip[1] = in->dip[1];
	out->sip[2] = in->dip[2];
	out->sip[3] = in->dip[3];
	out->dip[0] = in->sip[0];
	out->dip[1] = in->sip[1];
	out->dip[2] = in->sip[2];
	out->dip[3] = in->sip[3];
	out->netns = in->netns;
	out->sport = in->dport;
	out->dport = in->sport;
	out->pad = 0;
}

/* 1 when a sorts before b: both ends of a connection agree on which key names the flow. */
static __always_inline int mc_key_less(const struct mc_key *a, const struct mc_key *b)
{
	const __u32 *x = (const __u32 *)a;
	const __u32 *y = (const __u32 *)b;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(struct mc_key) / 4); i++) {
		if (x[i] != y[i])
			return x[i] < y[i];
	}
	return 0;
}

static __always_inline int mc_port_in(const __u16 *list, __u32 n, __u16 port)
{
	/* A bounded loop (verifier >= 5.3), not unrolled: the list pointer varies per call site. */
	for (int i = 0; i < MC_MAX_PORTS; i++) {
		if (i >= n)
			break;
		if (list[i] == port)
			return 1;
	}
	return 0;
}

static __always_inline int mc_port_listed(const struct mc_config *cfg, __u16 port)
{
	return mc_port_in(cfg->ports, cfg->nports, port);
}

static __always_inline int mc_port_excluded(const struct mc_config *cfg, __u16 port)
{
	return mc_port_in(cfg->exclude, cfg->nexclude, port);
}

#endif
