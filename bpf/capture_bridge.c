// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* weft capture, tc INGRESS on a bridge device whose ports are enrolled pods' host veths (bridge
 * CNIs): frames that capture_from_pod.c marked on a port and addressed to the bridge arrive here
 * when the bridge passes them up to the node's IP stack.
 *
 * Why not assign on the port: with br_netfilter (bridge-nf-call-iptables = 1, what Kubernetes
 * asks for, and bridge-nf-call-ip6tables for IPv6), the bridge runs the IP prerouting hooks on
 * the port's frames and the socket assigned by bpf_sk_assign on the port does not survive that
 * path (verified: the SYN then met no socket and was reset). Here, after the bridge, it does:
 * ip_rcv and ip6_rcv keep a prefetched socket.
 *
 *  - mark_loop (a to-pod packet bounced by capture_to_pod.c): HBONE or inbound listener;
 *  - mark_capture (TCP from an enrolled pod): existing socket, else the outbound listener;
 *  - anything else (traffic of pods that are not enrolled, passed up as usual): untouched.
 * IPv4 and IPv6 TCP alike (weft_enrolled or weft_enrolled6, each family's listeners).
 * The marks also kept these frames untracked on the way (conntrack-bypass.ts), so no NAT
 * rewrote them. No listener: dropped (fail closed).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/capture.h"

/* mark_loop or mark_capture (IPv4 or IPv6 alike): 1 for mark_loop, 0 for mark_capture, -1 for
 * neither (a frame that no port program marked). */
static __always_inline int weft_bridge_looped(const struct __sk_buff *skb, const struct weft_config *cfg)
{
	__u32 mark = skb->mark & cfg->mark_mask;

	if (mark == (cfg->mark_loop & cfg->mark_mask))
		return 1;
	if (mark == (cfg->mark_capture & cfg->mark_mask))
		return 0;
	return -1;
}

SEC("tc")
int weft_bridge(struct __sk_buff *skb)
{
	const struct weft_config *cfg;
	struct weft_flow f;
	struct weft_flow6 f6;
	int looped, v6;

	v6 = weft_parse_tcp6(skb, &f6);
	if (v6 == 0 && !weft_parse_tcp4(skb, &f))
		return TC_ACT_OK;
	cfg = weft_get_config();
	if (!cfg)
		return TC_ACT_OK; /* the ports' programs drop enrolled traffic until ready */
	looped = weft_bridge_looped(skb, cfg);
	if (looped < 0)
		return TC_ACT_OK;
	if (v6 < 0)
		return TC_ACT_SHOT; /* the port programs never mark these; fail closed all the same */
	if (looped)
		weft_set_mark(skb, cfg, 0);
	if (v6 > 0) {
		if (!looped && !weft_is_enrolled6(&f6.saddr))
			return TC_ACT_SHOT;
		return weft_capture_tcp6(skb, cfg, &f6, looped);
	}
	if (!looped && !weft_is_enrolled(f.saddr))
		return TC_ACT_SHOT;
	return weft_capture_tcp(skb, cfg, &f, looped);
}

char _license[] SEC("license") = "Dual BSD/GPL";
