/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/*
 * rflow's generic netlink family: the flows of the namespace's flowtables, by
 * unique flow identifier (UFID), and their events. Documented in
 * Documentation/rflow.rst; Documentation/netlink/specs/rflow.yaml describes
 * the same family in the kernel's YAML netlink format.
 *
 * Every command needs CAP_NET_ADMIN in the user namespace that owns the
 * network namespace of the socket, and so does joining the events group: flows
 * show NAT mappings.
 */
#ifndef _UAPI_LINUX_RFLOW_H
#define _UAPI_LINUX_RFLOW_H

#include <linux/types.h>

#define RFLOW_GENL_NAME		"rflow"
#define RFLOW_GENL_VERSION	1
#define RFLOW_MCGRP_EVENTS	"events"

/* A UFID is exactly this long; any other length is rejected. */
#define RFLOW_UFID_LEN		16

enum rflow_cmd {
	RFLOW_CMD_UNSPEC,
	/* do: one flow by RFLOW_A_UFID; dump: all flows, or those of
	 * RFLOW_A_FLOWTABLE. The reply carries the flow. */
	RFLOW_CMD_GET,
	/* do: tear down the flow RFLOW_A_UFID, as if it had expired (conntrack
	 * takes the connection back). Never a flush: without a UFID, EINVAL.
	 * The reply carries the flow as this request tore it down (its counters
	 * then, RFLOW_F_TEARDOWN, reason user). Also the "flow removed" event,
	 * with RFLOW_A_REASON. */
	RFLOW_CMD_DEL,
	/* do: tear down every flow of RFLOW_A_FLOWTABLE, or of the namespace
	 * without it; the reply carries RFLOW_A_COUNT. */
	RFLOW_CMD_FLUSH,
	/* event only: a flow entered a flowtable. */
	RFLOW_CMD_NEW,
	/* event only: a flow's hardware state changed (RFLOW_A_HW_STATE). */
	RFLOW_CMD_HW,
	/* dump: one message per flowtable of the namespace, or of those
	 * RFLOW_A_FLOWTABLE names, empty ones included: RFLOW_A_FLOWTABLE and
	 * RFLOW_A_FT_STATS, counters since the flowtable was created. Its
	 * packets and bytes are read as one snapshot against flow removal, so
	 * that they only grow: no flow is counted twice or missed. */
	RFLOW_CMD_STATS,

	__RFLOW_CMD_MAX,
	RFLOW_CMD_MAX = __RFLOW_CMD_MAX - 1
};

/* RFLOW_A_UFID_FLAGS: OVS's OMIT semantics. */
#define RFLOW_UFID_F_OMIT_KEY		(1U << 0)	/* no flowtable, tuples, flags,
							 * hardware state, expiry, ct
							 * id, zone */
#define RFLOW_UFID_F_OMIT_ACTIONS	(1U << 1)	/* no transmit type, output
							 * device or MTU */
/* A terse reply: the UFID and the statistics (counters, idle time) only. */
#define RFLOW_UFID_F_TERSE	(RFLOW_UFID_F_OMIT_KEY | RFLOW_UFID_F_OMIT_ACTIONS)

enum rflow_attr {
	RFLOW_A_UNSPEC,
	RFLOW_A_PAD,		/* alignment of u64 attributes, none yet */
	RFLOW_A_UFID,		/* binary, exactly RFLOW_UFID_LEN bytes */
	RFLOW_A_UFID_FLAGS,	/* u32, RFLOW_UFID_F_* (requests) */
	RFLOW_A_FLOWTABLE,	/* nest, enum rflow_ft_attr */
	RFLOW_A_ORIG,		/* nest, enum rflow_tuple_attr: original direction */
	RFLOW_A_REPLY,		/* nest, enum rflow_tuple_attr: reply direction */
	RFLOW_A_FLAGS,		/* u32, RFLOW_F_* */
	RFLOW_A_HW_STATE,	/* u8, enum rflow_hw_state */
	RFLOW_A_EXPIRES_MS,	/* u32, ms until the flow expires (0: expired) */
	RFLOW_A_IDLE_MS,	/* u32, ms since a packet last refreshed it */
	RFLOW_A_CT_ID,		/* u32, conntrack's id (conntrack -L -o id) */
	RFLOW_A_ZONE,		/* u16, conntrack zone */
	RFLOW_A_REASON,		/* u8, enum rflow_reason: why a flow was torn
				 * down (DEL events; any flow with
				 * RFLOW_F_TEARDOWN) */
	RFLOW_A_COUNT,		/* u32, flows torn down by a FLUSH */
	RFLOW_A_STATS,		/* struct rflow_stats: forwarded in software */
	RFLOW_A_HW_STATS,	/* struct rflow_stats: forwarded in hardware, as
				 * last read; absent: all 0 */
	RFLOW_A_FT_STATS,	/* nest, enum rflow_ft_stats_attr (RFLOW_CMD_STATS) */

	__RFLOW_A_MAX,
	RFLOW_A_MAX = __RFLOW_A_MAX - 1
};

/*
 * RFLOW_A_STATS and RFLOW_A_HW_STATS: both directions' counters in one
 * attribute, as OVS's OVS_FLOW_ATTR_STATS, because a terse dump of a million
 * flows is mostly counters. Host byte order; the attribute's payload is only
 * 4-byte aligned, so copy it out before reading the fields.
 */
struct rflow_stats {
	__u64 orig_packets;
	__u64 orig_bytes;
	__u64 reply_packets;
	__u64 reply_bytes;
};

/* RFLOW_A_FLAGS */
#define RFLOW_F_SNAT		(1U << 0)
#define RFLOW_F_DNAT		(1U << 1)
#define RFLOW_F_CLOSING		(1U << 2)	/* a FIN or RST went through */
#define RFLOW_F_TEARDOWN	(1U << 3)	/* being torn down */

enum rflow_ft_attr {
	RFLOW_FT_A_UNSPEC,
	RFLOW_FT_A_FAMILY,	/* u8, NFPROTO_{IPV4,IPV6,INET} */
	RFLOW_FT_A_TABLE,	/* string, nft table */
	RFLOW_FT_A_NAME,	/* string, flowtable */

	__RFLOW_FT_A_MAX,
	RFLOW_FT_A_MAX = __RFLOW_FT_A_MAX - 1
};

enum rflow_tuple_attr {
	RFLOW_T_UNSPEC,
	RFLOW_T_L3PROTO,	/* u8, NFPROTO_IPV4 or NFPROTO_IPV6 */
	RFLOW_T_L4PROTO,	/* u8, IPPROTO_* */
	RFLOW_T_SRC,		/* binary, 4 or 16 bytes, as packets carry it */
	RFLOW_T_DST,
	RFLOW_T_SPORT,		/* be16 */
	RFLOW_T_DPORT,		/* be16 */
	RFLOW_T_IIF,		/* u32, ifindex packets arrive on */
	RFLOW_T_ENCAP,		/* nest, enum rflow_encap_attr; one per encapsulation,
				 * outermost first */
	RFLOW_T_XMIT,		/* u8, enum rflow_xmit */
	RFLOW_T_OIF,		/* u32, ifindex packets leave by */
	RFLOW_T_MTU,		/* u32 */

	__RFLOW_T_MAX,
	RFLOW_T_MAX = __RFLOW_T_MAX - 1
};

/* Inside RFLOW_A_FT_STATS: a flowtable's counters since it was created. */
enum rflow_ft_stats_attr {
	RFLOW_FTS_A_UNSPEC,
	RFLOW_FTS_A_PAD,
	RFLOW_FTS_A_FLOWS,	/* u64, flows in the flowtable now */
	RFLOW_FTS_A_CREATED,	/* u64, flows ever added */
	RFLOW_FTS_A_REMOVED,	/* u64, flows removed, whatever the reason */
	RFLOW_FTS_A_EXPIRED,	/* u64, flows removed for each reason of */
	RFLOW_FTS_A_CLOSED,	/* enum rflow_reason */
	RFLOW_FTS_A_ROUTE,
	RFLOW_FTS_A_DEVICE,
	RFLOW_FTS_A_USER,
	RFLOW_FTS_A_FLUSH,
	RFLOW_FTS_A_STATS,	/* struct rflow_stats: forwarded in software
				 * since the flowtable was created, by the
				 * flows removed since and those in it now */
	RFLOW_FTS_A_HW_STATS,	/* struct rflow_stats: the same in hardware */
	RFLOW_FTS_A_HW_FLOWS,	/* u64, flows a driver holds now */
	RFLOW_FTS_A_BUCKETS,	/* u32, size of the flow hash table */
	RFLOW_FTS_A_GROWN,	/* u64, times the hash table grew */
	RFLOW_FTS_A_SHRUNK,	/* u64, times it shrank */
	RFLOW_FTS_A_RESIZE_FAILED,	/* u64, resizes that could not allocate
					 * (the table kept its size) */

	__RFLOW_FTS_A_MAX,
	RFLOW_FTS_A_MAX = __RFLOW_FTS_A_MAX - 1
};

/* Inside each RFLOW_T_ENCAP. */
enum rflow_encap_attr {
	RFLOW_ENCAP_A_UNSPEC,
	RFLOW_ENCAP_A_PROTO,	/* u16, ETH_P_8021Q, ETH_P_8021AD or ETH_P_PPP_SES */
	RFLOW_ENCAP_A_ID,	/* u16, VLAN id or PPPoE session id */

	__RFLOW_ENCAP_A_MAX,
	RFLOW_ENCAP_A_MAX = __RFLOW_ENCAP_A_MAX - 1
};

enum rflow_xmit {
	RFLOW_XMIT_NEIGH,
	RFLOW_XMIT_DIRECT,
	RFLOW_XMIT_XFRM,
};

enum rflow_hw_state {
	RFLOW_HW_NONE,		/* software only */
	RFLOW_HW_PENDING,	/* offered to the drivers */
	RFLOW_HW_OFFLOADED,	/* a driver accepted it */
	RFLOW_HW_DYING,		/* being removed from hardware */
	RFLOW_HW_DEAD,		/* out of hardware, about to be freed */
};

enum rflow_reason {
	RFLOW_REASON_NONE,
	RFLOW_REASON_EXPIRED,	/* idle past its timeout */
	RFLOW_REASON_CLOSED,	/* FIN or RST, or conntrack left the state */
	RFLOW_REASON_ROUTE,	/* its route changed */
	RFLOW_REASON_DEVICE,	/* a device went down or away */
	RFLOW_REASON_USER,	/* RFLOW_CMD_DEL */
	RFLOW_REASON_FLUSH,	/* RFLOW_CMD_FLUSH, or its flowtable went away */

	__RFLOW_REASON_MAX,
};

#endif /* _UAPI_LINUX_RFLOW_H */
