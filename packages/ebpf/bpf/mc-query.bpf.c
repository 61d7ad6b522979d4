// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel's own view of sk_msg attachments, which bpftool cannot list (`bpftool cgroup` shows
 * sock_ops attachments; nothing shows the verdict program of a sockhash). A bpf_map iterator:
 * `bpftool iter pin obj/mc-query.bpf.o PATH`, then reading PATH prints one line per sockmap or
 * sockhash in the kernel, "<map id> <msg verdict program id>" (0 = none attached). Read through
 * CO-RE, so the object works on any kernel >= 5.15 with BTF.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct seq_file;

struct bpf_iter_meta___mc {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_prog_aux___mc {
	__u32 id;
} __attribute__((preserve_access_index));

struct bpf_prog___mc {
	struct bpf_prog_aux___mc *aux;
} __attribute__((preserve_access_index));

struct bpf_map___mc {
	enum bpf_map_type map_type;
	__u32 id;
} __attribute__((preserve_access_index));

struct sk_psock_progs___mc {
	struct bpf_prog___mc *msg_parser;
} __attribute__((preserve_access_index));

/* Both map types start with struct bpf_map and carry their programs in `progs`. */
struct bpf_shtab___mc {
	struct sk_psock_progs___mc progs;
} __attribute__((preserve_access_index));

struct bpf_stab___mc {
	struct sk_psock_progs___mc progs;
} __attribute__((preserve_access_index));

struct bpf_iter__bpf_map___mc {
	struct bpf_iter_meta___mc *meta;
	struct bpf_map___mc *map;
};

SEC("iter/bpf_map")
int mc_query(struct bpf_iter__bpf_map___mc *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct bpf_map___mc *map = ctx->map;
	struct bpf_prog___mc *prog = 0;
	__u32 type, id, prog_id = 0;

	if (!map)
		return 0;
	type = BPF_CORE_READ(map, map_type);
	id = BPF_CORE_READ(map, id);
	if (type == BPF_MAP_TYPE_SOCKHASH)
		prog = BPF_CORE_READ((struct bpf_shtab___mc *)map, progs.msg_parser);
	else if (type == BPF_MAP_TYPE_SOCKMAP)
		prog = BPF_CORE_READ((struct bpf_stab___mc *)map, progs.msg_parser);
	else
		return 0;
	if (prog)
		prog_id = BPF_CORE_READ(prog, aux, id);
	BPF_SEQ_PRINTF(seq, "%u %u\n", id, prog_id);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
