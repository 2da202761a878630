// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers of the static inline kernel functions rflow's Rust code
 * calls. Each wrapper is the inline function and nothing else; see
 * rflow_shim.h.
 */
#include <linux/debugfs.h>
#include <linux/fault-inject.h>
#include <linux/netdevice.h>
#include <linux/seq_file_net.h>
#include <linux/skbuff.h>
#include <net/dst.h>
#include <net/gso.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/netns/generic.h>
#include <net/route.h>
#include <net/xfrm.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_extend.h>
#include <net/netfilter/nf_flow_table.h>
#include <net/netfilter/nf_tables.h>

#include "rflow_shim.h"

void rflow_rcu_read_lock(void)
{
	rcu_read_lock();
}

void rflow_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

/* Called by Rust code that relies on being inside a read-side section it did not enter itself;
 * only built into the module on kernels with CONFIG_PROVE_RCU. */
void rflow_rcu_assert_reader(void)
{
	RCU_LOCKDEP_WARN(!rcu_read_lock_any_held(),
			 "rflow: RCU-protected access outside a read-side critical section");
}

void rflow_spin_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

void rflow_spin_lock_bh(spinlock_t *lock)
{
	spin_lock_bh(lock);
}

void rflow_spin_unlock_bh(spinlock_t *lock)
{
	spin_unlock_bh(lock);
}

void rflow_cond_resched(void)
{
	cond_resched();
}

u64 rflow_ktime_ns(void)
{
	return ktime_get_ns();
}

void rflow_init_delayed_work(struct delayed_work *dwork, work_func_t fn)
{
	INIT_DELAYED_WORK(dwork, fn);
}

bool rflow_queue_delayed_work(struct delayed_work *dwork, unsigned long delay)
{
	return queue_delayed_work(system_power_efficient_wq, dwork, delay);
}

bool rflow_mod_delayed_work(struct delayed_work *dwork, unsigned long delay)
{
	return mod_delayed_work(system_power_efficient_wq, dwork, delay);
}

/* alloc_workqueue() is variadic: hardware offload's queues, unbound like C's. */
struct workqueue_struct *rflow_alloc_workqueue(const char *name)
{
	return alloc_workqueue("%s", WQ_UNBOUND | WQ_SYSFS, 0, name);
}

bool rflow_pskb_may_pull(struct sk_buff *skb, unsigned int len)
{
	return pskb_may_pull(skb, len);
}

int rflow_skb_try_make_writable(struct sk_buff *skb, unsigned int len)
{
	return skb_try_make_writable(skb, len);
}

bool rflow_skb_gso_fits_mtu(const struct sk_buff *skb, unsigned int mtu)
{
	return skb_is_gso(skb) && skb_gso_validate_network_len(skb, mtu);
}

bool rflow_skb_has_secpath(const struct sk_buff *skb)
{
	return skb_sec_path(skb) != NULL;
}

void rflow_skb_orphan(struct sk_buff *skb)
{
	skb_orphan(skb);
}

int rflow_dst_output(struct net *net, struct sk_buff *skb)
{
	return dst_output(net, NULL, skb);
}

/* Not merged with other caches: its objects are rflow's alone, so /sys/kernel/slab shows rflow's
 * usage and failslab's cache filter can target it. */
struct kmem_cache *rflow_kmem_cache_create(const char *name, unsigned int size,
					   unsigned int align)
{
	return kmem_cache_create(name, size, align, SLAB_NO_MERGE, NULL);
}

#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
/*
 * rflow's own fault points, /sys/kernel/debug/rflow/fail_{flow,buckets}_alloc/ (the attributes of
 * Documentation/fault-injection/fault-injection.rst). fail_function would need no code, but
 * without ftrace its kprobe runs as an NMI and should_fail() takes the batched-entropy local
 * lock there, which lockdep reports as an inconsistent lock state: these attributes are
 * evaluated in the allocation's own context instead.
 */
static DECLARE_FAULT_ATTR(rflow_fail_flow_alloc);
static DECLARE_FAULT_ATTR(rflow_fail_buckets_alloc);
static struct dentry *rflow_debugfs_dir;

/* Debugfs errors are not fatal (as everywhere in the kernel): the attributes then stay off. */
void rflow_fault_attrs_register(void)
{
	rflow_debugfs_dir = debugfs_create_dir("rflow", NULL);
	fault_create_debugfs_attr("fail_flow_alloc", rflow_debugfs_dir, &rflow_fail_flow_alloc);
	fault_create_debugfs_attr("fail_buckets_alloc", rflow_debugfs_dir,
				  &rflow_fail_buckets_alloc);
}

void rflow_fault_attrs_unregister(void)
{
	debugfs_remove_recursive(rflow_debugfs_dir);
}

#define rflow_should_fail(attr, size) should_fail(attr, size)
#else
void rflow_fault_attrs_register(void)
{
}

void rflow_fault_attrs_unregister(void)
{
}

#define rflow_should_fail(attr, size) false
#endif

/* Every flow allocation goes through here. failslab's cache filter can fail it too. */
void *rflow_cache_alloc(struct kmem_cache *cache, gfp_t gfp)
{
	if (rflow_should_fail(&rflow_fail_flow_alloc, kmem_cache_size(cache)))
		return NULL;
	return kmem_cache_alloc(cache, gfp);
}

/* Bucket arrays of the flow hash table: zeroed, possibly vmalloc'ed; a resize that fails keeps
 * the old array. */
void *rflow_buckets_alloc(size_t n)
{
	if (rflow_should_fail(&rflow_fail_buckets_alloc, n * sizeof(void *)))
		return NULL;
	return kvcalloc(n, sizeof(void *), GFP_KERNEL);
}

void rflow_buckets_free(void *buckets)
{
	kvfree(buckets);
}

void rflow_netdev_hold(struct net_device *dev, netdevice_tracker *tracker, gfp_t gfp)
{
	netdev_hold(dev, tracker, gfp);
}

void rflow_netdev_put(struct net_device *dev, netdevice_tracker *tracker)
{
	netdev_put(dev, tracker);
}

int rflow_dev_hard_header(struct sk_buff *skb, struct net_device *dev, unsigned short type,
			  const void *daddr, const void *saddr, unsigned int len)
{
	return dev_hard_header(skb, dev, type, daddr, saddr, len);
}

int rflow_dev_queue_xmit(struct sk_buff *skb)
{
	return dev_queue_xmit(skb);
}

struct neighbour *rflow_dst_neigh_lookup(const struct dst_entry *dst, const void *daddr)
{
	return dst_neigh_lookup(dst, daddr);
}

/* Reads a neighbour's state and hardware address the way nft_dev_fill_forward_path() does. */
u8 rflow_neigh_read(struct neighbour *n, u8 *ha)
{
	u8 nud_state;

	read_lock_bh(&n->lock);
	nud_state = n->nud_state;
	ether_addr_copy(ha, n->ha);
	read_unlock_bh(&n->lock);
	return nud_state;
}

void rflow_neigh_release(struct neighbour *n)
{
	neigh_release(n);
}

struct dst_entry *rflow_dst_check(struct dst_entry *dst, u32 cookie)
{
	return dst_check(dst, cookie);
}

void rflow_dst_hold(struct dst_entry *dst)
{
	dst_hold(dst);
}

bool rflow_dst_hold_safe(struct dst_entry *dst)
{
	return dst_hold_safe(dst);
}

bool rflow_dst_has_xfrm(const struct dst_entry *dst)
{
	return dst_xfrm(dst) != NULL;
}

unsigned int rflow_ip_dst_mtu_forward(const struct dst_entry *dst)
{
	return ip_dst_mtu_maybe_forward(dst, true);
}

unsigned int rflow_ip6_dst_mtu_forward(const struct dst_entry *dst)
{
	return ip6_dst_mtu_maybe_forward(dst, true);
}

u32 rflow_rt6_cookie(const struct dst_entry *dst)
{
	return rt6_get_cookie(dst_rt6_info(dst));
}

__be32 rflow_rt_nexthop(const struct dst_entry *dst, __be32 daddr)
{
	return rt_nexthop(dst_rtable(dst), daddr);
}

void rflow_rt6_nexthop(const struct dst_entry *dst, const struct in6_addr *daddr,
		       struct in6_addr *nexthop)
{
	*nexthop = *rt6_nexthop(dst_rt6_info(dst), daddr);
}

void rflow_ct_get(struct nf_conn *ct)
{
	refcount_inc(&ct->ct_general.use);
}

bool rflow_ct_get_not_zero(struct nf_conn *ct)
{
	if (!refcount_inc_not_zero(&ct->ct_general.use))
		return false;
	/* Later loads of ct->status must not be reordered before the increment. */
	smp_acquire__after_ctrl_dep();
	return true;
}

void rflow_ct_put(struct nf_conn *ct)
{
	nf_ct_put(ct);
}

bool rflow_ct_has_helper(const struct nf_conn *ct)
{
	return nf_ct_ext_exist(ct, NF_CT_EXT_HELPER);
}

/* What nf_flow_table_init() sets up besides the hash table and the GC: the flow block that
 * hardware offload binds drivers' callbacks to. */
void rflow_nf_flowtable_init_block(struct nf_flowtable *ft)
{
	INIT_LIST_HEAD(&ft->flow_block.cb_list);
	init_rwsem(&ft->flow_block_lock);
}

/*
 * The flowtable an XDP lookup on @dev uses (nf_flowtable_by_dev() in C): the first
 * of @dev's ingress hooks, in hook order, that is one of @hooks (the hook functions
 * of rflow's flowtable types) and whose flowtable is not in hardware offload mode.
 * Netfilter publishes and retires hook entries under RCU, and nf_tables frees a
 * flowtable only a grace period after its hooks are gone. Any RCU reader will do:
 * native XDP runs with only bottom halves disabled.
 */
struct nf_flowtable *rflow_ingress_software_flowtable(const struct net_device *dev,
							nf_hookfn *const *hooks, unsigned int n)
{
#ifdef CONFIG_NETFILTER_INGRESS
	const struct nf_hook_entries *e;
	unsigned int i, j;

	e = rcu_dereference_check(dev->nf_hooks_ingress, rcu_read_lock_any_held());
	if (!e)
		return NULL;
	for (i = 0; i < e->num_hook_entries; i++) {
		for (j = 0; j < n; j++) {
			struct nf_flowtable *ft = e->hooks[i].priv;

			if (e->hooks[i].hook == hooks[j] && !nf_flowtable_hw_offload(ft))
				return ft;
		}
	}
#endif
	return NULL;
}

u8 rflow_nft_genmask_next(const struct net *net)
{
	return nft_genmask_next(net);
}

bool rflow_nft_use_inc(u32 *use)
{
	return nft_use_inc(use);
}

void rflow_nft_use_dec(u32 *use)
{
	nft_use_dec(use);
}

void rflow_nft_use_inc_restore(u32 *use)
{
	nft_use_inc_restore(use);
}

int rflow_nla_put_string(struct sk_buff *skb, int attrtype, const char *str)
{
	return nla_put_string(skb, attrtype, str);
}

void *rflow_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

void *rflow_seq_private(struct seq_file *seq)
{
	return seq->private;
}

struct net *rflow_seq_file_net(struct seq_file *seq)
{
	return seq_file_net(seq);
}
