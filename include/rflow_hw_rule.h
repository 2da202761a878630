/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A hardware flow rule as plain values: what rflow's rule builder (Rust, rust/pure's
 * offload_rule) decides, and what rflow_sim's engine (Rust, rust/pure's sim_engine) reads back.
 * The C code on either side only converts it to and from the kernel's struct flow_rule, so
 * every decision stays in the host-tested Rust code and the kernel structures are written and
 * read with the kernel's own helpers.
 */
#ifndef RFLOW_HW_RULE_H
#define RFLOW_HW_RULE_H

#include <linux/types.h>

/* NF_FLOW_RULE_ACTION_MAX of 6.12. */
#define RFLOW_HW_ACTIONS_MAX 24
/* TC_COOKIE_MAX_SIZE: the user cookie of every action (the flow's UFID). */
#define RFLOW_HW_COOKIE_LEN 16

struct rflow_hw_match {
	u32 ingress_ifindex;
	u16 n_proto;		/* ETH_P_IP or ETH_P_IPV6, host order */
	u8 ip_proto;
	u8 has_ports;		/* TCP and UDP */
	u8 src[16];		/* IPv4: the first four bytes */
	u8 dst[16];
	u16 sport;		/* host order */
	u16 dport;
	u8 tcp_flags;		/* FIN and RST must be clear */
	u8 num_vlans;		/* VLAN, then CVLAN */
	u16 vlan_id[2];
	u16 vlan_tpid[2];	/* host order */
};

struct rflow_hw_action {
	u32 id;			/* enum flow_action_id */
	u32 htype;		/* MANGLE: enum flow_action_mangle_base */
	u32 offset;
	u8 mask[4];		/* memory order, as pedit applies them */
	u8 val[4];
	u16 vlan_id;		/* VLAN_PUSH */
	u16 vlan_proto;		/* host order */
	u16 pppoe_sid;		/* PPPOE_PUSH */
	u32 csum_flags;		/* CSUM: TCA_CSUM_UPDATE_FLAG_* */
	u32 ifindex;		/* REDIRECT */
};

struct rflow_hw_rule {
	struct rflow_hw_match match;
	u32 num_actions;
	struct rflow_hw_action actions[RFLOW_HW_ACTIONS_MAX];
	u8 has_cookie;
	u8 cookie[RFLOW_HW_COOKIE_LEN];
};

#endif /* RFLOW_HW_RULE_H */
