// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops: puts every established TCP socket of the attached cgroup into mc_socks, keyed by its own
 * view plus the netns cookie, and pairs the app's socket with the sidecar's accepted socket after an
 * iptables REDIRECT (the two tuples are not mirror images there, see docs/ebpf.md "Key pairing").
 */
#include "mc-common.h"

static __always_inline int mc_sockops_key(struct bpf_sock_ops *skops, struct mc_key *key)
{
	if (skops->family == AF_INET) {
		mc_set_v4(key->sip, skops->local_ip4);
		mc_set_v4(key->dip, skops->remote_ip4);
	} else if (skops->family == AF_INET6) {
		key->sip[0] = skops->local_ip6[0];
		key->sip[1] = skops->local_ip6[1];
		key->sip[2] = skops->local_ip6[2];
		key->sip[3] = skops->local_ip6[3];
		key->dip[0] = skops->remote_ip6[0];
		key->dip[1] = skops->remote_ip6[1];
		key->dip[2] = skops->remote_ip6[2];
		key->dip[3] = skops->remote_ip6[3];
	} else {
		return -1;
	}
	key->netns = bpf_get_netns_cookie(skops);
	key->sport = (__u16)skops->local_port;
	key->dport = mc_remote_port(skops->remote_port);
	key->pad = 0;
	return 0;
}

static __always_inline void mc_endpoint_of(const __u32 *ip, __u16 port, __u64 netns, struct mc_endpoint *ep)
{
	ep->ip[0] = ip[0];
	ep->ip[1] = ip[1];
	ep->ip[2] = ip[2];
	ep->ip[3] = ip[3];
	ep->netns = netns;
	ep->port = port;
	ep->pad1 = 0;
	ep->pad2 = 0;
}

static __always_inline int mc_same_endpoint(const __u32 *ip, __u16 port, const __u32 *ip2, __u16 port2)
{
	return ip[0] == ip2[0] && ip[1] == ip2[1] && ip[2] == ip2[2] && ip[3] == ip2[3] && port == port2;
}

/* 1 when the service streamed less than bulk_ttl_s ago (and counts the skip on its entry). */
static __always_inline int mc_bulk_learned(const struct mc_config *cfg, const struct mc_endpoint *service)
{
	struct mc_bulk_entry *entry = bpf_map_lookup_elem(&mc_bulk, service);
	if (!entry)
		return 0;
	__u64 age = bpf_ktime_get_ns() - entry->learned_ns;
	if (age >= (__u64)cfg->bulk_ttl_s * 1000000000ULL)
		return 0;
	__sync_fetch_and_add(&entry->skipped, 1);
	return 1;
}

/* The uid owning this socket (an accepted socket inherits its listener's), through CO-RE. */
static __always_inline __u32 mc_socket_uid(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	if (!sk)
		return MC_UID_UNKNOWN;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return MC_UID_UNKNOWN;
	return ((struct sock *)tp)->sk_uid.val;
}

/*
 * Sidecar-uid filter: 1 when the connection may be accelerated. The active end is established
 * first (it sees the SYN-ACK before its peer sees the final ACK), so it only records its owner and
 * enters the sockhash provisionally; the passive end, which knows both owners, decides for both.
 * When the connection does not qualify, the passive end stays out and takes the active end back
 * out of the sockhash. That removal is safe, unlike removing a socket mid-stream: nothing can have
 * been redirected into the active socket's queue, because its only sender is this passive socket,
 * which never entered the sockhash.
 */
static __always_inline int mc_owner_allows(struct bpf_sock_ops *skops, const struct mc_config *cfg,
					   const struct mc_key *key, const struct mc_key *peer, int active)
{
	__u32 uid = mc_socket_uid(skops);

	if (active) {
		bpf_map_update_elem(&mc_owner, key, &uid, BPF_ANY);
		return 1;
	}
	__u32 *peer_uid = bpf_map_lookup_elem(&mc_owner, peer);
	int allowed = uid == cfg->sidecar_uid || (peer_uid && *peer_uid == cfg->sidecar_uid);
	if (peer_uid)
		bpf_map_delete_elem(&mc_owner, peer);
	if (allowed)
		return 1;
	mc_count(MC_OWNER_SKIPS, 1);
	if (bpf_map_delete_elem(&mc_socks, peer) == 0)
		mc_count(MC_OWNER_SKIPS, 1);
	return 0;
}

/* Remembers where an active socket meant to go, keyed by its own address, which an outbound
 * REDIRECT leaves unchanged, so the sidecar's accepted socket can find it. Removed on close. */
static __always_inline void mc_record_orig(struct bpf_sock_ops *skops, const struct mc_key *key)
{
	struct mc_endpoint ep = {};

	mc_endpoint_of(key->sip, key->sport, key->netns, &ep);
	bpf_map_update_elem(&mc_orig, &ep, key, BPF_ANY);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void mc_established(struct bpf_sock_ops *skops, int active)
{
	struct mc_config *cfg = mc_get_config();
	struct mc_key key = {};
	struct mc_endpoint ep = {};
	struct mc_endpoint service = {};

	if (!cfg || !cfg->enabled)
		return;
	if (mc_sockops_key(skops, &key))
		return;
	/* Payload already went through TCP (TCP Fast Open data in the SYN): redirecting later bytes
	 * could overtake it in the receiver, so this connection stays on TCP. */
	if (skops->data_segs_in > 0 || skops->data_segs_out > 0) {
		mc_count(MC_SOCKETS_SKIPPED, 1);
		return;
	}

	if (mc_port_excluded(cfg, key.sport) || mc_port_excluded(cfg, key.dport)) {
		mc_count(MC_SOCKETS_SKIPPED, 1);
		/* Still record where the app meant to go: the sidecar's REDIRECTed socket must see that
		 * the original destination is excluded, too. */
		if (active)
			mc_record_orig(skops, &key);
		return;
	}
	struct mc_key app_key = {};
	int redirected = 0;
	if (!active) {
		/* The sidecar's side of a REDIRECT: the app's original destination decides too. */
		mc_endpoint_of(key.dip, key.dport, key.netns, &ep);
		struct mc_key *app = bpf_map_lookup_elem(&mc_orig, &ep);
		if (app) {
			app_key = *app;
			bpf_map_delete_elem(&mc_orig, &ep);
			redirected = !mc_same_endpoint(app_key.dip, app_key.dport, key.sip, key.sport);
			if (redirected && mc_port_excluded(cfg, app_key.dport)) {
				mc_count(MC_SOCKETS_SKIPPED, 1);
				return;
			}
		}
	}

	if (cfg->sidecar_uid_set) {
		struct mc_key peer = {};
		if (redirected)
			peer = app_key;
		else
			mc_swap(&key, &peer);
		if (!mc_owner_allows(skops, cfg, &key, &peer, active))
			return;
	}

	/*
	 * The service this connection talks to, as the client meant it, computed the same way on
	 * both ends: the active side's remote address (for the app under an outbound REDIRECT that
	 * is still the original destination: NAT does not rewrite the socket), the passive side's
	 * local address, or, for the sidecar's REDIRECTed socket, the app's original destination.
	 */
	if (active)
		mc_endpoint_of(key.dip, key.dport, key.netns, &service);
	else if (redirected)
		mc_endpoint_of(app_key.dip, app_key.dport, key.netns, &service);
	else
		mc_endpoint_of(key.sip, key.sport, key.netns, &service);

	if (cfg->bulk_ttl_s) {
		/*
		 * A service that streamed recently keeps its new connections off the sockhash: no
		 * tcp_bpf send path at all, the same treatment as an excluded port. The decision is made
		 * here, at establish time, never mid-stream, so no socket ever leaves the sockhash with
		 * redirected bytes unread. Each end decides on its own, and the entry may appear or
		 * expire between the two callbacks; a connection with only one end in the sockhash is
		 * safe: a sender in the map whose receiver is not finds no peer on its first message and
		 * passes to TCP for good before any byte was redirected; a receiver in the map whose
		 * sender is not reads the TCP queue (tcp_bpf_recvmsg falls back to it when its sk_msg
		 * queue is empty, and nothing can ever be redirected to it by a socket outside the map).
		 */
		if (mc_bulk_learned(cfg, &service)) {
			mc_count(MC_BULK_SKIPS, 1);
			if (active)
				mc_record_orig(skops, &key);
			return;
		}
		/* Written before the insert: sk_msg may run as soon as the socket is in the map. */
		struct bpf_sock *sk = skops->sk;
		struct mc_sk_state *st =
			sk ? bpf_sk_storage_get(&mc_sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE) : 0;
		if (st) {
			st->service = service;
			st->flags |= MC_SK_HAS_SERVICE;
		}
	}

	if (bpf_sock_hash_update(skops, &mc_socks, &key, BPF_ANY) != 0) {
		/* EBUSY: another sk_msg program already owns this socket; leave it to TCP. */
		mc_count(MC_SOCKET_ADD_ERRORS, 1);
		return;
	}
	mc_count(MC_SOCKETS_ADDED, 1);
	/* STATE: clean up on close. RTT and PARSE_ALL_HDR_OPT: the callbacks through which the socket
	 * leaves the sockhash once its peer fell back to TCP (mc_release). A redirected connection
	 * sends no TCP payload and receives none, so neither runs until then. */
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG |
						 MC_RELEASE_CB_FLAGS);

	if (active) {
		mc_record_orig(skops, &key);
		return;
	}

	if (redirected) {
		/* The client dialled somewhere else and landed here: a REDIRECT. Pair both ways. */
		bpf_map_update_elem(&mc_pairs, &key, &app_key, BPF_ANY);
		bpf_map_update_elem(&mc_pairs, &app_key, &key, BPF_ANY);
		mc_count(MC_PAIRS_CREATED, 1);
	}
}

static __always_inline void mc_closed(struct bpf_sock_ops *skops)
{
	struct mc_key key = {};
	struct mc_endpoint ep = {};

	if (mc_sockops_key(skops, &key))
		return;
	struct mc_key peer_key = {};
	struct mc_key *peer = bpf_map_lookup_elem(&mc_pairs, &key);
	if (peer) {
		peer_key = *peer;
		bpf_map_delete_elem(&mc_pairs, &peer_key);
		bpf_map_delete_elem(&mc_pairs, &key);
	} else {
		mc_swap(&key, &peer_key);
	}
	bpf_map_delete_elem(&mc_flows, mc_key_less(&key, &peer_key) ? &key : &peer_key);
	mc_endpoint_of(key.sip, key.sport, key.netns, &ep);
	struct mc_key *orig = bpf_map_lookup_elem(&mc_orig, &ep);
	if (orig && mc_same_endpoint(orig->dip, orig->dport, key.dip, key.dport))
		bpf_map_delete_elem(&mc_orig, &ep);
	bpf_map_delete_elem(&mc_owner, &key);
}

/* 1 when no message redirected to this socket waits unread (sk_psock's ingress_msg is empty). */
static __always_inline int mc_redirect_queue_empty(struct bpf_sock_ops *skops)
{
	struct bpf_sock *bsk = skops->sk;
	if (!bsk)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(bsk);
	if (!tp)
		return 0;
	unsigned long data = (unsigned long)((struct sock *)tp)->sk_user_data;
	struct sk_psock___mc *psock = (struct sk_psock___mc *)(data & ~MC_SK_USER_DATA_FLAGS);
	if (!psock)
		return 1;
	struct list_head___mc *next = 0;
	if (bpf_core_read(&next, sizeof(next), &psock->ingress_msg.next))
		return 0;
	return next == &psock->ingress_msg;
}

/*
 * Release: a socket whose peer sends through TCP leaves the sockhash and is a plain TCP socket again
 * (tcp_bpf's send path, with its per-message cost, is gone). TCP payload from the peer means the peer
 * switched to TCP for good or left the sockhash itself: nothing can be redirected to this socket any
 * more, and its redirect queue only drains. Deleting a socket whose queue still holds bytes would
 * lose them (ADR 0022), so until the application has read them the check repeats on the next event.
 * The events: a segment with payload arrives (PARSE_HDR_OPT; the kernel calls it outside TCP's
 * header-prediction fast path only), or data this socket sent is acknowledged (RTT, every ACK) and
 * the socket has received TCP payload before (data_segs_in).
 */
static __always_inline void mc_release(struct bpf_sock_ops *skops)
{
	if (!mc_redirect_queue_empty(skops)) {
		mc_count(MC_RELEASE_DEFERRED, 1);
		return;
	}
	struct mc_key key = {};
	if (mc_sockops_key(skops, &key))
		return;
	if (bpf_map_delete_elem(&mc_socks, &key) == 0)
		mc_count(MC_SOCKETS_RELEASED, 1);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags & ~MC_RELEASE_CB_FLAGS);
}

/* 1 when the segment in a PARSE_HDR_OPT callback carries payload (not a bare ACK or FIN). */
static __always_inline int mc_segment_has_payload(struct bpf_sock_ops *skops)
{
	void *data = (void *)(long)skops->skb_data;
	void *end = (void *)(long)skops->skb_data_end;
	__u8 *doff = data + 12;

	if ((void *)(doff + 1) > end)
		return 0;
	return skops->skb_len > (__u32)((*doff >> 4) * 4);
}

SEC("sockops")
int mc_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		mc_established(skops, 1);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		mc_established(skops, 0);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			mc_closed(skops);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		if (mc_segment_has_payload(skops))
			mc_release(skops);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		if (skops->data_segs_in > 0)
			mc_release(skops);
		break;
	default:
		break;
	}
	return 1;
}

/*
 * sk_msg: runs on every sendmsg of a socket in mc_socks. Finds the peer (the pair recorded for a
 * REDIRECTed connection, else the mirror tuple) and queues the data straight on the peer's receive
 * side. Anything it cannot redirect goes through TCP unchanged.
 */
static __always_inline int mc_msg_key(struct sk_msg_md *msg, struct mc_key *key)
{
	if (msg->family == AF_INET) {
		mc_set_v4(key->sip, msg->local_ip4);
		mc_set_v4(key->dip, msg->remote_ip4);
	} else if (msg->family == AF_INET6) {
		key->sip[0] = msg->local_ip6[0];
		key->sip[1] = msg->local_ip6[1];
		key->sip[2] = msg->local_ip6[2];
		key->sip[3] = msg->local_ip6[3];
		key->dip[0] = msg->remote_ip6[0];
		key->dip[1] = msg->remote_ip6[1];
		key->dip[2] = msg->remote_ip6[2];
		key->dip[3] = msg->remote_ip6[3];
	} else {
		return -1;
	}
	key->netns = bpf_get_netns_cookie(msg);
	key->sport = (__u16)msg->local_port;
	key->dport = mc_remote_port(msg->remote_port);
	key->pad = 0;
	return 0;
}

static __always_inline void mc_coalesce(struct sk_msg_md *msg, __u32 size)
{
	if (size > 1 && size <= (1u << 20) && bpf_msg_pull_data(msg, 0, size, 0))
		mc_count(MC_COALESCE_FAILS, 1);
}

static __always_inline int mc_pass_for_good(struct sk_msg_md *msg, struct mc_sk_state *st, __u32 size)
{
	mc_coalesce(msg, size);
	/* Once a direction has sent bytes through TCP it must never redirect again: the receiver
	 * reads its sk_msg queue before its TCP queue, so going back would reorder the stream. */
	st->state = MC_STATE_PASSING;
	mc_count(MC_PASSED_MSGS, 1);
	mc_count(MC_PASSED_BYTES, size);
	return SK_PASS;
}

/* This socket keeps the sk_msg send path until it closes; later connections to the same service
 * skip the sockhash (sockops reads mc_bulk at establish time). */
static __always_inline void mc_learn_bulk(const struct mc_endpoint *service)
{
	struct mc_bulk_entry *entry = bpf_map_lookup_elem(&mc_bulk, service);
	__u64 now = bpf_ktime_get_ns();

	if (entry) {
		entry->learned_ns = now;
		__sync_fetch_and_add(&entry->streams, 1);
	} else {
		struct mc_bulk_entry fresh = { .learned_ns = now, .streams = 1, .skipped = 0 };
		bpf_map_update_elem(&mc_bulk, service, &fresh, BPF_ANY);
	}
	mc_count(MC_BULK_LEARNED, 1);
}

/* 1 when this message makes the direction a bulk stream: more than max_stream_bytes sent since
 * the other side last sent anything (the run is shared by both sockets through mc_flows). */
static __always_inline int mc_stream_crossed(const struct mc_config *cfg, const struct mc_sk_state *st,
					     __u32 size)
{
	struct mc_flow *flow = bpf_map_lookup_elem(&mc_flows, &st->flow);
	if (!flow) {
		struct mc_flow fresh = { .run_bytes = 0, .last_side = st->side };
		bpf_map_update_elem(&mc_flows, &st->flow, &fresh, BPF_NOEXIST);
		flow = bpf_map_lookup_elem(&mc_flows, &st->flow);
		if (!flow)
			return 0;
	}
	if (flow->last_side != st->side) {
		flow->last_side = st->side;
		flow->run_bytes = 0;
	}
	flow->run_bytes += size;
	return flow->run_bytes > cfg->max_stream_bytes;
}

/* First message of this socket: finds its peer and names its flow; 0 when it must not redirect. */
static __always_inline int mc_resolve_peer(struct sk_msg_md *msg, const struct mc_config *cfg,
					   struct mc_sk_state *st)
{
	struct mc_key own = {};

	if (mc_msg_key(msg, &own))
		return 0;
	struct mc_key *paired = bpf_map_lookup_elem(&mc_pairs, &own);
	if (paired) {
		st->target = *paired;
		st->egress = 1;
	} else {
		mc_swap(&own, &st->target);
		st->egress = 0;
	}
	if (cfg->nports && !mc_port_listed(cfg, own.sport) && !mc_port_listed(cfg, own.dport) &&
	    !mc_port_listed(cfg, st->target.sport) && !mc_port_listed(cfg, st->target.dport)) {
		mc_count(MC_POLICY_SKIPS, 1);
		return 0;
	}
	/* Both ends agree on which of the two keys names the flow. */
	if (mc_key_less(&own, &st->target)) {
		st->flow = own;
		st->side = 1;
	} else {
		st->flow = st->target;
		st->side = 2;
	}
	return 1;
}

/* 1 when TCP payload reached this socket: its peer sends through TCP (fell back, or never was in
 * the sockhash), so this direction follows it and the whole connection can leave the sockhash. */
static __always_inline int mc_peer_on_tcp(struct sk_msg_md *msg)
{
	struct bpf_sock *sk = msg->sk;
	if (!sk)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	return tp && tp->data_segs_in > 0;
}

SEC("sk_msg")
int mc_redir(struct sk_msg_md *msg)
{
	struct bpf_sock *sk = msg->sk;
	__u32 size = msg->size;

	if (!sk)
		return SK_PASS;
	struct mc_sk_state *st = bpf_sk_storage_get(&mc_sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return SK_PASS;
	if (st->state == MC_STATE_PASSING) {
		mc_coalesce(msg, size);
		mc_count(MC_PASSED_MSGS, 1);
		mc_count(MC_PASSED_BYTES, size);
		return SK_PASS;
	}

	struct mc_config *cfg = mc_get_config();
	if (!cfg || !cfg->enabled)
		return mc_pass_for_good(msg, st, size);
	if (mc_peer_on_tcp(msg)) {
		mc_count(MC_PEER_FALLBACKS, 1);
		return mc_pass_for_good(msg, st, size);
	}
	/* The peer and the port allowlist are decided once, on the first message; a connection
	 * keeps its verdict (re-enabling with other ports applies to new connections). */
	if (st->state == MC_STATE_NEW && !mc_resolve_peer(msg, cfg, st))
		return mc_pass_for_good(msg, st, size);

	if (cfg->max_msg_bytes && size > cfg->max_msg_bytes) {
		mc_count(MC_POLICY_SKIPS, 1);
		return mc_pass_for_good(msg, st, size);
	}
	/* sk_msg ingress redirect loses to TCP on bulk streams; request/response wins. */
	if (cfg->max_stream_bytes && mc_stream_crossed(cfg, st, size)) {
		mc_count(MC_POLICY_SKIPS, 1);
		if (cfg->bulk_ttl_s && (st->flags & MC_SK_HAS_SERVICE))
			mc_learn_bulk(&st->service);
		return mc_pass_for_good(msg, st, size);
	}

	int egress = st->egress;
	if (bpf_msg_redirect_hash(msg, &mc_socks, &st->target, BPF_F_INGRESS) != SK_PASS) {
		mc_count(egress ? MC_EGRESS_MISSES : MC_INGRESS_MISSES, 1);
		return mc_pass_for_good(msg, st, size);
	}
	st->state = MC_STATE_REDIRECTING;
	mc_count(egress ? MC_EGRESS_MSGS : MC_INGRESS_MSGS, 1);
	mc_count(egress ? MC_EGRESS_BYTES : MC_INGRESS_BYTES, size);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
