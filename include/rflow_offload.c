// SPDX-License-Identifier: GPL-2.0
/*
 * The flow block plumbing of hardware offload: binding a device's driver callbacks to a
 * flowtable (TC_SETUP_FT) and calling them. This is list and lock handling that every
 * TC_SETUP_FT driver relies on being done exactly as net/netfilter/nf_flow_table_offload.c of
 * 6.12 does it (nf_flow_table_block_offload_init(), nf_flow_table_offload_cmd(),
 * nf_flow_table_indr_offload_cmd(), nf_flow_table_block_setup(), nf_flow_table_indr_cleanup(),
 * the loop of nf_flow_offload_tuple()), written against the kernel's list and rwsem macros
 * rather than re-created from pointer arithmetic in Rust. Which flows to offload, the rules,
 * and when to send them are decided in Rust.
 */
#include <linux/netdevice.h>
#include <linux/if_vlan.h>
#include <linux/rwsem.h>
#include <linux/sysctl.h>
#include <linux/tcp.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/flow_offload.h>
#include <net/netfilter/nf_flow_table.h>

#include "rflow_hw_rule.h"
#include "rflow_shim.h"

static rflow_indr_cleanup_fn rflow_indr_cleanup_flows;

void rflow_set_indr_cleanup(rflow_indr_cleanup_fn fn)
{
	WRITE_ONCE(rflow_indr_cleanup_flows, fn);
}

static void rflow_block_offload_init(struct flow_block_offload *bo, struct net *net,
				     enum flow_block_command cmd, struct nf_flowtable *ft,
				     struct netlink_ext_ack *extack)
{
	memset(bo, 0, sizeof(*bo));
	bo->net = net;
	bo->block = &ft->flow_block;
	bo->command = cmd;
	bo->binder_type = FLOW_BLOCK_BINDER_TYPE_CLSACT_INGRESS;
	bo->extack = extack;
	bo->cb_list_head = &ft->flow_block.cb_list;
	INIT_LIST_HEAD(&bo->cb_list);
}

/*
 * An indirect driver (one that offloads for devices it does not own: VLAN, bridge, tunnel
 * devices) is going away: its callback leaves the flowtable. The flows through the device are
 * torn down first, while the callback can still hear their DESTROY.
 */
static void rflow_indr_cleanup(struct flow_block_cb *block_cb)
{
	struct nf_flowtable *ft = block_cb->indr.data;
	struct net_device *dev = block_cb->indr.dev;
	rflow_indr_cleanup_fn flows = READ_ONCE(rflow_indr_cleanup_flows);

	if (flows)
		flows(ft, dev);
	down_write(&ft->flow_block_lock);
	list_del(&block_cb->list);
	list_del(&block_cb->driver_list);
	flow_block_cb_free(block_cb);
	up_write(&ft->flow_block_lock);
}

int rflow_ft_block_offload(struct nf_flowtable *ft, struct net_device *dev,
			   enum flow_block_command cmd, bool first_indirect, bool *indirect,
			   const char **msg)
{
	struct netlink_ext_ack extack = {};
	struct flow_block_offload bo;
	struct flow_block_cb *block_cb, *next;
	int err;

	rflow_block_offload_init(&bo, dev_net(dev), cmd, ft, &extack);
	if (dev->netdev_ops->ndo_setup_tc) {
		/* Drivers look their callback up in the flowtable's list on UNBIND. */
		down_write(&ft->flow_block_lock);
		err = dev->netdev_ops->ndo_setup_tc(dev, TC_SETUP_FT, &bo);
		up_write(&ft->flow_block_lock);
	} else {
		/* Not under flow_block_lock, as in C: indirect drivers bind with their own locks. */
		err = flow_indr_dev_setup_offload(dev, NULL, TC_SETUP_FT, ft, &bo,
						  rflow_indr_cleanup);
		if (err < 0 && cmd == FLOW_BLOCK_BIND && first_indirect) {
			struct flow_block_offload ubo;

			/*
			 * The indirect core recorded the binding (keyed by the flowtable) for
			 * drivers that register later, even though no driver took it; the
			 * flowtable then fails and is freed, and the record would point at it.
			 * C leaves it; rflow removes it when it is this flowtable's only one.
			 */
			rflow_block_offload_init(&ubo, dev_net(dev), FLOW_BLOCK_UNBIND, ft, NULL);
			flow_indr_dev_setup_offload(dev, NULL, TC_SETUP_FT, ft, &ubo,
						    rflow_indr_cleanup);
		}
	}
	*indirect = !dev->netdev_ops->ndo_setup_tc;
	*msg = extack._msg;
	if (err < 0)
		return err;

	down_write(&ft->flow_block_lock);
	if (cmd == FLOW_BLOCK_BIND) {
		list_splice(&bo.cb_list, &ft->flow_block.cb_list);
	} else {
		list_for_each_entry_safe(block_cb, next, &bo.cb_list, list) {
			list_del(&block_cb->list);
			flow_block_cb_free(block_cb);
		}
	}
	up_write(&ft->flow_block_lock);
	return 0;
}

#define RFLOW_DISSECTOR(match, type, field) \
	((match)->dissector.offset[type] = offsetof(struct nf_flow_key, field))

static void rflow_vlan_match(struct flow_dissector_key_vlan *key,
			     struct flow_dissector_key_vlan *mask, u16 id, u16 tpid)
{
	key->vlan_id = id;
	mask->vlan_id = VLAN_VID_MASK;
	key->vlan_tpid = htons(tpid);
	mask->vlan_tpid = 0xffff;
}

/* nf_flow_rule_match() of 6.12, from the values Rust decided (tunnel keys aside). */
static void rflow_rule_match(struct nf_flow_match *match, const struct rflow_hw_match *m)
{
	struct nf_flow_key *mask = &match->mask;
	struct nf_flow_key *key = &match->key;

	RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_META, meta);
	RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_CONTROL, control);
	RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_BASIC, basic);
	RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_IPV4_ADDRS, ipv4);
	RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_IPV6_ADDRS, ipv6);
	RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_TCP, tcp);
	RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_PORTS, tp);

	key->meta.ingress_ifindex = m->ingress_ifindex;
	mask->meta.ingress_ifindex = 0xffffffff;

	/*
	 * 6.12 sets the VLAN offsets but not their used_keys bits, so drivers asking
	 * flow_rule_match_key() never see the tags they must match: rflow sets them.
	 */
	if (m->num_vlans > 0) {
		RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_VLAN, vlan);
		rflow_vlan_match(&key->vlan, &mask->vlan, m->vlan_id[0], m->vlan_tpid[0]);
		match->dissector.used_keys |= BIT_ULL(FLOW_DISSECTOR_KEY_VLAN);
	}
	if (m->num_vlans > 1) {
		RFLOW_DISSECTOR(match, FLOW_DISSECTOR_KEY_CVLAN, cvlan);
		rflow_vlan_match(&key->cvlan, &mask->cvlan, m->vlan_id[1], m->vlan_tpid[1]);
		match->dissector.used_keys |= BIT_ULL(FLOW_DISSECTOR_KEY_CVLAN);
	}

	if (m->n_proto == ETH_P_IP) {
		key->control.addr_type = FLOW_DISSECTOR_KEY_IPV4_ADDRS;
		memcpy(&key->ipv4.src, m->src, 4);
		memcpy(&key->ipv4.dst, m->dst, 4);
		mask->ipv4.src = 0xffffffff;
		mask->ipv4.dst = 0xffffffff;
	} else {
		key->control.addr_type = FLOW_DISSECTOR_KEY_IPV6_ADDRS;
		memcpy(&key->ipv6.src, m->src, 16);
		memcpy(&key->ipv6.dst, m->dst, 16);
		memset(&mask->ipv6.src, 0xff, sizeof(mask->ipv6.src));
		memset(&mask->ipv6.dst, 0xff, sizeof(mask->ipv6.dst));
	}
	key->basic.n_proto = htons(m->n_proto);
	mask->control.addr_type = 0xffff;
	match->dissector.used_keys |= BIT_ULL(key->control.addr_type);
	mask->basic.n_proto = 0xffff;

	if (m->tcp_flags) {
		key->tcp.flags = 0;
		mask->tcp.flags = cpu_to_be16(be32_to_cpu(TCP_FLAG_RST | TCP_FLAG_FIN) >> 16);
		match->dissector.used_keys |= BIT_ULL(FLOW_DISSECTOR_KEY_TCP);
	}
	key->basic.ip_proto = m->ip_proto;
	mask->basic.ip_proto = 0xff;
	match->dissector.used_keys |= BIT_ULL(FLOW_DISSECTOR_KEY_META) |
				      BIT_ULL(FLOW_DISSECTOR_KEY_CONTROL) |
				      BIT_ULL(FLOW_DISSECTOR_KEY_BASIC);
	if (m->has_ports) {
		key->tp.src = htons(m->sport);
		key->tp.dst = htons(m->dport);
		mask->tp.src = 0xffff;
		mask->tp.dst = 0xffff;
		match->dissector.used_keys |= BIT_ULL(FLOW_DISSECTOR_KEY_PORTS);
	}
}

void rflow_flow_rule_free(struct nf_flow_rule *flow_rule)
{
	struct flow_action_entry *entry;
	int i;

	if (!flow_rule)
		return;
	for (i = 0; i < flow_rule->rule->action.num_entries; i++) {
		entry = &flow_rule->rule->action.entries[i];
		if (entry->id == FLOW_ACTION_REDIRECT && entry->dev)
			dev_put(entry->dev);
		flow_action_cookie_destroy(entry->user_cookie);
	}
	kfree(flow_rule->rule);
	kfree(flow_rule);
}

struct nf_flow_rule *rflow_flow_rule_build(struct net *net, const struct rflow_hw_rule *r,
					   int *errp)
{
	struct nf_flow_rule *flow_rule;
	struct flow_action_entry *entry;
	const struct rflow_hw_action *a;
	u32 i, n;

	*errp = -E2BIG;
	if (r->num_actions > RFLOW_HW_ACTIONS_MAX)
		return NULL;
	*errp = -ENOMEM;
	flow_rule = kzalloc(sizeof(*flow_rule), GFP_KERNEL);
	if (!flow_rule)
		return NULL;
	flow_rule->rule = flow_rule_alloc(RFLOW_HW_ACTIONS_MAX);
	if (!flow_rule->rule) {
		kfree(flow_rule);
		return NULL;
	}
	flow_rule->rule->match.dissector = &flow_rule->match.dissector;
	flow_rule->rule->match.mask = &flow_rule->match.mask;
	flow_rule->rule->match.key = &flow_rule->match.key;
	rflow_rule_match(&flow_rule->match, &r->match);

	/* Counted up before each entry is written: entries[] is __counted_by(num_entries). */
	flow_rule->rule->action.num_entries = 0;
	for (i = 0; i < r->num_actions; i++) {
		a = &r->actions[i];
		n = flow_rule->rule->action.num_entries++;
		entry = &flow_rule->rule->action.entries[n];
		entry->id = a->id;
		switch (a->id) {
		case FLOW_ACTION_MANGLE:
			entry->mangle.htype = a->htype;
			entry->mangle.offset = a->offset;
			memcpy(&entry->mangle.mask, a->mask, sizeof(u32));
			memcpy(&entry->mangle.val, a->val, sizeof(u32));
			break;
		case FLOW_ACTION_CSUM:
			entry->csum_flags = a->csum_flags;
			break;
		case FLOW_ACTION_VLAN_PUSH:
			entry->vlan.vid = a->vlan_id;
			entry->vlan.proto = htons(a->vlan_proto);
			break;
		case FLOW_ACTION_PPPOE_PUSH:
			entry->pppoe.sid = a->pppoe_sid;
			break;
		case FLOW_ACTION_REDIRECT:
			/* Held for the callbacks' duration only, as in C: drivers keep their own. */
			entry->dev = dev_get_by_index(net, a->ifindex);
			if (!entry->dev) {
				*errp = -ENODEV;
				goto err;
			}
			break;
		case FLOW_ACTION_VLAN_POP:
			break;
		default:
			*errp = -EOPNOTSUPP;
			goto err;
		}
		if (r->has_cookie) {
			entry->user_cookie = flow_action_cookie_create((void *)r->cookie,
								       RFLOW_HW_COOKIE_LEN,
								       GFP_KERNEL);
			if (!entry->user_cookie) {
				*errp = -ENOMEM;
				goto err;
			}
		}
	}
	*errp = 0;
	return flow_rule;
err:
	rflow_flow_rule_free(flow_rule);
	return NULL;
}

/*
 * Sends cmd to every callback bound to ft; returns how many accepted it. *failed counts the
 * callbacks that answered an error other than "not mine" (-ENOENT: no such rule, -EOPNOTSUPP:
 * another port's rule, or offload switched off), after which the driver's state is unknown.
 */
int rflow_ft_block_call(struct nf_flowtable *ft, enum flow_cls_command cmd, unsigned long cookie,
			struct nf_flow_rule *flow_rule, struct flow_stats *stats,
			unsigned int *failed)
{
	struct flow_cls_offload cls = {};
	struct netlink_ext_ack extack = {};
	struct flow_block_cb *block_cb;
	int accepted = 0, err;

	/* nf_flow_offload_init(): ETH_P_ALL unconverted, as 6.12 sends it. */
	cls.common.protocol = ETH_P_ALL;
	cls.common.prio = ft->priority;
	cls.common.extack = &extack;
	cls.command = cmd;
	cls.cookie = cookie;
	if (cmd == FLOW_CLS_REPLACE)
		cls.rule = flow_rule->rule;

	down_read(&ft->flow_block_lock);
	*failed = 0;
	list_for_each_entry(block_cb, &ft->flow_block.cb_list, list) {
		err = block_cb->cb(TC_SETUP_CLSFLOWER, &cls, block_cb->cb_priv);
		if (err >= 0)
			accepted++;
		else if (err != -ENOENT && err != -EOPNOTSUPP)
			(*failed)++;
	}
	up_read(&ft->flow_block_lock);
	if (cmd == FLOW_CLS_STATS && stats)
		*stats = cls.stats;
	return accepted;
}

/*
 * net.rflow.hw_offload_best_effort, per namespace, 0 by default: with 1, a `flags offload`
 * flowtable loads even when some of its devices cannot offload (they stay in software). Off by
 * default because tools such as OpenWrt's firewall4 probe for hardware offload by loading such
 * a flowtable and rely on the failure.
 */
struct rflow_offload_net {
	int best_effort;
	struct ctl_table_header *hdr;
};

static unsigned int rflow_offload_net_id;

static struct ctl_table rflow_offload_sysctl[] = {
	{
		.procname = "hw_offload_best_effort",
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = SYSCTL_ZERO,
		.extra2 = SYSCTL_ONE,
	},
};

static int __net_init rflow_offload_net_init(struct net *net)
{
	struct rflow_offload_net *on = net_generic(net, rflow_offload_net_id);
	struct ctl_table *t;

	t = kmemdup(rflow_offload_sysctl, sizeof(rflow_offload_sysctl), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t[0].data = &on->best_effort;
	on->hdr = register_net_sysctl_sz(net, "net/rflow", t, ARRAY_SIZE(rflow_offload_sysctl));
	if (!on->hdr) {
		kfree(t);
		return -ENOMEM;
	}
	return 0;
}

static void __net_exit rflow_offload_net_exit(struct net *net)
{
	struct rflow_offload_net *on = net_generic(net, rflow_offload_net_id);
	const struct ctl_table *t = on->hdr->ctl_table_arg;

	unregister_net_sysctl_table(on->hdr);
	kfree(t);
}

static struct pernet_operations rflow_offload_net_ops = {
	.init = rflow_offload_net_init,
	.exit = rflow_offload_net_exit,
	.id = &rflow_offload_net_id,
	.size = sizeof(struct rflow_offload_net),
};

int rflow_offload_sysctl_register(void)
{
	return register_pernet_subsys(&rflow_offload_net_ops);
}

void rflow_offload_sysctl_unregister(void)
{
	unregister_pernet_subsys(&rflow_offload_net_ops);
}

bool rflow_hw_best_effort(const struct net *net)
{
	const struct rflow_offload_net *on = net_generic(net, rflow_offload_net_id);

	return READ_ONCE(on->best_effort);
}
