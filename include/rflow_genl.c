// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "rflow": policies, permissions, message layout.
 *
 * Strict validation throughout (a new family: resv_start_op 0): unknown attributes, a UFID of
 * any length but 16, unknown UFID flags and malformed nests are rejected by the policies with
 * an extack message before a handler runs. Every operation and the events group need
 * CAP_NET_ADMIN over the socket's namespace (what GENL_UNS_ADMIN_PERM checks, checked here so
 * that the refusal carries a message): unlike OVS's GET, a flow shows other users' connections
 * and their NAT mappings.
 */
#include <linux/jiffies.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <net/genetlink.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "rflow_genl.h"

static const struct rflow_genl_handlers *rflow_nl;

static const struct nla_policy rflow_ft_policy[RFLOW_FT_A_MAX + 1] = {
	[RFLOW_FT_A_FAMILY] = NLA_POLICY_MAX(NLA_U8, NFPROTO_NUMPROTO - 1),
	[RFLOW_FT_A_TABLE] = { .type = NLA_NUL_STRING, .len = NFT_TABLE_MAXNAMELEN - 1 },
	[RFLOW_FT_A_NAME] = { .type = NLA_NUL_STRING, .len = NFT_NAME_MAXLEN - 1 },
};

static const struct nla_policy rflow_get_policy[RFLOW_A_UFID_FLAGS + 1] = {
	[RFLOW_A_UFID] = NLA_POLICY_EXACT_LEN(RFLOW_UFID_LEN),
	[RFLOW_A_UFID_FLAGS] = NLA_POLICY_MASK(NLA_U32, RFLOW_UFID_F_TERSE),
};

static const struct nla_policy rflow_dump_policy[RFLOW_A_FLOWTABLE + 1] = {
	[RFLOW_A_UFID_FLAGS] = NLA_POLICY_MASK(NLA_U32, RFLOW_UFID_F_TERSE),
	[RFLOW_A_FLOWTABLE] = NLA_POLICY_NESTED(rflow_ft_policy),
};

static const struct nla_policy rflow_del_policy[RFLOW_A_UFID_FLAGS + 1] = {
	[RFLOW_A_UFID] = NLA_POLICY_EXACT_LEN(RFLOW_UFID_LEN),
	[RFLOW_A_UFID_FLAGS] = NLA_POLICY_MASK(NLA_U32, RFLOW_UFID_F_TERSE),
};

/* FLUSH and STATS: a flowtable filter only. */
static const struct nla_policy rflow_flush_policy[RFLOW_A_FLOWTABLE + 1] = {
	[RFLOW_A_FLOWTABLE] = NLA_POLICY_NESTED(rflow_ft_policy),
};

static struct genl_family rflow_genl_family;

/* CAP_NET_ADMIN in the user namespace that owns the request's network namespace. */
static int rflow_nl_check_perm(const struct sk_buff *skb, struct net *net,
			       struct netlink_ext_ack *extack)
{
	if (netlink_ns_capable(skb, net->user_ns, CAP_NET_ADMIN))
		return 0;
	NL_SET_ERR_MSG(extack, "rflow's flows need CAP_NET_ADMIN over the network namespace");
	return -EPERM;
}

static int rflow_nl_pre_doit(const struct genl_split_ops *ops, struct sk_buff *skb,
			     struct genl_info *info)
{
	return rflow_nl_check_perm(skb, genl_info_net(info), info->extack);
}

/* A direction's key and actions; nothing when both are omitted (the counters are not in it). */
static int rflow_put_dir(struct sk_buff *skb, int type, const struct rflow_nl_dir *d,
			 bool omit_key, bool omit_actions)
{
	struct nlattr *nest, *encap;
	int alen = d->l3proto == NFPROTO_IPV6 ? 16 : 4;
	int i;

	if (omit_key && omit_actions)
		return 0;
	nest = nla_nest_start(skb, type);
	if (!nest)
		return -EMSGSIZE;
	if (!omit_key) {
		if (nla_put_u8(skb, RFLOW_T_L3PROTO, d->l3proto) ||
		    nla_put_u8(skb, RFLOW_T_L4PROTO, d->l4proto) ||
		    nla_put(skb, RFLOW_T_SRC, alen, d->src) ||
		    nla_put(skb, RFLOW_T_DST, alen, d->dst) ||
		    nla_put_be16(skb, RFLOW_T_SPORT, htons(d->sport)) ||
		    nla_put_be16(skb, RFLOW_T_DPORT, htons(d->dport)) ||
		    nla_put_u32(skb, RFLOW_T_IIF, d->iif))
			goto cancel;
		for (i = 0; i < d->num_encaps && i < RFLOW_NL_ENCAP_MAX; i++) {
			encap = nla_nest_start(skb, RFLOW_T_ENCAP);
			if (!encap ||
			    nla_put_u16(skb, RFLOW_ENCAP_A_PROTO, d->encap_proto[i]) ||
			    nla_put_u16(skb, RFLOW_ENCAP_A_ID, d->encap_id[i]))
				goto cancel;
			nla_nest_end(skb, encap);
		}
	}
	if (!omit_actions) {
		if (nla_put_u8(skb, RFLOW_T_XMIT, d->xmit) ||
		    nla_put_u32(skb, RFLOW_T_OIF, d->oif) ||
		    nla_put_u32(skb, RFLOW_T_MTU, d->mtu))
			goto cancel;
	}
	nla_nest_end(skb, nest);
	return 0;
cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

static bool rflow_stats_zero(const struct rflow_stats *s)
{
	return !(s->orig_packets | s->orig_bytes | s->reply_packets | s->reply_bytes);
}

/*
 * The message header, then what every message holds: the counters, the UFID, the idle time.
 * A terse message is only this, three or four attributes: a million of them are one dump.
 */
static void *rflow_put_head(struct sk_buff *skb, u32 portid, u32 seq, u16 nlflags, u8 cmd,
			    const struct rflow_nl_counters *c, struct netlink_callback *cb)
{
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &rflow_genl_family, nlflags, cmd);
	if (!hdr)
		return NULL;
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	/* Absent means 0: most flows never see hardware, and terse dumps stay small. */
	if (nla_put(skb, RFLOW_A_STATS, sizeof(c->sw), &c->sw) ||
	    (!rflow_stats_zero(&c->hw) && nla_put(skb, RFLOW_A_HW_STATS, sizeof(c->hw), &c->hw)) ||
	    nla_put(skb, RFLOW_A_UFID, RFLOW_UFID_LEN, c->ufid) ||
	    nla_put_u32(skb, RFLOW_A_IDLE_MS, jiffies_to_msecs(c->idle_jiffies))) {
		genlmsg_cancel(skb, hdr);
		return NULL;
	}
	return hdr;
}

static int rflow_fill_flow(struct sk_buff *skb, u32 portid, u32 seq, u16 nlflags, u8 cmd,
			   u32 ufid_flags, const struct rflow_nl_flow *f,
			   struct netlink_callback *cb)
{
	bool omit_key = ufid_flags & RFLOW_UFID_F_OMIT_KEY;
	bool omit_actions = ufid_flags & RFLOW_UFID_F_OMIT_ACTIONS;
	struct nlattr *ft;
	void *hdr;
	int i;

	hdr = rflow_put_head(skb, portid, seq, nlflags, cmd, &f->counters, cb);
	if (!hdr)
		return -EMSGSIZE;
	if (!omit_key) {
		ft = nla_nest_start(skb, RFLOW_A_FLOWTABLE);
		if (!ft ||
		    nla_put_u8(skb, RFLOW_FT_A_FAMILY, f->ft_family) ||
		    nla_put_string(skb, RFLOW_FT_A_TABLE, f->ft_table) ||
		    nla_put_string(skb, RFLOW_FT_A_NAME, f->ft_name))
			goto cancel;
		nla_nest_end(skb, ft);
		/* The expiry is state, as the flags are; the idle time is a statistic (OVS's
		 * "used"). */
		if (nla_put_u32(skb, RFLOW_A_FLAGS, f->flags) ||
		    nla_put_u8(skb, RFLOW_A_HW_STATE, f->hw_state) ||
		    nla_put_u32(skb, RFLOW_A_CT_ID, nf_ct_get_id(f->ct)) ||
		    nla_put_u16(skb, RFLOW_A_ZONE, nf_ct_zone(f->ct)->id) ||
		    nla_put_u32(skb, RFLOW_A_EXPIRES_MS,
				f->expires_jiffies > 0 ? jiffies_to_msecs(f->expires_jiffies) : 0))
			goto cancel;
	}
	for (i = 0; i < 2; i++)
		if (rflow_put_dir(skb, i ? RFLOW_A_REPLY : RFLOW_A_ORIG, &f->dir[i], omit_key,
				  omit_actions))
			goto cancel;
	if (f->reason && nla_put_u8(skb, RFLOW_A_REASON, f->reason))
		goto cancel;
	genlmsg_end(skb, hdr);
	return 0;
cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

void rflow_nl_reply_set_generation(struct rflow_nl_reply *r, u32 generation)
{
	/*
	 * The cursor survives table resizes and flow churn (every flow present for the whole
	 * dump is reported exactly once); only a flowtable created or deleted during the dump
	 * makes it incomplete or stale, and genl_dump_check_consistent() then marks the next
	 * message NLM_F_DUMP_INTR. The generation is never 0, which would disable the check.
	 */
	if (r->cb)
		r->cb->seq = generation;
}

int rflow_nl_put_flow(struct rflow_nl_reply *r, const struct rflow_nl_flow *f)
{
	return rflow_fill_flow(r->skb, r->portid, r->seq, r->nlflags, r->cmd, r->ufid_flags, f,
			       r->cb);
}

int rflow_nl_put_terse(struct rflow_nl_reply *r, const struct rflow_nl_counters *c)
{
	void *hdr;

	hdr = rflow_put_head(r->skb, r->portid, r->seq, r->nlflags, r->cmd, c, r->cb);
	if (!hdr)
		return -EMSGSIZE;
	genlmsg_end(r->skb, hdr);
	return 0;
}

int rflow_nl_put_ft_stats(struct rflow_nl_reply *r, const struct rflow_nl_ft_stats *st)
{
	static const u16 by_reason[__RFLOW_REASON_MAX] = {
		[RFLOW_REASON_EXPIRED] = RFLOW_FTS_A_EXPIRED,
		[RFLOW_REASON_CLOSED] = RFLOW_FTS_A_CLOSED,
		[RFLOW_REASON_ROUTE] = RFLOW_FTS_A_ROUTE,
		[RFLOW_REASON_DEVICE] = RFLOW_FTS_A_DEVICE,
		[RFLOW_REASON_USER] = RFLOW_FTS_A_USER,
		[RFLOW_REASON_FLUSH] = RFLOW_FTS_A_FLUSH,
	};
	struct sk_buff *skb = r->skb;
	struct nlattr *ft, *nest;
	u64 removed = 0;
	void *hdr;
	int i;

	hdr = genlmsg_put(skb, r->portid, r->seq, &rflow_genl_family, r->nlflags, r->cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (r->cb)
		genl_dump_check_consistent(r->cb, hdr);
	ft = nla_nest_start(skb, RFLOW_A_FLOWTABLE);
	if (!ft ||
	    nla_put_u8(skb, RFLOW_FT_A_FAMILY, st->family) ||
	    nla_put_string(skb, RFLOW_FT_A_TABLE, st->table) ||
	    nla_put_string(skb, RFLOW_FT_A_NAME, st->name))
		goto cancel;
	nla_nest_end(skb, ft);
	nest = nla_nest_start(skb, RFLOW_A_FT_STATS);
	if (!nest)
		goto cancel;
	/* A flow torn down without a reason counts in the total only. */
	for (i = 0; i < __RFLOW_REASON_MAX; i++) {
		removed += st->removed[i];
		if (by_reason[i] &&
		    nla_put_u64_64bit(skb, by_reason[i], st->removed[i], RFLOW_FTS_A_PAD))
			goto cancel;
	}
	if (nla_put_u64_64bit(skb, RFLOW_FTS_A_FLOWS, st->flows, RFLOW_FTS_A_PAD) ||
	    nla_put_u64_64bit(skb, RFLOW_FTS_A_CREATED, st->created, RFLOW_FTS_A_PAD) ||
	    nla_put_u64_64bit(skb, RFLOW_FTS_A_REMOVED, removed, RFLOW_FTS_A_PAD) ||
	    nla_put(skb, RFLOW_FTS_A_STATS, sizeof(st->sw), &st->sw) ||
	    nla_put(skb, RFLOW_FTS_A_HW_STATS, sizeof(st->hw), &st->hw) ||
	    nla_put_u64_64bit(skb, RFLOW_FTS_A_HW_FLOWS, st->hw_flows, RFLOW_FTS_A_PAD) ||
	    nla_put_u32(skb, RFLOW_FTS_A_BUCKETS, st->buckets) ||
	    nla_put_u64_64bit(skb, RFLOW_FTS_A_GROWN, st->grown, RFLOW_FTS_A_PAD) ||
	    nla_put_u64_64bit(skb, RFLOW_FTS_A_SHRUNK, st->shrunk, RFLOW_FTS_A_PAD) ||
	    nla_put_u64_64bit(skb, RFLOW_FTS_A_RESIZE_FAILED, st->resize_failed, RFLOW_FTS_A_PAD))
		goto cancel;
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/* Reads RFLOW_A_FLOWTABLE (validated by the policy) into `ft`. */
static int rflow_parse_ft(struct nlattr *attr, struct rflow_nl_ft_filter *ft,
			  struct netlink_ext_ack *extack)
{
	struct nlattr *tb[RFLOW_FT_A_MAX + 1];
	int err;

	memset(ft, 0, sizeof(*ft));
	if (!attr)
		return 0;
	err = nla_parse_nested(tb, RFLOW_FT_A_MAX, attr, rflow_ft_policy, extack);
	if (err)
		return err;
	if (tb[RFLOW_FT_A_FAMILY])
		ft->family = nla_get_u8(tb[RFLOW_FT_A_FAMILY]);
	if (tb[RFLOW_FT_A_TABLE]) {
		nla_strscpy(ft->table, tb[RFLOW_FT_A_TABLE], sizeof(ft->table));
		ft->has_table = true;
	}
	if (tb[RFLOW_FT_A_NAME]) {
		nla_strscpy(ft->name, tb[RFLOW_FT_A_NAME], sizeof(ft->name));
		ft->has_name = true;
	}
	return 0;
}

typedef int (*rflow_nl_by_ufid_fn)(struct net *net, const u8 *ufid, struct rflow_nl_reply *r);

/* GET and DEL: one flow by UFID, answered with the flow. */
static int rflow_nl_by_ufid(struct genl_info *info, u8 cmd, rflow_nl_by_ufid_fn fn,
			    const char *missing, const char *unknown)
{
	struct rflow_nl_reply r = {};
	struct sk_buff *msg;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, RFLOW_A_UFID)) {
		NL_SET_ERR_MSG_FMT(info->extack, "%s", missing);
		return -EINVAL;
	}
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	r.skb = msg;
	r.portid = info->snd_portid;
	r.seq = info->snd_seq;
	r.cmd = cmd;
	if (info->attrs[RFLOW_A_UFID_FLAGS])
		r.ufid_flags = nla_get_u32(info->attrs[RFLOW_A_UFID_FLAGS]);
	err = fn(genl_info_net(info), nla_data(info->attrs[RFLOW_A_UFID]), &r);
	if (err) {
		nlmsg_free(msg);
		if (err == -ENOENT) {
			NL_SET_BAD_ATTR(info->extack, info->attrs[RFLOW_A_UFID]);
			NL_SET_ERR_MSG_FMT(info->extack, "%s", unknown);
		}
		return err;
	}
	return genlmsg_reply(msg, info);
}

static int rflow_nl_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	return rflow_nl_by_ufid(info, RFLOW_CMD_GET, rflow_nl->get,
				"GET needs a UFID; a dump lists all flows",
				"no flow with this UFID in this namespace");
}

static int rflow_nl_del_doit(struct sk_buff *skb, struct genl_info *info)
{
	/* Never a flush: OVS's DEL without a key empties the datapath. */
	return rflow_nl_by_ufid(info, RFLOW_CMD_DEL, rflow_nl->del,
				"DEL needs a UFID; FLUSH removes all flows",
				"no live flow with this UFID in this namespace");
}

static int rflow_nl_flush_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct rflow_nl_ft_filter *ft;
	struct sk_buff *msg;
	void *hdr;
	long n;
	int err;

	ft = kmalloc(sizeof(*ft), GFP_KERNEL);
	if (!ft)
		return -ENOMEM;
	err = rflow_parse_ft(info->attrs[RFLOW_A_FLOWTABLE], ft, info->extack);
	if (err)
		goto out;
	n = rflow_nl->flush(genl_info_net(info), ft);
	if (n < 0) {
		err = n;
		if (err == -ENOENT)
			NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[RFLOW_A_FLOWTABLE],
					    "no flowtable matches");
		goto out;
	}
	err = -ENOMEM;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		goto out;
	hdr = genlmsg_put_reply(msg, info, &rflow_genl_family, 0, RFLOW_CMD_FLUSH);
	if (!hdr || nla_put_u32(msg, RFLOW_A_COUNT, min_t(long, n, U32_MAX))) {
		nlmsg_free(msg);
		goto out;
	}
	genlmsg_end(msg, hdr);
	err = genlmsg_reply(msg, info);
out:
	kfree(ft);
	return err;
}

/* A dump's state: its filter, and its place (a flow dump's cursor, or STATS's last flowtable). */
struct rflow_nl_dump {
	void *cursor;
	u64 before;
	u32 ufid_flags;
	struct rflow_nl_ft_filter ft;
};

static int rflow_nl_start(struct netlink_callback *cb, bool flows)
{
	const struct genl_info *info = genl_info_dump(cb);
	struct rflow_nl_dump *d;
	int err;

	err = rflow_nl_check_perm(cb->skb, sock_net(cb->skb->sk), cb->extack);
	if (err)
		return err;
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	err = rflow_parse_ft(info->attrs[RFLOW_A_FLOWTABLE], &d->ft, cb->extack);
	if (err)
		goto fail;
	if (flows) {
		if (info->attrs[RFLOW_A_UFID_FLAGS])
			d->ufid_flags = nla_get_u32(info->attrs[RFLOW_A_UFID_FLAGS]);
		err = -ENOMEM;
		d->cursor = rflow_nl->dump_start();
		if (!d->cursor)
			goto fail;
	}
	cb->args[0] = (long)d;
	return 0;
fail:
	kfree(d);
	return err;
}

static int rflow_nl_dump_start(struct netlink_callback *cb)
{
	return rflow_nl_start(cb, true);
}

static int rflow_nl_stats_start(struct netlink_callback *cb)
{
	return rflow_nl_start(cb, false);
}

/* One part of a dump of command `cmd`, filled by `fill`. */
static int rflow_nl_dump_part(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd,
			      int (*fill)(struct net *net, struct rflow_nl_dump *d,
					  struct rflow_nl_reply *r))
{
	struct rflow_nl_dump *d = (struct rflow_nl_dump *)cb->args[0];
	struct rflow_nl_reply r = {
		.skb = skb,
		.cb = cb,
		.portid = NETLINK_CB(cb->skb).portid,
		.seq = cb->nlh->nlmsg_seq,
		.ufid_flags = d->ufid_flags,
		.nlflags = NLM_F_MULTI,
		.cmd = cmd,
	};
	int err;

	err = fill(sock_net(skb->sk), d, &r);
	if (err == -ENOENT)
		NL_SET_ERR_MSG(cb->extack, "no flowtable matches the filter");
	if (err)
		return err;
	return skb->len;
}

static int rflow_nl_fill_flows(struct net *net, struct rflow_nl_dump *d, struct rflow_nl_reply *r)
{
	return rflow_nl->dump(net, d->cursor, &d->ft, r);
}

static int rflow_nl_fill_stats(struct net *net, struct rflow_nl_dump *d, struct rflow_nl_reply *r)
{
	return rflow_nl->stats(net, &d->before, &d->ft, r);
}

static int rflow_nl_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	return rflow_nl_dump_part(skb, cb, RFLOW_CMD_GET, rflow_nl_fill_flows);
}

static int rflow_nl_stats_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	return rflow_nl_dump_part(skb, cb, RFLOW_CMD_STATS, rflow_nl_fill_stats);
}

static int rflow_nl_dump_done(struct netlink_callback *cb)
{
	struct rflow_nl_dump *d = (struct rflow_nl_dump *)cb->args[0];

	if (d) {
		if (d->cursor)
			rflow_nl->dump_done(d->cursor);
		kfree(d);
	}
	return 0;
}

static int rflow_nl_event_only(struct sk_buff *skb, struct genl_info *info)
{
	NL_SET_ERR_MSG(info->extack, "NEW and HW are events; flows are created by nft rules");
	return -EOPNOTSUPP;
}

/* Sorted by command, as genl_register_family() insists. */
static const struct genl_split_ops rflow_genl_ops[] = {
	{
		.cmd = RFLOW_CMD_GET,
		.doit = rflow_nl_get_doit,
		.policy = rflow_get_policy,
		.maxattr = RFLOW_A_UFID_FLAGS,
		.pre_doit = rflow_nl_pre_doit,
		.flags = GENL_CMD_CAP_DO,
	},
	{
		.cmd = RFLOW_CMD_GET,
		.start = rflow_nl_dump_start,
		.dumpit = rflow_nl_dumpit,
		.done = rflow_nl_dump_done,
		.policy = rflow_dump_policy,
		.maxattr = RFLOW_A_FLOWTABLE,
		.flags = GENL_CMD_CAP_DUMP,
	},
	{
		.cmd = RFLOW_CMD_DEL,
		.doit = rflow_nl_del_doit,
		.policy = rflow_del_policy,
		.maxattr = RFLOW_A_UFID_FLAGS,
		.pre_doit = rflow_nl_pre_doit,
		.flags = GENL_CMD_CAP_DO,
	},
	{
		.cmd = RFLOW_CMD_FLUSH,
		.doit = rflow_nl_flush_doit,
		.policy = rflow_flush_policy,
		.maxattr = RFLOW_A_FLOWTABLE,
		.pre_doit = rflow_nl_pre_doit,
		.flags = GENL_CMD_CAP_DO,
	},
	{
		.cmd = RFLOW_CMD_NEW,
		.doit = rflow_nl_event_only,
		.pre_doit = rflow_nl_pre_doit,
		.flags = GENL_CMD_CAP_DO,
	},
	{
		.cmd = RFLOW_CMD_HW,
		.doit = rflow_nl_event_only,
		.pre_doit = rflow_nl_pre_doit,
		.flags = GENL_CMD_CAP_DO,
	},
	{
		.cmd = RFLOW_CMD_STATS,
		.start = rflow_nl_stats_start,
		.dumpit = rflow_nl_stats_dumpit,
		.done = rflow_nl_dump_done,
		.policy = rflow_flush_policy,
		.maxattr = RFLOW_A_FLOWTABLE,
		.flags = GENL_CMD_CAP_DUMP,
	},
};

static const struct genl_multicast_group rflow_mcgrps[] = {
	{ .name = RFLOW_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_NET_ADMIN },
};

static struct genl_family rflow_genl_family __ro_after_init = {
	.name = RFLOW_GENL_NAME,
	.version = RFLOW_GENL_VERSION,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.split_ops = rflow_genl_ops,
	.n_split_ops = ARRAY_SIZE(rflow_genl_ops),
	.resv_start_op = 0,
	.mcgrps = rflow_mcgrps,
	.n_mcgrps = ARRAY_SIZE(rflow_mcgrps),
};

int rflow_genl_register(const struct rflow_genl_handlers *h)
{
	rflow_nl = h;
	return genl_register_family(&rflow_genl_family);
}

void rflow_genl_unregister(void)
{
	/* Waits for running operations; a dump in progress holds a module reference. */
	genl_unregister_family(&rflow_genl_family);
}

bool rflow_nl_listening(struct net *net)
{
	return genl_has_listeners(&rflow_genl_family, net, 0);
}

/* The largest message rflow_fill_flow() can make of one direction. */
static size_t rflow_dir_msg_size(void)
{
	return nla_total_size(0) +			/* the direction's nest */
		2 * nla_total_size(sizeof(u8)) +	/* L3PROTO, L4PROTO */
		2 * nla_total_size(16) +		/* SRC, DST */
		2 * nla_total_size(sizeof(u16)) +	/* SPORT, DPORT */
		nla_total_size(sizeof(u32)) +		/* IIF */
		RFLOW_NL_ENCAP_MAX * (nla_total_size(0) + 2 * nla_total_size(sizeof(u16))) +
		nla_total_size(sizeof(u8)) +		/* XMIT */
		2 * nla_total_size(sizeof(u32));	/* OIF, MTU */
}

/* The size of an event about `f`: events are built in softirq, as small as they can be. */
static size_t rflow_flow_msg_size(const struct rflow_nl_flow *f)
{
	return 2 * nla_total_size(sizeof(struct rflow_stats)) +
		nla_total_size(RFLOW_UFID_LEN) +
		nla_total_size(0) +			/* FLOWTABLE */
		nla_total_size(sizeof(u8)) +		/* FAMILY */
		nla_total_size(strlen(f->ft_table) + 1) +
		nla_total_size(strlen(f->ft_name) + 1) +
		4 * nla_total_size(sizeof(u32)) +	/* FLAGS, CT_ID, EXPIRES_MS, IDLE_MS */
		2 * nla_total_size(sizeof(u8)) +	/* HW_STATE, REASON */
		nla_total_size(sizeof(u16)) +		/* ZONE */
		2 * rflow_dir_msg_size();
}

void rflow_nl_event(struct net *net, u8 cmd, const struct rflow_nl_flow *f)
{
	struct sk_buff *skb;

	skb = genlmsg_new(rflow_flow_msg_size(f), GFP_ATOMIC);
	if (!skb)
		goto lost;
	if (rflow_fill_flow(skb, 0, 0, 0, cmd, 0, f, NULL)) {
		kfree_skb(skb);
		goto lost;
	}
	/* A listener whose buffer is full gets ENOBUFS from its socket, as with conntrack. */
	genlmsg_multicast_netns(&rflow_genl_family, net, skb, 0, 0, GFP_ATOMIC);
	return;
lost:
	/* Listeners learn that they missed an event. */
	genl_set_err(&rflow_genl_family, net, 0, 0, -ENOBUFS);
}
