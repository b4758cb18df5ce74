// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* weft capture, tc INGRESS on a pod's host-side veth: packets leaving the pod, and to-pod
 * packets that capture_to_pod.c bounced back here (they carry mark_loop).
 *
 * Order of decisions (docs/capture.md, "Decisions"):
 *  1. the packet belongs to an existing socket of the node namespace -> that socket;
 *  2. bounced to-pod packet: HBONE port -> ztunnel 15008, anything else -> ztunnel 15006;
 *  3. the source pod is enrolled -> ztunnel 15001;
 *  4. otherwise the packet passes untouched.
 * IPv6 TCP takes the same decisions against weft_enrolled6 and ztunnel's IPv6 listeners
 * (weft_from_pod6); an IPv6 packet with extension headers from or to an enrolled pod is dropped.
 * UDP: with WEFT_CFG_DNS, an enrolled pod's query to port 53 (IPv4 or IPv6) goes to ztunnel's
 * DNS proxy; other UDP passes.
 * A capture without a listener drops (fail closed).
 *
 * On a bridge port (weft_ports entry) TCP to capture (either family) is not assigned here: it is marked
 * (mark_capture, or mark_loop kept for a bounced packet), addressed to the bridge itself
 * (weft_pass_up) and assigned by capture_bridge.c on the bridge device, where the same
 * decisions are taken (docs/capture.md, "Bridge CNIs").
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/capture.h"

/* The IPv6 form of the TCP decisions below. `parsed` is weft_parse_tcp6's result (1 or -1). */
static __always_inline int weft_from_pod6(struct __sk_buff *skb, const struct weft_flow6 *f, int parsed)
{
	const struct weft_config *cfg = weft_get_config();
	const struct weft_port *port;
	int looped;

	if (!cfg || parsed < 0)
		/* Not configured (yet), or TCP behind extension headers: fail closed for enrolled pods. */
		return weft_is_enrolled6(&f->saddr) || weft_is_enrolled6(&f->daddr) ? TC_ACT_SHOT : TC_ACT_OK;
	looped = (skb->mark & cfg->mark_mask) == (cfg->mark_loop & cfg->mark_mask);
	port = weft_get_port(skb->ifindex);
	if (port)
		return weft_defer_to_bridge(skb, cfg, port, looped, !looped && weft_is_enrolled6(&f->saddr),
					    looped && weft_is_enrolled6(&f->daddr));
	if (looped)
		weft_set_mark(skb, cfg, 0);
	return weft_capture_tcp6(skb, cfg, f, looped);
}

SEC("tc")
int weft_from_pod(struct __sk_buff *skb)
{
	const struct weft_config *cfg;
	const struct weft_port *port;
	struct weft_flow f;
	struct weft_flow6 f6;
	__u32 l4off;
	int looped, v6;

	if (weft_parse_udp6(skb, &f6, &l4off)) {
		cfg = weft_get_config();
		if (cfg && (cfg->flags & WEFT_CFG_DNS) && f6.dport == bpf_htons(53) && weft_is_enrolled6(&f6.saddr))
			return weft_pass_up(skb, weft_get_port(skb->ifindex), weft_capture_dns6(skb, cfg, &f6, l4off));
		return TC_ACT_OK;
	}
	if (weft_parse_udp4(skb, &f, &l4off)) {
		cfg = weft_get_config();
		if (cfg && (cfg->flags & WEFT_CFG_DNS) && f.dport == bpf_htons(53) && weft_is_enrolled(f.saddr))
			return weft_pass_up(skb, weft_get_port(skb->ifindex), weft_capture_dns(skb, cfg, &f, l4off));
		return TC_ACT_OK;
	}
	v6 = weft_parse_tcp6(skb, &f6);
	if (v6 != 0)
		return weft_from_pod6(skb, &f6, v6);
	if (!weft_parse_tcp4(skb, &f))
		return TC_ACT_OK;
	cfg = weft_get_config();
	if (!cfg)
		/* Not configured (yet): traffic of an enrolled pod must not leave in clear. */
		return weft_is_enrolled(f.saddr) || weft_is_enrolled(f.daddr) ? TC_ACT_SHOT : TC_ACT_OK;

	looped = (skb->mark & cfg->mark_mask) == (cfg->mark_loop & cfg->mark_mask);
	port = weft_get_port(skb->ifindex);
	if (port)
		return weft_defer_to_bridge(skb, cfg, port, looped, !looped && weft_is_enrolled(f.saddr), looped && weft_is_enrolled(f.daddr));
	if (looped)
		weft_set_mark(skb, cfg, 0);
	return weft_capture_tcp(skb, cfg, &f, looped);
}

char _license[] SEC("license") = "Dual BSD/GPL";
