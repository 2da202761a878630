// SPDX-License-Identifier: GPL-2.0
/*
 * An XDP program that asks the flowtable for each TCP/UDP packet's flow through
 * the kfunc bpf_xdp_flow_lookup() (C: nf_flow_table_bpf.c; rflow:
 * include/rflow_xdp.c), counts hits and misses, keeps what the last hit's
 * tuple said, and in "drop" mode drops the packets it found a flow for, so that
 * only the kfunc's refresh can keep those flows alive; it can also look up the
 * reply direction after a hit, to see both results stay distinct. selftests/rflow_xdp.sh
 * loads it with bpftool, for rflow and for the C flowtable alike.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd

/* The kfunc's types, matched by name (without the ___ suffix) against the BTF of the
 * module that provides it; only the fields read here are declared. */
struct bpf_flowtable_opts___x {
	s32 error;
};

struct flow_offload_tuple___x {
	union {
		struct in_addr src_v4;
		struct in6_addr src_v6;
	};
	union {
		struct in_addr dst_v4;
		struct in6_addr dst_v6;
	};
	struct {
		__be16 src_port;
		__be16 dst_port;
	};
	int iifidx;
	u8 l3proto;
	u8 l4proto;
	u16 mtu;
} __attribute__((preserve_access_index));

struct flow_offload_tuple_rhash___x {
	struct flow_offload_tuple___x tuple;
} __attribute__((preserve_access_index));

extern struct flow_offload_tuple_rhash___x *
bpf_xdp_flow_lookup(struct xdp_md *ctx, struct bpf_fib_lookup *fib_tuple,
		    struct bpf_flowtable_opts___x *opts, u32 opts_len) __ksym;

/* What the test reads back (one entry). */
struct lookups {
	u64 hits;
	u64 misses;
	/* opts.error of the last miss, and of a call with a bad opts_len. */
	s32 miss_error;
	s32 bad_len_error;
	/* After a lookup of the reply direction: its source port, and the first hit's. */
	u16 reply_src_port;
	u16 first_src_port_after;
	/* The last hit's tuple. */
	u32 src_v4;
	u32 dst_v4;
	u32 iifidx;
	u16 src_port;
	u16 dst_port;
	u8 l3proto;
	u8 l4proto;
	u16 mtu;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, u32);
	__type(value, struct lookups);
	__uint(max_entries, 1);
} lookups SEC(".maps");

struct config {
	/* 0: pass every packet on; 1: drop the packets whose flow was found. */
	u32 drop;
	/*
	 * If not 0, after an IPv4 hit, look the reply direction up too, as if it came in on
	 * this device: both results must stay distinct.
	 */
	u32 reply_ifindex;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, u32);
	__type(value, struct config);
	__uint(max_entries, 1);
} config SEC(".maps");

SEC("xdp")
int flow_lookup(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct bpf_fib_lookup fib = { .ifindex = ctx->ingress_ifindex };
	struct bpf_flowtable_opts___x opts = {};
	struct flow_offload_tuple_rhash___x *found;
	struct ethhdr *eth = data;
	struct lookups *l;
	__be16 *ports;
	struct config *cfg;
	u32 zero = 0;
	u8 proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end || iph->ihl != 5)
			return XDP_PASS;
		if (iph->frag_off & bpf_htons(0x3fff))
			return XDP_PASS;
		ports = (void *)(iph + 1);
		proto = iph->protocol;
		fib.family = AF_INET;
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		ports = (void *)(ip6h + 1);
		proto = ip6h->nexthdr;
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, sizeof(fib.ipv6_dst));
	} else {
		return XDP_PASS;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return XDP_PASS;
	if ((void *)(ports + 2) > data_end)
		return XDP_PASS;
	fib.l4_protocol = proto;
	fib.sport = ports[0];
	fib.dport = ports[1];

	l = bpf_map_lookup_elem(&lookups, &zero);
	if (!l)
		return XDP_PASS;
	if (!l->bad_len_error) {
		struct bpf_flowtable_opts___x bad = {};

		/* A wrong size for the options: refused with -EINVAL, in C and in rflow. */
		if (bpf_xdp_flow_lookup(ctx, &fib, &bad, sizeof(bad) + 4))
			l->bad_len_error = 1;
		else
			l->bad_len_error = bad.error;
	}
	found = bpf_xdp_flow_lookup(ctx, &fib, &opts, sizeof(opts));
	if (!found) {
		__sync_fetch_and_add(&l->misses, 1);
		l->miss_error = opts.error;
		return XDP_PASS;
	}
	__sync_fetch_and_add(&l->hits, 1);
	l->src_v4 = found->tuple.src_v4.s_addr;
	l->dst_v4 = found->tuple.dst_v4.s_addr;
	l->iifidx = found->tuple.iifidx;
	l->src_port = bpf_ntohs(found->tuple.src_port);
	l->dst_port = bpf_ntohs(found->tuple.dst_port);
	l->l3proto = found->tuple.l3proto;
	l->l4proto = found->tuple.l4proto;
	l->mtu = found->tuple.mtu;
	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return XDP_PASS;
	if (cfg->reply_ifindex && fib.family == AF_INET) {
		struct bpf_fib_lookup reply = fib;
		struct flow_offload_tuple_rhash___x *back;

		reply.ifindex = cfg->reply_ifindex;
		reply.ipv4_src = fib.ipv4_dst;
		reply.ipv4_dst = fib.ipv4_src;
		reply.sport = fib.dport;
		reply.dport = fib.sport;

		back = bpf_xdp_flow_lookup(ctx, &reply, &opts, sizeof(opts));
		if (back) {
			l->reply_src_port = bpf_ntohs(back->tuple.src_port);
			l->first_src_port_after = bpf_ntohs(found->tuple.src_port);
		}
	}
	return cfg->drop ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
