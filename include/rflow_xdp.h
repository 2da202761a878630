/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpf_xdp_flow_lookup(), the kfunc XDP programs call to find a packet's flow
 * (nf_flow_table_bpf.c in the C flowtable): the C side (BTF and the kfunc set,
 * include/rflow_xdp.c) and the lookup it asks of rflow's Rust code.
 */
#ifndef RFLOW_XDP_H
#define RFLOW_XDP_H

#include <linux/types.h>

struct net_device;

/* The tuple an XDP program asks for, from its struct bpf_fib_lookup. */
struct rflow_xdp_key {
	u32 iifidx;
	u8 l3proto;
	u8 l4proto;
	__be16 src_port;
	__be16 dst_port;
	/* Network order; IPv4 in the first 4 bytes, the rest zero. */
	u8 src[16];
	u8 dst[16];
};

/*
 * The direction of the flow that matched, as the C flowtable's
 * struct flow_offload_tuple has it (xmit_type is enum flow_offload_xmit_type).
 */
struct rflow_xdp_tuple {
	u8 src[16];
	u8 dst[16];
	__be16 src_port;
	__be16 dst_port;
	u32 iifidx;
	u8 l3proto;
	u8 l4proto;
	u8 dir;
	u8 xmit_type;
	u8 encap_num;
	u8 in_vlan_ingress;
	u16 encap_id[2];
	__be16 encap_proto[2];
	u16 mtu;
	/* FLOW_OFFLOAD_XMIT_NEIGH and _XFRM: the route (valid under RCU). */
	struct dst_entry *dst_cache;
	u32 dst_cookie;
	/* FLOW_OFFLOAD_XMIT_DIRECT: the output device and the MACs. */
	u32 out_ifidx;
	u32 out_hw_ifidx;
	u8 h_source[6];
	u8 h_dest[6];
};

/*
 * Implemented in Rust (rust/sys/xdp.rs): looks up the flow of @key in the
 * flowtable @dev belongs to and refreshes it, as bpf_xdp_flow_tuple_lookup()
 * does. Returns 0 and fills @out, or -ENOENT. Called under RCU, in softirq.
 */
int rflow_xdp_flow_lookup(const struct net_device *dev, const struct rflow_xdp_key *key,
			  struct rflow_xdp_tuple *out);

/* Makes the kfunc callable from XDP programs; 0 on kernels without BTF. */
int rflow_xdp_register(void);

#endif /* RFLOW_XDP_H */
