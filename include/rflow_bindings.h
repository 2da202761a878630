/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of bindgen for rflow's Rust code: the kernel headers rflow uses, and
 * the C helpers of the shim. Kbuild runs bindgen on it with the kernel's own
 * C flags, so the generated layouts are those of the kernel being built.
 */
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/proc_fs.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <linux/tc_act/tc_csum.h>
#include <net/dst.h>
#include <net/flow_offload.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/neighbour.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/route.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_acct.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_l4proto.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include <net/netfilter/nf_flow_table.h>
#include <net/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables.h>

#include "rflow_genl.h"
#include "rflow_hw_rule.h"
#include "rflow_shim.h"
#include "rflow_sim.h"
#include "rflow_xdp.h"
