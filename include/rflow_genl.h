/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The generic netlink family "rflow" (include/uapi/linux/rflow.h): the family,
 * its policies and the message layout are C (include/rflow_genl.c), written
 * with the kernel's netlink helpers; which flows a request names, what they
 * hold and what happens to them is decided in Rust (rust/netlink.rs), which
 * describes each flow as a struct rflow_nl_flow of plain values.
 */
#ifndef RFLOW_GENL_H
#define RFLOW_GENL_H

#include <linux/types.h>
#include "uapi/linux/rflow.h"

struct net;
struct nf_conn;
struct sk_buff;
struct netlink_callback;

#define RFLOW_NL_ENCAP_MAX 2

struct rflow_nl_dir {
	u8 l3proto;
	u8 l4proto;
	u8 xmit;		/* enum rflow_xmit */
	u8 num_encaps;
	u8 src[16];		/* IPv4: the first four bytes */
	u8 dst[16];
	u16 sport;		/* host order */
	u16 dport;
	u16 encap_proto[RFLOW_NL_ENCAP_MAX];
	u16 encap_id[RFLOW_NL_ENCAP_MAX];
	u32 iif;
	u32 oif;
	u32 mtu;
};

/* All a terse message holds: the UFID and the statistics. */
struct rflow_nl_counters {
	u8 ufid[RFLOW_UFID_LEN];
	struct rflow_stats sw;
	struct rflow_stats hw;
	u32 idle_jiffies;
};

struct rflow_nl_flow {
	struct rflow_nl_counters counters;
	u8 ft_family;
	const char *ft_table;
	const char *ft_name;
	struct rflow_nl_dir dir[2];
	u32 flags;		/* RFLOW_F_* */
	u8 hw_state;		/* enum rflow_hw_state */
	u8 reason;		/* enum rflow_reason, DEL messages */
	s32 expires_jiffies;	/* negative once expired */
	const struct nf_conn *ct;
};

/* A flowtable's counters (RFLOW_CMD_STATS). */
struct rflow_nl_ft_stats {
	u8 family;
	const char *table;
	const char *name;
	u64 flows;
	u64 created;
	u64 removed[__RFLOW_REASON_MAX];	/* by enum rflow_reason */
	struct rflow_stats sw;		/* since it was created */
	struct rflow_stats hw;
	u64 hw_flows;
	u32 buckets;
	u64 grown;
	u64 shrunk;
	u64 resize_failed;
};

/* A flowtable a request names: family 0, or a NULL string, matches any. */
struct rflow_nl_ft_filter {
	u8 family;
	char table[256];
	char name[256];
	bool has_table;
	bool has_name;
};

/* Where the flow messages of one request go. */
struct rflow_nl_reply {
	struct sk_buff *skb;
	struct netlink_callback *cb;	/* dumps only */
	u32 portid;
	u32 seq;
	u32 ufid_flags;
	u16 nlflags;
	u8 cmd;
};

/* What the family asks of rflow; every function runs in process context. */
struct rflow_genl_handlers {
	/* Puts the flow `ufid` into `r`: 0, -ENOENT, or -EMSGSIZE. */
	int (*get)(struct net *net, const u8 *ufid, struct rflow_nl_reply *r);
	/* Puts the flow into `r` and tears it down: 0 or -ENOENT. */
	int (*del)(struct net *net, const u8 *ufid, struct rflow_nl_reply *r);
	/* Tears down the flows of the flowtables `ft` matches; returns how many, or -errno. */
	long (*flush)(struct net *net, const struct rflow_nl_ft_filter *ft);
	/* Returns a new dump cursor, or NULL. */
	void *(*dump_start)(void);
	/* Puts flows from `cursor` on into `r` until it is full, having set the generation
	 * of the namespace's flowtable list first; 0 or -errno. */
	int (*dump)(struct net *net, void *cursor, const struct rflow_nl_ft_filter *ft,
		    struct rflow_nl_reply *r);
	void (*dump_done)(void *cursor);
	/* Puts the counters of the flowtables `ft` matches, older than the one of id `*before`
	 * (0: all), into `r` until it is full, setting `*before` to the last one put;
	 * 0 or -errno (-ENOENT when `ft` names no flowtable). May sleep. */
	int (*stats)(struct net *net, u64 *before, const struct rflow_nl_ft_filter *ft,
		     struct rflow_nl_reply *r);
};

int rflow_genl_register(const struct rflow_genl_handlers *h);
void rflow_genl_unregister(void);

/* Dumps: the generation of what the dump walks, checked by every message put after it. */
void rflow_nl_reply_set_generation(struct rflow_nl_reply *r, u32 generation);

/* Appends one message describing `f` to `r`; on -EMSGSIZE nothing is left of it. */
int rflow_nl_put_flow(struct rflow_nl_reply *r, const struct rflow_nl_flow *f);
/* The same for a terse request: only the UFID and the statistics. */
int rflow_nl_put_terse(struct rflow_nl_reply *r, const struct rflow_nl_counters *c);

/* Appends one RFLOW_CMD_STATS message about a flowtable; -EMSGSIZE as above. */
int rflow_nl_put_ft_stats(struct rflow_nl_reply *r, const struct rflow_nl_ft_stats *s);

/* Events: whether anyone in `net` listens, and one event (process or softirq context). */
bool rflow_nl_listening(struct net *net);
void rflow_nl_event(struct net *net, u8 cmd, const struct rflow_nl_flow *f);

#endif /* RFLOW_GENL_H */
