// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* weft capture, tc EGRESS on an enrolled pod's host-side veth: packets about to enter the pod.
 *
 * bpf_sk_assign only works at tc ingress, so a packet that must reach ztunnel instead of the
 * pod is bounced to this veth's own ingress (bpf_redirect with BPF_F_INGRESS) with mark_loop
 * set, where capture_from_pod.c assigns it. This covers every source alike (other pods,
 * enrolled or not, the uplink, node processes), and replies to ztunnel's transparent upstream
 * sockets that use this pod's IP as their source.
 *
 * ztunnel's own packets (SO_MARK = mark_ztunnel on all its sockets) enter the pod untouched.
 * IPv6 TCP to a pod in weft_enrolled6 is bounced the same way (weft_to_pod6), on a bridge port
 * too (weft_bounce_macs).
 *
 * DNS capture: ztunnel's UDP reply (source port port_dns) to a pod query remembered by
 * capture_from_pod.c gets the asked nameserver's address and port 53 as its source, checksums
 * fixed, so the pod's resolver accepts it. (The query was rewritten to dns_addr:port_dns.)
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/capture.h"

/* Makes the bounced frame look as if the pod sent it to the node. Routed veth: the MACs are
 * swapped (destination = the veth's own, which sent it), otherwise the stack would see
 * PACKET_OTHERHOST on ingress and drop it. Bridge port: source = the pod's MAC (what the bridge
 * has learnt on this port), destination = the port's own (a local address of the bridge, and
 * the veth's, so the redirect computes PACKET_HOST), so the bridge passes it up. */
static __always_inline int weft_bounce_macs(struct __sk_buff *skb, const struct weft_port *port)
{
	__u8 macs[2 * ETH_ALEN];
	__u8 out[2 * ETH_ALEN];

	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)) < 0)
		return -1;
	if (port)
		__builtin_memcpy(out, port->mac, ETH_ALEN);
	else
		__builtin_memcpy(out, macs + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(out + ETH_ALEN, macs, ETH_ALEN);
	return bpf_skb_store_bytes(skb, 0, out, sizeof(out), 0);
}

static __always_inline int weft_dns_reply(struct __sk_buff *skb, const struct weft_flow *f, __u32 l4off)
{
	struct weft_dns_key key = { .pod = f->daddr, .port = f->dport };
	const __u32 *nameserver = bpf_map_lookup_elem(&weft_dns_nat, &key);

	if (!nameserver)
		return TC_ACT_OK; /* not a reply to a captured query */
	if (weft_udp_rewrite(skb, l4off, ETH_HLEN + offsetof(struct iphdr, saddr), f->saddr, *nameserver,
			     l4off + offsetof(struct udphdr, source), f->sport, bpf_htons(53)) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

static __always_inline int weft_dns_reply6(struct __sk_buff *skb, const struct weft_flow6 *f, __u32 l4off)
{
	struct weft_dns_key6 key = { .pod = f->daddr, .port = f->dport };
	const struct weft_ip6 *nameserver = bpf_map_lookup_elem(&weft_dns_nat6, &key);
	struct weft_ip6 ns;

	if (!nameserver)
		return TC_ACT_OK; /* not a reply to a captured query */
	ns = *nameserver;
	if (weft_udp6_rewrite(skb, l4off, ETH_HLEN + 8, &f->saddr, &ns, l4off + offsetof(struct udphdr, source), f->sport,
			      bpf_htons(53)) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* A to-pod packet to capture: bounced to this veth's ingress with mark_loop (both families). */
static __always_inline int weft_bounce(struct __sk_buff *skb, const struct weft_config *cfg)
{
	if (weft_bounce_macs(skb, weft_get_port(skb->ifindex)) < 0)
		return TC_ACT_SHOT;
	weft_set_mark(skb, cfg, cfg->mark_loop);
	return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

/* IPv6 TCP to an enrolled pod: the same as IPv4 below, against weft_enrolled6. */
static __always_inline int weft_to_pod6(struct __sk_buff *skb, const struct weft_flow6 *f, int parsed)
{
	const struct weft_config *cfg;

	if (!weft_is_enrolled6(&f->daddr))
		return TC_ACT_OK;
	cfg = weft_get_config();
	if (!cfg || parsed < 0)
		return TC_ACT_SHOT; /* not configured, or TCP behind extension headers: fail closed */
	if ((skb->mark & cfg->mark_mask) == (cfg->mark_ztunnel & cfg->mark_mask))
		return TC_ACT_OK;
	return weft_bounce(skb, cfg);
}

SEC("tc")
int weft_to_pod(struct __sk_buff *skb)
{
	const struct weft_config *cfg;
	struct weft_flow f;
	struct weft_flow6 f6;
	__u32 l4off;
	int v6;

	if (weft_parse_udp6(skb, &f6, &l4off)) {
		cfg = weft_get_config();
		if (cfg && (cfg->flags & WEFT_CFG_DNS) && f6.sport == bpf_htons(cfg->port_dns) && weft_is_enrolled6(&f6.daddr))
			return weft_dns_reply6(skb, &f6, l4off);
		return TC_ACT_OK;
	}
	if (weft_parse_udp4(skb, &f, &l4off)) {
		cfg = weft_get_config();
		/* ztunnel's reply may leave from any of the node's addresses (it answers from a wildcard
		 * socket): the remembered query, not the source address, identifies it. */
		if (cfg && (cfg->flags & WEFT_CFG_DNS) && f.sport == bpf_htons(cfg->port_dns) && weft_is_enrolled(f.daddr))
			return weft_dns_reply(skb, &f, l4off);
		return TC_ACT_OK;
	}
	v6 = weft_parse_tcp6(skb, &f6);
	if (v6 != 0)
		return weft_to_pod6(skb, &f6, v6);
	if (!weft_parse_tcp4(skb, &f))
		return TC_ACT_OK;
	cfg = weft_get_config();
	if (!cfg)
		return weft_is_enrolled(f.daddr) ? TC_ACT_SHOT : TC_ACT_OK;
	if (!weft_is_enrolled(f.daddr))
		return TC_ACT_OK;
	if ((skb->mark & cfg->mark_mask) == (cfg->mark_ztunnel & cfg->mark_mask))
		return TC_ACT_OK;
	return weft_bounce(skb, cfg);
}

char _license[] SEC("license") = "Dual BSD/GPL";
