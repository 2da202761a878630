/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers of rflow: one out-of-line wrapper per static inline kernel function
 * the Rust code needs (as rust/helpers/ does for the kernel crate), plus
 * constants that are macros bindgen cannot evaluate. No flow logic lives here.
 */
#ifndef RFLOW_SHIM_H
#define RFLOW_SHIM_H

#include <linux/jiffies.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/slab.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/flow_offload.h>
#include <net/neighbour.h>
#include <linux/if_pppox.h>
#include <linux/if_vlan.h>
#include <net/netfilter/nf_conntrack.h>

struct dst_entry;
struct in6_addr;
struct seq_file;

/* Constants defined by macro expressions, evaluated by the compiler for bindgen. */
enum {
	RFLOW_HZ = HZ,
	RFLOW_NF_CT_DAY = NF_CT_DAY,
	RFLOW_SKB_DST_NOREF = SKB_DST_NOREF,
	RFLOW_IPSKB_FORWARDED = IPSKB_FORWARDED,
	RFLOW_IP6SKB_FORWARDED = IP6SKB_FORWARDED,
	RFLOW_NUD_VALID = NUD_VALID,
	RFLOW_VLAN_HLEN = VLAN_HLEN,
	RFLOW_PPPOE_SES_HLEN = PPPOE_SES_HLEN,
};

/* Allocation flags, as values bindgen can see. */
enum {
	RFLOW_GFP_ATOMIC = GFP_ATOMIC,
};

/* RCU and locking. */
void rflow_rcu_read_lock(void);
void rflow_rcu_read_unlock(void);
void rflow_rcu_assert_reader(void);
void rflow_spin_lock_init(spinlock_t *lock);
void rflow_spin_lock_bh(spinlock_t *lock);
void rflow_spin_unlock_bh(spinlock_t *lock);
void rflow_cond_resched(void);
u64 rflow_ktime_ns(void);

/* Work items. */
void rflow_init_delayed_work(struct delayed_work *dwork, work_func_t fn);
bool rflow_queue_delayed_work(struct delayed_work *dwork, unsigned long delay);
bool rflow_mod_delayed_work(struct delayed_work *dwork, unsigned long delay);
struct workqueue_struct *rflow_alloc_workqueue(const char *name);

/* sk_buff. */
bool rflow_pskb_may_pull(struct sk_buff *skb, unsigned int len);
int rflow_skb_try_make_writable(struct sk_buff *skb, unsigned int len);
bool rflow_skb_gso_fits_mtu(const struct sk_buff *skb, unsigned int mtu);
bool rflow_skb_has_secpath(const struct sk_buff *skb);
void rflow_skb_orphan(struct sk_buff *skb);
int rflow_dst_output(struct net *net, struct sk_buff *skb);

/* Memory: the allocation points rflow's fault attributes (debugfs rflow/) can fail. */
void rflow_fault_attrs_register(void);
void rflow_fault_attrs_unregister(void);
struct kmem_cache *rflow_kmem_cache_create(const char *name, unsigned int size,
					   unsigned int align);
void *rflow_cache_alloc(struct kmem_cache *cache, gfp_t gfp);
void *rflow_buckets_alloc(size_t n);
void rflow_buckets_free(void *buckets);

/* Devices. */
void rflow_netdev_hold(struct net_device *dev, netdevice_tracker *tracker, gfp_t gfp);
void rflow_netdev_put(struct net_device *dev, netdevice_tracker *tracker);
int rflow_dev_hard_header(struct sk_buff *skb, struct net_device *dev, unsigned short type,
			  const void *daddr, const void *saddr, unsigned int len);
int rflow_dev_queue_xmit(struct sk_buff *skb);

/* Routes and neighbours. */
struct neighbour *rflow_dst_neigh_lookup(const struct dst_entry *dst, const void *daddr);
u8 rflow_neigh_read(struct neighbour *n, u8 *ha);
void rflow_neigh_release(struct neighbour *n);
struct dst_entry *rflow_dst_check(struct dst_entry *dst, u32 cookie);
void rflow_dst_hold(struct dst_entry *dst);
bool rflow_dst_hold_safe(struct dst_entry *dst);
bool rflow_dst_has_xfrm(const struct dst_entry *dst);
unsigned int rflow_ip_dst_mtu_forward(const struct dst_entry *dst);
unsigned int rflow_ip6_dst_mtu_forward(const struct dst_entry *dst);
u32 rflow_rt6_cookie(const struct dst_entry *dst);
__be32 rflow_rt_nexthop(const struct dst_entry *dst, __be32 daddr);
void rflow_rt6_nexthop(const struct dst_entry *dst, const struct in6_addr *daddr,
		       struct in6_addr *nexthop);

/* Conntrack. */
void rflow_ct_get(struct nf_conn *ct);
bool rflow_ct_get_not_zero(struct nf_conn *ct);
void rflow_ct_put(struct nf_conn *ct);
bool rflow_ct_has_helper(const struct nf_conn *ct);

/* nf_tables. */
struct nf_flowtable;
void rflow_nf_flowtable_init_block(struct nf_flowtable *ft);
struct nf_flowtable *rflow_ingress_software_flowtable(const struct net_device *dev,
							nf_hookfn *const *hooks, unsigned int n);
u8 rflow_nft_genmask_next(const struct net *net);
bool rflow_nft_use_inc(u32 *use);
void rflow_nft_use_dec(u32 *use);
void rflow_nft_use_inc_restore(u32 *use);
int rflow_nla_put_string(struct sk_buff *skb, int attrtype, const char *str);

/* Hardware offload: the flow block plumbing of include/rflow_offload.c. */
typedef void (*rflow_indr_cleanup_fn)(struct nf_flowtable *ft, struct net_device *dev);
void rflow_set_indr_cleanup(rflow_indr_cleanup_fn fn);
int rflow_ft_block_offload(struct nf_flowtable *ft, struct net_device *dev,
			   enum flow_block_command cmd, bool first_indirect, bool *indirect,
			   const char **msg);
struct nf_flow_rule;
struct rflow_hw_rule;
struct nf_flow_rule *rflow_flow_rule_build(struct net *net, const struct rflow_hw_rule *r,
					   int *errp);
void rflow_flow_rule_free(struct nf_flow_rule *flow_rule);
int rflow_ft_block_call(struct nf_flowtable *ft, enum flow_cls_command cmd, unsigned long cookie,
			struct nf_flow_rule *flow_rule, struct flow_stats *stats,
			unsigned int *failed);

int rflow_offload_sysctl_register(void);
void rflow_offload_sysctl_unregister(void);
bool rflow_hw_best_effort(const struct net *net);

/* Namespaces, procfs. */
void *rflow_net_generic(const struct net *net, unsigned int id);
struct net *rflow_seq_file_net(struct seq_file *seq);
void *rflow_seq_private(struct seq_file *seq);

#endif /* RFLOW_SHIM_H */
