// SPDX-License-Identifier: GPL-2.0
/*
 * rflow_sim's netdev and flow block glue (Rust-for-Linux 6.12 has no netdev abstraction).
 *
 * One simulated switch ASIC with nports ports. Each port is a pair of Ethernet devices, like
 * veth: rsim0pK, the ASIC port on the router's side (ndo_setup_tc, NETIF_F_HW_TC), and rsim0wK,
 * its wire end, which tests move into a host's namespace. A frame a host sends on rsim0wK
 * enters the ASIC at port K: the engine (Rust) looks it up in the flow table drivers fill
 * through TC_SETUP_FT and, on a hit, rewrites it and hands it to the egress port's wire end,
 * the router never seeing it; on a miss it goes up the router's stack on rsim0pK. What the
 * router sends on rsim0pK goes out on the wire to rsim0wK.
 *
 * The devices advertise no checksum, scatter-gather or VLAN offload, so frames on the wire are
 * complete and linear and receivers verify their checksums end to end.
 *
 * Driver contract (as mtk_ppe_offload.c): one flow block callback per port and block, ingress
 * only, reference-counted on re-bind; REPLACE keyed by cookie (-EEXIST on a duplicate, -ENOSPC
 * when full, -EOPNOTSUPP for what the engine cannot do, or for a rule whose ingress is not this
 * port), DESTROY and STATS -ENOENT for an unknown cookie, STATS reports deltas.
 *
 * debugfs, /sys/kernel/debug/rflow_sim/asic0/:
 *   entries      the flow table: port, cookie, UFID, key, counters, idle time
 *   counters     replace/destroy/stats results, hits, misses by reason
 *   blocks       flow blocks bound per port
 *   last_refusal why the last REPLACE was refused with -EOPNOTSUPP
 *   max_entries  (rw) REPLACE fails with -ENOSPC beyond it
 *   hw_enabled   (rw) 0: every frame misses, the entries stay
 *   replace_delay_ms (rw) every REPLACE first sleeps that long (a slow firmware mailbox)
 *   fail_bind, fail_replace, fail_destroy, fail_stats
 *                (w) "<errno> <count>": the next <count> calls fail with -<errno>
 *   flush        (w) anything: a hardware reset, the table is emptied
 *
 * With indirect=1 the ports have no ndo_setup_tc: the module binds through
 * flow_indr_dev_register(), as drivers do for devices they do not own (VLAN, tunnel, bridge
 * devices), so that the flowtable's indirect path, and its cleanup callback when the driver
 * goes away, are exercised.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/seq_file.h>
#include <linux/tcp.h>
#include <linux/vmalloc.h>
#include <net/flow_offload.h>
#include <net/pkt_cls.h>

#include "rflow_sim.h"

static unsigned int nports = 4;
module_param(nports, uint, 0444);
MODULE_PARM_DESC(nports, "ports of the simulated ASIC (1 to 16)");

static unsigned int max_entries = 1024;
module_param(max_entries, uint, 0644);
MODULE_PARM_DESC(max_entries, "flow table size: REPLACE beyond it fails with -ENOSPC");

static bool indirect;
module_param(indirect, bool, 0444);
MODULE_PARM_DESC(indirect, "bind through flow_indr_dev_register(), not ndo_setup_tc");

static u32 hw_enabled = 1;
static u32 replace_delay_ms;

struct rsim_fault {
	int err;
	unsigned int count;
};

static struct rsim_fault fail_bind, fail_replace, fail_destroy, fail_stats;

struct rsim_counters {
	/* replace_other_port: rules for another port's ingress, which every port's callback
	 * of a flowtable is offered; not errors. */
	atomic64_t replace_ok, replace_other_port, replace_enospc, replace_eexist, replace_err;
	atomic64_t destroy_ok, destroy_enoent, destroy_err, stats_ok, stats_err;
	atomic64_t hit_pkts, hit_bytes, miss[RSIM_MISS_MAX];
};

static struct rsim_counters counters;

static const struct net_device_ops rsim_port_ops, rsim_port_indirect_ops, rsim_wire_ops;

/* An ASIC port, in either binding mode. */
static bool rsim_is_port(const struct net_device *dev)
{
	return dev->netdev_ops == &rsim_port_ops || dev->netdev_ops == &rsim_port_indirect_ops;
}

static const char *const miss_names[RSIM_MISS_MAX] = {
	[RSIM_MISS_NO_ENTRIES] = "no_entries",
	[RSIM_MISS_L2] = "layer2",
	[RSIM_MISS_PARSE] = "parse",
	[RSIM_MISS_TCP_FLAGS] = "tcp_flags",
	[RSIM_MISS_NO_ENTRY] = "no_entry",
	[RSIM_MISS_ENCAP] = "encap",
	[RSIM_MISS_MTU] = "mtu",
	[RSIM_MISS_EGRESS_DOWN] = "egress_down",
};

struct rsim_port {
	u32 index;
	struct net_device *port;	/* rsim0pK: router side */
	struct net_device *wire;	/* rsim0wK: link partner */
	int blocks;			/* flow blocks bound (under rsim_lock) */
};

struct rsim_priv {
	struct rsim_port *port;
};

static struct rsim_port ports[RSIM_PORTS_MAX];
static u32 nports_created;
/* Serialises the control path: binding, the flow block callback, debugfs writes. */
static DEFINE_MUTEX(rsim_lock);
static LIST_HEAD(rsim_ft_block_cb_list);
static struct dentry *rsim_debugfs;

/* Consumes one injected failure, if any is armed. Under rsim_lock. */
static int rsim_fault(struct rsim_fault *f)
{
	if (!f->count)
		return 0;
	f->count--;
	return -f->err;
}

static struct rsim_port *rsim_port_of(struct net_device *dev)
{
	return ((struct rsim_priv *)netdev_priv(dev))->port;
}

u32 rsim_port_mtu(u32 port)
{
	return port < nports_created ? READ_ONCE(ports[port].wire->mtu) : 0;
}

bool rsim_port_up(u32 port)
{
	return port < nports_created && netif_running(ports[port].wire) &&
	       netif_carrier_ok(ports[port].wire);
}

void rsim_call_rcu(struct callback_head *head, void (*func)(struct callback_head *head))
{
	call_rcu(head, func);
}

void rsim_rcu_barrier(void)
{
	rcu_barrier();
}

/* Delivers to the other end; a drop is counted by dev_forward_skb() on the receiver. */
static void rsim_forward(struct sk_buff *skb, struct net_device *to)
{
	unsigned int len = skb->len;

	if (dev_forward_skb(to, skb) == NET_RX_SUCCESS)
		dev_sw_netstats_rx_add(to, len);
}

/* The router sends on the ASIC port: the frame goes out on the wire. */
static netdev_tx_t rsim_port_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct rsim_port *p = rsim_port_of(dev);

	dev_sw_netstats_tx_add(dev, 1, skb->len);
	rsim_forward(skb, p->wire);
	return NETDEV_TX_OK;
}

/* Rewrites a frame the engine forwards into its egress framing. */
static bool rsim_reframe(struct sk_buff *skb, const struct rsim_fwd *fwd)
{
	if (fwd->strip + fwd->ip_len > skb->len || fwd->l2_len > RSIM_L2_MAX)
		return false;
	__skb_pull(skb, fwd->strip);
	if (skb_cow_head(skb, fwd->l2_len))
		return false;
	memcpy(__skb_push(skb, fwd->l2_len), fwd->l2, fwd->l2_len);
	skb_trim(skb, fwd->l2_len + fwd->ip_len);
	skb->ip_summed = CHECKSUM_NONE;
	return true;
}

/* A host sent a frame on the wire: it enters the ASIC at this port. */
static netdev_tx_t rsim_wire_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct rsim_port *p = rsim_port_of(dev);
	struct rsim_fwd fwd = {};
	int ret = -RSIM_MISS_NO_ENTRIES;

	dev_sw_netstats_tx_add(dev, 1, skb->len);
	if (READ_ONCE(hw_enabled) && rsim_rust_entries() &&
	    !skb_linearize(skb) && !skb_ensure_writable(skb, skb->len))
		ret = rsim_rust_forward(p->index, READ_ONCE(p->port->ifindex), skb->data,
					skb->len, get_jiffies_64(), &fwd);
	if (ret == 0 && fwd.egress_port < nports_created) {
		if (!rsim_reframe(skb, &fwd)) {
			dev_core_stats_tx_dropped_inc(dev);
			kfree_skb(skb);
			return NETDEV_TX_OK;
		}
		atomic64_inc(&counters.hit_pkts);
		atomic64_add(fwd.ip_len, &counters.hit_bytes);
		rsim_forward(skb, ports[fwd.egress_port].wire);
		return NETDEV_TX_OK;
	}
	if (ret < 0 && -ret < RSIM_MISS_MAX)
		atomic64_inc(&counters.miss[-ret]);
	else if (ret == 0)
		atomic64_inc(&counters.miss[RSIM_MISS_EGRESS_DOWN]);	/* no such port */
	rsim_forward(skb, p->port);
	return NETDEV_TX_OK;
}

/* Reads a flow rule the way the engine understands it; -EOPNOTSUPP for anything else. */
/* Why the last REPLACE was refused (debugfs last_refusal; the flowtable drops extack). */
static const char *rsim_last_refusal = "";

static int rsim_refuse(struct netlink_ext_ack *extack, const char *why)
{
	WRITE_ONCE(rsim_last_refusal, why);
	if (extack)
		extack->_msg = why;
	return -EOPNOTSUPP;
}

static int rsim_rule_read(struct rsim_port *p, const struct flow_rule *rule,
			  struct rflow_hw_rule *out, u32 *egress_port,
			  struct netlink_ext_ack *extack)
{
	const u64 supported = BIT_ULL(FLOW_DISSECTOR_KEY_META) |
			      BIT_ULL(FLOW_DISSECTOR_KEY_CONTROL) |
			      BIT_ULL(FLOW_DISSECTOR_KEY_BASIC) |
			      BIT_ULL(FLOW_DISSECTOR_KEY_IPV4_ADDRS) |
			      BIT_ULL(FLOW_DISSECTOR_KEY_IPV6_ADDRS) |
			      BIT_ULL(FLOW_DISSECTOR_KEY_PORTS) |
			      BIT_ULL(FLOW_DISSECTOR_KEY_TCP) |
			      BIT_ULL(FLOW_DISSECTOR_KEY_VLAN) |
			      BIT_ULL(FLOW_DISSECTOR_KEY_CVLAN);
	const __be16 fin_rst = cpu_to_be16(be32_to_cpu(TCP_FLAG_RST | TCP_FLAG_FIN) >> 16);
	struct rflow_hw_match *m = &out->match;
	const struct flow_action_entry *act;
	struct flow_match_control ctrl;
	struct flow_match_basic basic;
	struct flow_match_meta meta;
	bool redirect = false;
	int i;

	memset(out, 0, sizeof(*out));
	if (rule->match.dissector->used_keys & ~supported) {
		return rsim_refuse(extack, "match key the ASIC cannot parse");
	}
	if (!flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_META) ||
	    !flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_CONTROL) ||
	    !flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_BASIC))
		return rsim_refuse(extack, "no META, CONTROL or BASIC key");
	flow_rule_match_meta(rule, &meta);
	if (meta.mask->ingress_ifindex != 0xffffffff)
		return rsim_refuse(extack, "ingress ifindex not matched exactly");
	if (meta.key->ingress_ifindex != p->port->ifindex)
		return -EXDEV;	/* another port's rule: not this callback's (-EOPNOTSUPP out) */
	m->ingress_ifindex = meta.key->ingress_ifindex;

	flow_rule_match_control(rule, &ctrl);
	if (ctrl.mask->flags)
		return rsim_refuse(extack, "control flags");
	flow_rule_match_basic(rule, &basic);
	if (basic.mask->n_proto != htons(0xffff) || basic.mask->ip_proto != 0xff)
		return rsim_refuse(extack, "n_proto or ip_proto not matched exactly");
	m->n_proto = ntohs(basic.key->n_proto);
	m->ip_proto = basic.key->ip_proto;

	if (ctrl.key->addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS &&
	    flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_IPV4_ADDRS)) {
		struct flow_match_ipv4_addrs a;

		flow_rule_match_ipv4_addrs(rule, &a);
		if (a.mask->src != htonl(0xffffffff) || a.mask->dst != htonl(0xffffffff))
			return rsim_refuse(extack, "IPv4 addresses not matched exactly");
		memcpy(m->src, &a.key->src, 4);
		memcpy(m->dst, &a.key->dst, 4);
	} else if (ctrl.key->addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS &&
		   flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_IPV6_ADDRS)) {
		struct flow_match_ipv6_addrs a;

		flow_rule_match_ipv6_addrs(rule, &a);
		if (memchr_inv(&a.mask->src, 0xff, 16) || memchr_inv(&a.mask->dst, 0xff, 16))
			return rsim_refuse(extack, "IPv6 addresses not matched exactly");
		memcpy(m->src, &a.key->src, 16);
		memcpy(m->dst, &a.key->dst, 16);
	} else {
		return rsim_refuse(extack, "no IPv4 or IPv6 addresses");
	}

	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_PORTS)) {
		struct flow_match_ports ports;

		flow_rule_match_ports(rule, &ports);
		if (ports.mask->src != htons(0xffff) || ports.mask->dst != htons(0xffff))
			return rsim_refuse(extack, "ports not matched exactly");
		m->has_ports = 1;
		m->sport = ntohs(ports.key->src);
		m->dport = ntohs(ports.key->dst);
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_TCP)) {
		struct flow_match_tcp tcp;

		flow_rule_match_tcp(rule, &tcp);
		if (tcp.key->flags || tcp.mask->flags != fin_rst)
			return rsim_refuse(extack, "TCP flags other than FIN/RST clear");
		m->tcp_flags = 1;
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_VLAN)) {
		struct flow_match_vlan v;

		flow_rule_match_vlan(rule, &v);
		if (v.mask->vlan_id != VLAN_VID_MASK || v.mask->vlan_tpid != htons(0xffff))
			return rsim_refuse(extack, "outer VLAN not matched exactly");
		m->vlan_id[0] = v.key->vlan_id;
		m->vlan_tpid[0] = ntohs(v.key->vlan_tpid);
		m->num_vlans = 1;
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_CVLAN)) {
		struct flow_match_vlan v;

		if (!m->num_vlans)
			return rsim_refuse(extack, "inner VLAN without an outer one");
		flow_rule_match_cvlan(rule, &v);
		if (v.mask->vlan_id != VLAN_VID_MASK || v.mask->vlan_tpid != htons(0xffff))
			return rsim_refuse(extack, "inner VLAN not matched exactly");
		m->vlan_id[1] = v.key->vlan_id;
		m->vlan_tpid[1] = ntohs(v.key->vlan_tpid);
		m->num_vlans = 2;
	}

	if (rule->action.num_entries > RFLOW_HW_ACTIONS_MAX)
		return rsim_refuse(extack, "more actions than the ASIC holds");
	flow_action_for_each(i, act, &rule->action) {
		struct rflow_hw_action *a = &out->actions[out->num_actions++];

		a->id = act->id;
		switch (act->id) {
		case FLOW_ACTION_MANGLE:
			a->htype = act->mangle.htype;
			a->offset = act->mangle.offset;
			memcpy(a->mask, &act->mangle.mask, 4);
			memcpy(a->val, &act->mangle.val, 4);
			break;
		case FLOW_ACTION_CSUM:
			a->csum_flags = act->csum_flags;
			break;
		case FLOW_ACTION_VLAN_POP:
			break;
		case FLOW_ACTION_VLAN_PUSH:
			a->vlan_id = act->vlan.vid;
			a->vlan_proto = ntohs(act->vlan.proto);
			break;
		case FLOW_ACTION_PPPOE_PUSH:
			a->pppoe_sid = act->pppoe.sid;
			break;
		case FLOW_ACTION_REDIRECT:
			/* Only to a port of this ASIC; kept as a port index, no reference. */
			if (!act->dev || !rsim_is_port(act->dev) || redirect) {
				return rsim_refuse(extack, "redirect to a device outside the ASIC");
			}
			*egress_port = rsim_port_of(act->dev)->index;
			a->ifindex = act->dev->ifindex;
			redirect = true;
			break;
		default:
			return rsim_refuse(extack, "action the ASIC cannot do");
		}
		if (act->user_cookie && act->user_cookie->cookie_len == RFLOW_HW_COOKIE_LEN) {
			out->has_cookie = 1;
			memcpy(out->cookie, act->user_cookie->cookie, RFLOW_HW_COOKIE_LEN);
		}
	}
	return redirect ? 0 : rsim_refuse(extack, "no redirect");
}

static int rsim_ft_replace(struct rsim_port *p, struct flow_cls_offload *cls)
{
	struct rflow_hw_rule *rule;
	u32 egress = 0;
	int err;

	err = rsim_fault(&fail_replace);
	if (err)
		return err;
	rule = kmalloc(sizeof(*rule), GFP_KERNEL);
	if (!rule)
		return -ENOMEM;
	err = rsim_rule_read(p, flow_cls_offload_flow_rule(cls), rule, &egress,
			     cls->common.extack);
	if (!err) {
		const char *why = NULL;

		err = rsim_rust_replace(p->index, cls->cookie, rule, egress, READ_ONCE(max_entries),
					&why);
		if (why)
			rsim_refuse(cls->common.extack, why);
	}
	if (err == -ENOSPC)
		NL_SET_ERR_MSG_MOD(cls->common.extack, "flow table full");
	else if (err == -EEXIST)
		NL_SET_ERR_MSG_MOD(cls->common.extack, "flow already in the table");
	kfree(rule);
	return err;
}

/* The flow block callback: one per port and flowtable. */
static int rsim_ft_cb(enum tc_setup_type type, void *type_data, void *cb_priv)
{
	struct flow_cls_offload *cls = type_data;
	struct rsim_port *p = cb_priv;
	u64 packets, bytes, lastused;
	int err;

	if (type != TC_SETUP_CLSFLOWER || !tc_can_offload(p->port))
		return -EOPNOTSUPP;

	if (cls->command == FLOW_CLS_REPLACE) {
		u32 delay = READ_ONCE(replace_delay_ms);

		if (delay)
			msleep(delay);
	}
	mutex_lock(&rsim_lock);
	switch (cls->command) {
	case FLOW_CLS_REPLACE:
		err = rsim_ft_replace(p, cls);
		if (err == -EXDEV) {
			atomic64_inc(&counters.replace_other_port);
			err = -EOPNOTSUPP;
		} else if (err == -ENOSPC) {
			atomic64_inc(&counters.replace_enospc);
		} else if (err == -EEXIST) {
			atomic64_inc(&counters.replace_eexist);
		} else {
			atomic64_inc(err ? &counters.replace_err : &counters.replace_ok);
		}
		break;
	case FLOW_CLS_DESTROY:
		err = rsim_fault(&fail_destroy);
		if (!err)
			err = rsim_rust_destroy(p->index, cls->cookie);
		atomic64_inc(!err ? &counters.destroy_ok :
			     err == -ENOENT ? &counters.destroy_enoent : &counters.destroy_err);
		break;
	case FLOW_CLS_STATS:
		err = rsim_fault(&fail_stats);
		if (!err)
			err = rsim_rust_stats(p->index, cls->cookie, &packets, &bytes, &lastused);
		if (!err)
			flow_stats_update(&cls->stats, bytes, packets, 0, lastused,
					  FLOW_ACTION_HW_STATS_IMMEDIATE);
		atomic64_inc(err ? &counters.stats_err : &counters.stats_ok);
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&rsim_lock);
	return err;
}

/*
 * A flow block left port p. Entries the flowtable did not destroy before unbinding would stay
 * in the table with nobody to remove them (6.12's C flowtable does that): count them, then
 * drop them once no block is bound. Under rsim_lock.
 */
static void rsim_unbound(struct rsim_port *p)
{
	u32 stale;

	if (--p->blocks)
		return;
	stale = rsim_rust_flush(p->index);
	if (stale)
		netdev_warn(p->port, "unbound with %u flow entries left in the table\n", stale);
}

static int rsim_setup_ft(struct rsim_port *p, struct flow_block_offload *f)
{
	struct flow_block_cb *block_cb;
	int err;

	if (f->binder_type != FLOW_BLOCK_BINDER_TYPE_CLSACT_INGRESS)
		return -EOPNOTSUPP;
	f->driver_block_list = &rsim_ft_block_cb_list;

	mutex_lock(&rsim_lock);
	switch (f->command) {
	case FLOW_BLOCK_BIND:
		err = rsim_fault(&fail_bind);
		if (err)
			break;
		block_cb = flow_block_cb_lookup(f->block, rsim_ft_cb, p);
		if (block_cb) {
			flow_block_cb_incref(block_cb);
			break;
		}
		block_cb = flow_block_cb_alloc(rsim_ft_cb, p, p, NULL);
		if (IS_ERR(block_cb)) {
			err = PTR_ERR(block_cb);
			break;
		}
		flow_block_cb_incref(block_cb);
		flow_block_cb_add(block_cb, f);
		list_add_tail(&block_cb->driver_list, &rsim_ft_block_cb_list);
		p->blocks++;
		break;
	case FLOW_BLOCK_UNBIND:
		err = 0;
		block_cb = flow_block_cb_lookup(f->block, rsim_ft_cb, p);
		if (!block_cb) {
			err = -ENOENT;
			break;
		}
		if (!flow_block_cb_decref(block_cb)) {
			flow_block_cb_remove(block_cb, f);
			list_del(&block_cb->driver_list);
			rsim_unbound(p);
		}
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&rsim_lock);
	return err;
}

/* Indirect mode: the block callback is freed by the flowtable (unbind or cleanup). */
static void rsim_indr_release(void *cb_priv)
{
	mutex_lock(&rsim_lock);
	rsim_unbound(cb_priv);
	mutex_unlock(&rsim_lock);
}

/* Indirect mode's registration identity (flow_indr_dev_register()'s cb_priv). */
static int rsim_indr_priv;

/* Called by the indirect core for every device without ndo_setup_tc being bound. */
static int rsim_indr_setup(struct net_device *dev, struct Qdisc *sch, void *cb_priv,
			   enum tc_setup_type type, void *type_data, void *data,
			   void (*cleanup)(struct flow_block_cb *block_cb))
{
	struct flow_block_offload *f = type_data;
	struct flow_block_cb *block_cb;
	struct rsim_port *p;
	int err = 0;

	if (type != TC_SETUP_FT || !dev || dev->netdev_ops != &rsim_port_indirect_ops ||
	    f->binder_type != FLOW_BLOCK_BINDER_TYPE_CLSACT_INGRESS)
		return -EOPNOTSUPP;
	p = rsim_port_of(dev);
	f->driver_block_list = &rsim_ft_block_cb_list;

	mutex_lock(&rsim_lock);
	switch (f->command) {
	case FLOW_BLOCK_BIND:
		err = rsim_fault(&fail_bind);
		if (err)
			break;
		if (flow_block_cb_lookup(f->block, rsim_ft_cb, p)) {
			err = -EEXIST;
			break;
		}
		block_cb = flow_indr_block_cb_alloc(rsim_ft_cb, p, p, rsim_indr_release, f, dev, sch,
						    data, &rsim_indr_priv, cleanup);
		if (IS_ERR(block_cb)) {
			err = PTR_ERR(block_cb);
			break;
		}
		flow_block_cb_add(block_cb, f);
		list_add_tail(&block_cb->driver_list, &rsim_ft_block_cb_list);
		p->blocks++;
		break;
	case FLOW_BLOCK_UNBIND:
		block_cb = flow_block_cb_lookup(f->block, rsim_ft_cb, p);
		if (!block_cb) {
			err = -ENOENT;
			break;
		}
		flow_indr_block_cb_remove(block_cb, f);
		list_del(&block_cb->driver_list);
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&rsim_lock);
	return err;
}

static int rsim_setup_tc(struct net_device *dev, enum tc_setup_type type, void *type_data)
{
	switch (type) {
	case TC_SETUP_FT:
		return rsim_setup_ft(rsim_port_of(dev), type_data);
	default:
		return -EOPNOTSUPP;
	}
}

static int rsim_set_features(struct net_device *dev, netdev_features_t features)
{
	struct rsim_port *p = rsim_port_of(dev);

	/* Turning hardware offload off empties the port's part of the table (documented). */
	if ((dev->features & NETIF_F_HW_TC) && !(features & NETIF_F_HW_TC)) {
		mutex_lock(&rsim_lock);
		rsim_rust_flush(p->index);
		mutex_unlock(&rsim_lock);
	}
	return 0;
}

static void rsim_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *s)
{
	dev_get_tstats64(dev, s);
}

static const struct net_device_ops rsim_port_ops = {
	.ndo_start_xmit = rsim_port_xmit,
	.ndo_setup_tc = rsim_setup_tc,
	.ndo_set_features = rsim_set_features,
	.ndo_get_stats64 = rsim_get_stats64,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

static const struct net_device_ops rsim_port_indirect_ops = {
	.ndo_start_xmit = rsim_port_xmit,
	.ndo_set_features = rsim_set_features,
	.ndo_get_stats64 = rsim_get_stats64,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

static const struct net_device_ops rsim_wire_ops = {
	.ndo_start_xmit = rsim_wire_xmit,
	.ndo_get_stats64 = rsim_get_stats64,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

static void rsim_setup(struct net_device *dev)
{
	ether_setup(dev);
	/* The wire end rewrites the frames it is given (as veth, no shared skbs). */
	dev->priv_flags &= ~IFF_TX_SKB_SHARING;
	dev->needs_free_netdev = true;
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_TSTATS;
	dev->lltx = true;
	dev->priv_flags |= IFF_NO_QUEUE;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_MAX_MTU;
	eth_hw_addr_random(dev);
}

static struct net_device *rsim_netdev(const char *fmt, u32 index, const struct net_device_ops *ops,
				      struct rsim_port *p)
{
	struct net_device *dev;
	char name[IFNAMSIZ];

	snprintf(name, sizeof(name), fmt, index);
	dev = alloc_netdev(sizeof(struct rsim_priv), name, NET_NAME_USER, rsim_setup);
	if (!dev)
		return NULL;
	dev->netdev_ops = ops;
	((struct rsim_priv *)netdev_priv(dev))->port = p;
	return dev;
}

/* Both ends carry a link only while both are up, as veth. */
static int rsim_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct rsim_port *p;

	if (!rsim_is_port(dev) && dev->netdev_ops != &rsim_wire_ops)
		return NOTIFY_DONE;
	p = rsim_port_of(dev);
	if (event == NETDEV_UP || event == NETDEV_DOWN) {
		if (netif_running(p->port) && netif_running(p->wire)) {
			netif_carrier_on(p->port);
			netif_carrier_on(p->wire);
		} else {
			netif_carrier_off(p->port);
			netif_carrier_off(p->wire);
		}
	}
	return NOTIFY_DONE;
}

static struct notifier_block rsim_notifier = {
	.notifier_call = rsim_netdev_event,
};

static int rsim_counters_show(struct seq_file *s, void *unused)
{
	int i;

	seq_printf(s, "entries %u\n", rsim_rust_entries());
	seq_printf(s, "replace_ok %lld\nreplace_other_port %lld\nreplace_enospc %lld\n",
		   atomic64_read(&counters.replace_ok), atomic64_read(&counters.replace_other_port),
		   atomic64_read(&counters.replace_enospc));
	seq_printf(s, "replace_eexist %lld\nreplace_err %lld\n",
		   atomic64_read(&counters.replace_eexist), atomic64_read(&counters.replace_err));
	seq_printf(s, "destroy_ok %lld\ndestroy_enoent %lld\ndestroy_err %lld\n",
		   atomic64_read(&counters.destroy_ok), atomic64_read(&counters.destroy_enoent),
		   atomic64_read(&counters.destroy_err));
	seq_printf(s, "stats_ok %lld\nstats_err %lld\n",
		   atomic64_read(&counters.stats_ok), atomic64_read(&counters.stats_err));
	seq_printf(s, "hit_packets %lld\nhit_bytes %lld\n",
		   atomic64_read(&counters.hit_pkts), atomic64_read(&counters.hit_bytes));
	for (i = RSIM_MISS_NO_ENTRIES; i < RSIM_MISS_MAX; i++)
		seq_printf(s, "miss_%s %lld\n", miss_names[i], atomic64_read(&counters.miss[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rsim_counters);

static int rsim_last_refusal_show(struct seq_file *s, void *unused)
{
	seq_printf(s, "%s\n", READ_ONCE(rsim_last_refusal));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rsim_last_refusal);

static int rsim_blocks_show(struct seq_file *s, void *unused)
{
	u32 i;

	mutex_lock(&rsim_lock);
	for (i = 0; i < nports_created; i++)
		seq_printf(s, "%s %d\n", ports[i].port->name, ports[i].blocks);
	mutex_unlock(&rsim_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rsim_blocks);

static int rsim_entries_show(struct seq_file *s, void *unused)
{
	size_t size, len;
	u8 *buf;

	mutex_lock(&rsim_lock);
	size = 256 + (size_t)rsim_rust_entries() * 320;
	buf = kvmalloc(size, GFP_KERNEL);
	if (buf) {
		len = rsim_rust_format_entries(buf, size, get_jiffies_64());
		seq_write(s, buf, len);
		kvfree(buf);
	}
	mutex_unlock(&rsim_lock);
	return buf ? 0 : -ENOMEM;
}
DEFINE_SHOW_ATTRIBUTE(rsim_entries);

static ssize_t rsim_write_fault(struct file *file, const char __user *ubuf, size_t len,
				loff_t *ppos)
{
	struct rsim_fault *f = file->private_data;
	unsigned int err, count;
	char buf[32];

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%u %u", &err, &count) != 2 || !err || err >= MAX_ERRNO)
		return -EINVAL;
	mutex_lock(&rsim_lock);
	f->err = err;
	f->count = count;
	mutex_unlock(&rsim_lock);
	return len;
}

static const struct file_operations rsim_fault_fops = {
	.open = simple_open,
	.write = rsim_write_fault,
	.llseek = noop_llseek,
};

static ssize_t rsim_write_flush(struct file *file, const char __user *ubuf, size_t len,
				loff_t *ppos)
{
	mutex_lock(&rsim_lock);
	rsim_rust_flush(RSIM_PORTS_MAX);
	mutex_unlock(&rsim_lock);
	return len;
}

static const struct file_operations rsim_flush_fops = {
	.open = simple_open,
	.write = rsim_write_flush,
	.llseek = noop_llseek,
};

static void rsim_debugfs_create(void)
{
	struct dentry *d;

	rsim_debugfs = debugfs_create_dir("rflow_sim", NULL);
	d = debugfs_create_dir("asic0", rsim_debugfs);
	debugfs_create_file("entries", 0400, d, NULL, &rsim_entries_fops);
	debugfs_create_file("counters", 0400, d, NULL, &rsim_counters_fops);
	debugfs_create_file("blocks", 0400, d, NULL, &rsim_blocks_fops);
	debugfs_create_file("last_refusal", 0400, d, NULL, &rsim_last_refusal_fops);
	debugfs_create_u32("max_entries", 0600, d, &max_entries);
	debugfs_create_u32("hw_enabled", 0600, d, &hw_enabled);
	debugfs_create_u32("replace_delay_ms", 0600, d, &replace_delay_ms);
	debugfs_create_file("fail_bind", 0200, d, &fail_bind, &rsim_fault_fops);
	debugfs_create_file("fail_replace", 0200, d, &fail_replace, &rsim_fault_fops);
	debugfs_create_file("fail_destroy", 0200, d, &fail_destroy, &rsim_fault_fops);
	debugfs_create_file("fail_stats", 0200, d, &fail_stats, &rsim_fault_fops);
	debugfs_create_file("flush", 0200, d, NULL, &rsim_flush_fops);
}

static void rsim_free_unregistered(u32 from, u32 to)
{
	u32 i;

	for (i = from; i < to; i++) {
		free_netdev(ports[i].port);
		free_netdev(ports[i].wire);
	}
}

int rsim_ports_create(u32 n)
{
	u32 i, registered = 0;
	int err;

	if (n < 1 || n > RSIM_PORTS_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		ports[i].index = i;
		ports[i].port = rsim_netdev("rsim0p%u", i,
					    indirect ? &rsim_port_indirect_ops : &rsim_port_ops,
					    &ports[i]);
		ports[i].wire = rsim_netdev("rsim0w%u", i, &rsim_wire_ops, &ports[i]);
		if (!ports[i].port || !ports[i].wire) {
			if (ports[i].port)
				free_netdev(ports[i].port);
			if (ports[i].wire)
				free_netdev(ports[i].wire);
			rsim_free_unregistered(0, i);
			return -ENOMEM;
		}
		ports[i].port->hw_features |= NETIF_F_HW_TC;
		ports[i].port->features |= NETIF_F_HW_TC;
	}
	err = register_netdevice_notifier(&rsim_notifier);
	if (err) {
		rsim_free_unregistered(0, n);
		return err;
	}
	/* Pairs are registered whole or not at all; unregistration frees (needs_free_netdev). */
	rtnl_lock();
	for (i = 0; i < n; i++) {
		err = register_netdevice(ports[i].port);
		if (err) {
			free_netdev(ports[i].port);
			free_netdev(ports[i].wire);
			break;
		}
		err = register_netdevice(ports[i].wire);
		if (err) {
			unregister_netdevice(ports[i].port);
			free_netdev(ports[i].wire);
			break;
		}
		netif_carrier_off(ports[i].port);
		netif_carrier_off(ports[i].wire);
		registered++;
	}
	if (err) {
		for (i = 0; i < registered; i++) {
			unregister_netdevice(ports[i].port);
			unregister_netdevice(ports[i].wire);
		}
	}
	rtnl_unlock();
	if (err) {
		rsim_free_unregistered(registered + 1, n);
		unregister_netdevice_notifier(&rsim_notifier);
		return err;
	}
	nports_created = n;
	if (indirect) {
		err = flow_indr_dev_register(rsim_indr_setup, &rsim_indr_priv);
		if (err) {
			rsim_ports_destroy();
			return err;
		}
	}
	rsim_debugfs_create();
	return 0;
}

void rsim_ports_destroy(void)
{
	LIST_HEAD(list);
	u32 i;

	debugfs_remove_recursive(rsim_debugfs);
	rsim_debugfs = NULL;
	/* The flowtables' cleanup callbacks unbind the ports while they still exist. */
	if (indirect && nports_created)
		flow_indr_dev_unregister(rsim_indr_setup, &rsim_indr_priv, rsim_indr_release);
	rtnl_lock();
	for (i = 0; i < nports_created; i++) {
		unregister_netdevice_queue(ports[i].port, &list);
		unregister_netdevice_queue(ports[i].wire, &list);
	}
	unregister_netdevice_many(&list);
	rtnl_unlock();
	unregister_netdevice_notifier(&rsim_notifier);
	nports_created = 0;
}

u32 rsim_nports(void)
{
	return nports;
}
