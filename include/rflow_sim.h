/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rflow_sim: a simulated switch ASIC with hardware flow offload (TC_SETUP_FT), for testing
 * rflow's hardware offload end to end. The netdev and flow block glue is C
 * (include/rflow_sim.c); the ASIC's flow table and forwarding engine are Rust
 * (rust/rflow_sim.rs over rust/pure's sim_engine). This header is the interface between them,
 * and the input of the Rust side's bindgen.
 */
#ifndef RFLOW_SIM_H
#define RFLOW_SIM_H

#include <linux/types.h>
#include "rflow_hw_rule.h"

struct seq_file;

/* Longest layer 2 header the engine writes (sim_engine::L2_MAX). */
#define RSIM_L2_MAX (14 + 2 * 8)
/* Ports of the one ASIC. */
#define RSIM_PORTS_MAX 16

/* What the engine decided for a frame it forwards. */
struct rsim_fwd {
	u32 strip;		/* bytes of ingress layer 2 header to remove */
	u32 l2_len;		/* then put l2[0..l2_len] in front */
	u8 l2[RSIM_L2_MAX];
	u32 ip_len;		/* and keep ip_len bytes after it */
	u32 egress_port;	/* the port whose wire end it leaves by */
};

/* Why a frame was not forwarded by the ASIC (miss counters). */
enum rsim_miss {
	/* Returned negated by rsim_rust_forward(), whose 0 is a hit: the first is 1. */
	RSIM_MISS_NO_ENTRIES = 1,	/* the table is empty or the ASIC disabled */
	RSIM_MISS_L2,
	RSIM_MISS_PARSE,
	RSIM_MISS_TCP_FLAGS,
	RSIM_MISS_NO_ENTRY,
	RSIM_MISS_ENCAP,
	RSIM_MISS_MTU,
	RSIM_MISS_EGRESS_DOWN,
	RSIM_MISS_MAX,
};

/* Implemented in Rust. The control calls run in process context under the glue's mutex. */
int rsim_rust_replace(u32 port, unsigned long cookie, const struct rflow_hw_rule *rule,
		      u32 egress_port, u32 max_entries, const char **why);
int rsim_rust_destroy(u32 port, unsigned long cookie);
int rsim_rust_stats(u32 port, unsigned long cookie, u64 *packets, u64 *bytes, u64 *lastused);
/* Removes every entry of a port (nothing bound any more) or, for RSIM_PORTS_MAX, of all. */
u32 rsim_rust_flush(u32 port);
u32 rsim_rust_entries(void);
/* Data path: under RCU with BH off. Returns 0 and fills fwd for a hit, or -(enum rsim_miss). */
int rsim_rust_forward(u32 port, u32 ingress_ifindex, u8 *frame, u32 len, u64 now,
		      struct rsim_fwd *fwd);
/* debugfs "entries": one line per entry, into buf; returns the length written. */
size_t rsim_rust_format_entries(u8 *buf, size_t size, u64 now);

/* Implemented in C, for the Rust side. */
u32 rsim_nports(void);
int rsim_ports_create(u32 nports);
void rsim_ports_destroy(void);
u32 rsim_port_mtu(u32 port);
bool rsim_port_up(u32 port);
void rsim_call_rcu(struct callback_head *head, void (*func)(struct callback_head *head));
void rsim_rcu_barrier(void);

#endif /* RFLOW_SIM_H */
