#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Copies the C flowtable's module sources (nf_flow_table.ko) of kernel tree KDIR into OUT with
a Kbuild, adding the stage doubling of bench/stages.sh: built with -DSTAGE_<stage>, the fast
path of nf_flow_table_ip.c (IPv4) runs that stage a second time and discards the result.

    cstages.py KDIR OUT

Stages, as close to rust/ip.rs's as the C code allows: parse (nf_flow_tuple_ip), lookup
(flow_offload_lookup), checks (MTU, TCP state, route cookie), rewrite (writable, NAT, TTL),
account (flow_offload_refresh). Every anchor must be found, or nothing is written.
"""
import pathlib
import shutil
import sys

kdir, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
src = kdir / "net/netfilter"
text = (src / "nf_flow_table_ip.c").read_text()
# Only the IPv4 path is changed: everything before the IPv6 code.
split = text.index("static void nf_flow_nat_ipv6_tcp(")
ip, ipv6_part = text[:split], text[split:]


def insert(text, anchor, code, after=False):
    if text.count(anchor) != 1:
        sys.exit(f"anchor found {text.count(anchor)} times: {anchor!r}")
    return text.replace(anchor, anchor + code if after else code + anchor)


ip = insert(ip, "\tif (nf_flow_tuple_ip(ctx, skb, &tuple) < 0)\n\t\treturn NULL;\n", """\
#ifdef STAGE_parse
	{
		struct nf_flowtable_ctx again_ctx = *ctx;
		struct flow_offload_tuple again = {};

		nf_flow_tuple_ip(&again_ctx, skb, &again);
		barrier_data(&again);
	}
#endif
""")
ip = insert(ip, "\treturn flow_offload_lookup(flow_table, &tuple);\n}\n\nstatic int nf_flow_offload_forward(", """\
#ifdef STAGE_lookup
	{
		void *again = flow_offload_lookup(flow_table, &tuple);

		barrier_data(again);
	}
#endif
""")
ip = insert(ip, "\tmtu = flow->tuplehash[dir].tuple.mtu + ctx->offset;\n\tif (unlikely(nf_flow_exceeds_mtu(skb, mtu)))\n\t\treturn 0;\n\n\tiph = (struct iphdr *)", """\
#ifdef STAGE_checks
	{
		struct iphdr *again_iph = (struct iphdr *)(skb_network_header(skb) + ctx->offset);
		bool again;

		again = nf_flow_exceeds_mtu(skb, flow->tuplehash[dir].tuple.mtu + ctx->offset);
		again |= nf_flow_state_check(flow, again_iph->protocol, skb,
					     again_iph->ihl * 4 + ctx->offset) != 0;
		again |= !nf_flow_dst_check(&tuplehash->tuple);
		barrier_data(&again);
	}
#endif
""")
ip = insert(ip, "\tif (skb_try_make_writable(skb, thoff + ctx->hdrsize))\n\t\treturn -1;\n\n\tflow_offload_refresh(flow_table, flow, false);\n", """\
#ifdef STAGE_rewrite
	{
		int again = skb_try_make_writable(skb, thoff + ctx->hdrsize);

		barrier_data(&again);
	}
#endif
""")
ip = insert(ip, "\tflow_offload_refresh(flow_table, flow, false);\n\n\tnf_flow_encap_pop(skb, tuplehash);\n\tthoff -= ctx->offset;\n", """\
#ifdef STAGE_account
	flow_offload_refresh(flow_table, flow, false);
#endif
""", after=True)
ip = insert(ip, "\tnf_flow_nat_ip(flow, skb, thoff, dir, iph);\n\n\tip_decrease_ttl(iph);\n", """\
#ifdef STAGE_rewrite
	/* Twice without NAT: the TTL drops by two, the checksum follows. */
	nf_flow_nat_ip(flow, skb, thoff, dir, iph);
	ip_decrease_ttl(iph);
#endif
""", after=True)

if out.exists():
    shutil.rmtree(out)
out.mkdir(parents=True)
for f in ("nf_flow_table_core.c", "nf_flow_table_offload.c", "nf_flow_table_xdp.c",
          "nf_flow_table_procfs.c", "nf_flow_table_bpf.c"):
    shutil.copy(src / f, out / f)
(out / "nf_flow_table_ip.c").write_text(ip + ipv6_part)
(out / "Kbuild").write_text("""\
# The C flowtable's nf_flow_table.ko, as net/netfilter/Makefile builds it.
obj-m := nf_flow_table.o
nf_flow_table-y := nf_flow_table_core.o nf_flow_table_ip.o nf_flow_table_offload.o \\
	nf_flow_table_xdp.o
nf_flow_table-$(CONFIG_NF_FLOW_TABLE_PROCFS) += nf_flow_table_procfs.o
nf_flow_table-$(CONFIG_DEBUG_INFO_BTF) += nf_flow_table_bpf.o
ccflags-y += $(RFLOW_STAGE_CFLAGS)
""")
