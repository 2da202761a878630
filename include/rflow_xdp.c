// SPDX-License-Identifier: GPL-2.0
/*
 * bpf_xdp_flow_lookup() for rflow: the same kfunc, with the same signature,
 * flags and error values as the C flowtable's (net/netfilter/nf_flow_table_bpf.c),
 * so XDP programs written for it load and run unchanged with rflow in its place.
 *
 * The lookup itself is rflow's (rflow_xdp_flow_lookup(), in Rust). What differs
 * is what the returned pointer points to: the C flowtable returns the
 * flow_offload_tuple_rhash inside the flow, rflow a per-CPU copy of the matched
 * direction's tuple in that layout. Programs that read the tuple (addresses,
 * ports, direction, transmit type, output device and MACs) see the same
 * values; a program that goes from the tuple to the enclosing struct
 * flow_offload with container_of() reads whatever lies before the copy (the
 * verifier makes such reads safe, not meaningful).
 *
 * Copies go to a ring of RFLOW_XDP_HITS slots per CPU, so the results of a
 * program's last RFLOW_XDP_HITS lookups stay distinct (both directions of a
 * flow, say). Every XDP entry point of 6.12 runs the program with bottom halves
 * disabled, so no other program takes a slot on this CPU before it returns.
 */
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/filter.h>
#include <linux/percpu.h>
#include <net/xdp.h>
#include <net/netfilter/nf_flow_table.h>

#include "rflow_xdp.h"

#ifdef CONFIG_DEBUG_INFO_BTF

/* The options argument, as nf_flow_table_bpf.c declares it (BTF matches by name). */
struct bpf_flowtable_opts {
	s32 error;
};

enum {
	RFLOW_BPF_FLOWTABLE_OPTS_SZ = 4,
};

enum {
	RFLOW_XDP_HITS = 4,
};

struct rflow_xdp_hits {
	struct flow_offload_tuple_rhash slot[RFLOW_XDP_HITS];
	unsigned int next;
};

static DEFINE_PER_CPU(struct rflow_xdp_hits, rflow_xdp_hits);

static void rflow_xdp_fill(struct flow_offload_tuple *t, const struct rflow_xdp_tuple *r)
{
	memset(t, 0, sizeof(*t));
	memcpy(&t->src_v6, r->src, sizeof(t->src_v6));
	memcpy(&t->dst_v6, r->dst, sizeof(t->dst_v6));
	t->src_port = r->src_port;
	t->dst_port = r->dst_port;
	t->iifidx = r->iifidx;
	t->l3proto = r->l3proto;
	t->l4proto = r->l4proto;
	t->encap[0].id = r->encap_id[0];
	t->encap[0].proto = r->encap_proto[0];
	t->encap[1].id = r->encap_id[1];
	t->encap[1].proto = r->encap_proto[1];
	t->dir = r->dir;
	t->xmit_type = r->xmit_type;
	t->encap_num = r->encap_num;
	t->in_vlan_ingress = r->in_vlan_ingress;
	t->mtu = r->mtu;
	if (r->xmit_type == FLOW_OFFLOAD_XMIT_DIRECT) {
		t->out.ifidx = r->out_ifidx;
		t->out.hw_ifidx = r->out_hw_ifidx;
		memcpy(t->out.h_source, r->h_source, ETH_ALEN);
		memcpy(t->out.h_dest, r->h_dest, ETH_ALEN);
	} else {
		t->dst_cache = r->dst_cache;
		t->dst_cookie = r->dst_cookie;
	}
}

__bpf_kfunc_start_defs();

__bpf_kfunc struct flow_offload_tuple_rhash *
bpf_xdp_flow_lookup(struct xdp_md *ctx, struct bpf_fib_lookup *fib_tuple,
		    struct bpf_flowtable_opts *opts, u32 opts_len)
{
	struct xdp_buff *xdp = (struct xdp_buff *)ctx;
	struct flow_offload_tuple_rhash *hit;
	struct rflow_xdp_hits *hits;
	struct rflow_xdp_tuple found;
	struct rflow_xdp_key key = {
		.iifidx = fib_tuple->ifindex,
		.l3proto = fib_tuple->family,
		.l4proto = fib_tuple->l4_protocol,
		.src_port = fib_tuple->sport,
		.dst_port = fib_tuple->dport,
	};
	int err;

	if (opts_len != RFLOW_BPF_FLOWTABLE_OPTS_SZ) {
		opts->error = -EINVAL;
		return NULL;
	}

	switch (fib_tuple->family) {
	case AF_INET:
		memcpy(key.src, &fib_tuple->ipv4_src, sizeof(fib_tuple->ipv4_src));
		memcpy(key.dst, &fib_tuple->ipv4_dst, sizeof(fib_tuple->ipv4_dst));
		break;
	case AF_INET6:
		memcpy(key.src, fib_tuple->ipv6_src, sizeof(key.src));
		memcpy(key.dst, fib_tuple->ipv6_dst, sizeof(key.dst));
		break;
	default:
		opts->error = -EAFNOSUPPORT;
		return NULL;
	}

	err = rflow_xdp_flow_lookup(xdp->rxq->dev, &key, &found);
	if (err) {
		opts->error = err;
		return NULL;
	}
	hits = this_cpu_ptr(&rflow_xdp_hits);
	hit = &hits->slot[hits->next++ % RFLOW_XDP_HITS];
	rflow_xdp_fill(&hit->tuple, &found);
	return hit;
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(rflow_xdp_kfunc_ids)
BTF_ID_FLAGS(func, bpf_xdp_flow_lookup, KF_TRUSTED_ARGS | KF_RET_NULL)
BTF_KFUNCS_END(rflow_xdp_kfunc_ids)

static const struct btf_kfunc_id_set rflow_xdp_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &rflow_xdp_kfunc_ids,
};

/*
 * Programs written for the C flowtable (the kernel's xdp_flowtable.c) read ports
 * through a CO-RE relocation against struct flow_ports of nf_flow_table.h, so
 * rflow's BTF must have it too; nothing else here uses it.
 */
int rflow_xdp_register(void)
{
	BTF_TYPE_EMIT(struct flow_ports);
	/* Like the C flowtable's set, it stays registered until the module's BTF goes. */
	return register_btf_kfunc_id_set(BPF_PROG_TYPE_XDP, &rflow_xdp_kfunc_set);
}

#else /* !CONFIG_DEBUG_INFO_BTF */

int rflow_xdp_register(void)
{
	return 0;
}

#endif /* CONFIG_DEBUG_INFO_BTF */
