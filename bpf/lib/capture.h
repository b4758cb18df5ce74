/* weft capture: handing a packet to a local socket (bpf_sk_assign at tc ingress).
 *
 * Invariants:
 *  - a packet that belongs to an existing non-listening socket of the node namespace (ztunnel's
 *    accepted or transparent upstream sockets) is assigned to it, whoever sent it;
 *  - a packet to capture is assigned to ztunnel's listener, or DROPPED when there is none
 *    (ztunnel down): enrolled traffic never bypasses ztunnel in clear (fail closed);
 *  - every assigned packet gets mark_capture, which the policy rule routes to a table holding
 *    `local 0.0.0.0/0 dev lo` (and `local ::/0 dev lo` for IPv6), so the kernel delivers it
 *    locally even for a foreign address;
 *  - IPv4 and IPv6 take the same decisions (weft_*6 are the IPv6 forms), each family finding
 *    ztunnel's listener of its own family;
 *  - on a bridge port (weft_ports entry) a frame to capture gets a local MAC of the bridge as
 *    destination and PACKET_HOST, so the bridge passes it up to the node's IP stack instead of
 *    switching it to another port; the assignment happens on the bridge device
 *    (capture_bridge.c), because the bridge's netfilter path (br_netfilter) drops a socket
 *    assigned on the port (docs/capture.md, "Bridge CNIs"). Both families alike.
 */
#ifndef WEFT_LIB_CAPTURE_H
#define WEFT_LIB_CAPTURE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "../config.h"
#include "parse.h"
#include "maps.h"

#ifndef BPF_F_CURRENT_NETNS
#define BPF_F_CURRENT_NETNS (-1L)
#endif

static __always_inline void weft_set_mark(struct __sk_buff *skb, const struct weft_config *cfg, __u32 mark)
{
	skb->mark = (skb->mark & ~cfg->mark_mask) | (mark & cfg->mark_mask);
}

static __always_inline void weft_tuple(struct bpf_sock_tuple *t, const struct weft_flow *f, __u16 dport)
{
	t->ipv4.saddr = f->saddr;
	t->ipv4.daddr = f->daddr;
	t->ipv4.sport = f->sport;
	t->ipv4.dport = dport;
}

static __always_inline void weft_tuple6(struct bpf_sock_tuple *t, const struct weft_flow6 *f, __u16 dport)
{
	__builtin_memcpy(t->ipv6.saddr, f->saddr.a, sizeof(t->ipv6.saddr));
	__builtin_memcpy(t->ipv6.daddr, f->daddr.a, sizeof(t->ipv6.daddr));
	t->ipv6.sport = f->sport;
	t->ipv6.dport = dport;
}

/* Both families: `size` is sizeof(t->ipv4) or sizeof(t->ipv6), which tells the helpers which. */
static __always_inline int weft_assign_established_t(struct __sk_buff *skb, const struct weft_config *cfg,
						     struct bpf_sock_tuple *t, __u32 size)
{
	struct bpf_sock *sk;
	int assigned = 0;

	sk = bpf_skc_lookup_tcp(skb, t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	/* A listener is a new connection's business; a TIME_WAIT socket must not swallow a new SYN. */
	if (sk->state != BPF_TCP_LISTEN && sk->state != BPF_TCP_TIME_WAIT) {
		if (bpf_sk_assign(skb, sk, 0) == 0) {
			weft_set_mark(skb, cfg, cfg->mark_capture);
			assigned = 1;
		}
	}
	bpf_sk_release(sk);
	return assigned;
}

/* 1 if the packet was assigned to an existing connection's socket, 0 otherwise. */
static __always_inline int weft_assign_established(struct __sk_buff *skb, const struct weft_config *cfg,
						   const struct weft_flow *f)
{
	struct bpf_sock_tuple t = {};

	weft_tuple(&t, f, f->dport);
	return weft_assign_established_t(skb, cfg, &t, sizeof(t.ipv4));
}

static __always_inline int weft_assign_established6(struct __sk_buff *skb, const struct weft_config *cfg,
						    const struct weft_flow6 *f)
{
	struct bpf_sock_tuple t = {};

	weft_tuple6(&t, f, f->dport);
	return weft_assign_established_t(skb, cfg, &t, sizeof(t.ipv6));
}

static __always_inline int weft_assign_listener_t(struct __sk_buff *skb, const struct weft_config *cfg,
						  struct bpf_sock_tuple *t, __u32 size)
{
	struct bpf_sock *sk;
	int verdict = TC_ACT_SHOT;

	sk = bpf_sk_lookup_tcp(skb, t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return TC_ACT_SHOT; /* ztunnel is not listening: fail closed */
	if (sk->state == BPF_TCP_LISTEN && bpf_sk_assign(skb, sk, 0) == 0) {
		weft_set_mark(skb, cfg, cfg->mark_capture);
		verdict = TC_ACT_OK;
	}
	bpf_sk_release(sk);
	return verdict;
}

/* Assigns the packet to ztunnel's listener on `port` (host order). TC_ACT_OK or TC_ACT_SHOT. */
static __always_inline int weft_assign_listener(struct __sk_buff *skb, const struct weft_config *cfg,
						const struct weft_flow *f, __u16 port)
{
	struct bpf_sock_tuple t = {};

	weft_tuple(&t, f, bpf_htons(port));
	return weft_assign_listener_t(skb, cfg, &t, sizeof(t.ipv4));
}

/* IPv6: ztunnel's [::] listener on `port` (a v6-only socket; the IPv4 one is separate). */
static __always_inline int weft_assign_listener6(struct __sk_buff *skb, const struct weft_config *cfg,
						 const struct weft_flow6 *f, __u16 port)
{
	struct bpf_sock_tuple t = {};

	weft_tuple6(&t, f, bpf_htons(port));
	return weft_assign_listener_t(skb, cfg, &t, sizeof(t.ipv6));
}

/* The TCP decisions (docs/capture.md, "Decisions"), assigning the packet: existing socket, then a
 * bounced to-pod packet (`looped`) to the HBONE or inbound listener, then a packet from an
 * enrolled pod to the outbound listener; anything else passes. */
static __always_inline int weft_capture_tcp(struct __sk_buff *skb, const struct weft_config *cfg, const struct weft_flow *f,
					    int looped)
{
	if (weft_assign_established(skb, cfg, f))
		return TC_ACT_OK;
	if (looped) {
		if (!weft_is_enrolled(f->daddr))
			return TC_ACT_SHOT; /* only to-pod programs of enrolled pods bounce packets */
		if (f->dport == bpf_htons(cfg->port_hbone))
			return weft_assign_listener(skb, cfg, f, cfg->port_hbone);
		return weft_assign_listener(skb, cfg, f, cfg->port_inbound);
	}
	if (weft_is_enrolled(f->saddr))
		return weft_assign_listener(skb, cfg, f, cfg->port_outbound);
	return TC_ACT_OK;
}

/* The same decisions for IPv6, against weft_enrolled6 and ztunnel's IPv6 listeners. */
static __always_inline int weft_capture_tcp6(struct __sk_buff *skb, const struct weft_config *cfg, const struct weft_flow6 *f,
					     int looped)
{
	if (weft_assign_established6(skb, cfg, f))
		return TC_ACT_OK;
	if (looped) {
		if (!weft_is_enrolled6(&f->daddr))
			return TC_ACT_SHOT;
		if (f->dport == bpf_htons(cfg->port_hbone))
			return weft_assign_listener6(skb, cfg, f, cfg->port_hbone);
		return weft_assign_listener6(skb, cfg, f, cfg->port_inbound);
	}
	if (weft_is_enrolled6(&f->saddr))
		return weft_assign_listener6(skb, cfg, f, cfg->port_outbound);
	return TC_ACT_OK;
}

/* Gives a frame on a bridge port the port's own MAC as destination (the bridge then passes it
 * up instead of forwarding it at layer 2) and PACKET_HOST (the type was computed for
 * the original destination; the IP stack drops PACKET_OTHERHOST); `verdict` is passed through.
 * A routed veth (no port entry) is left alone. */
static __always_inline int weft_pass_up(struct __sk_buff *skb, const struct weft_port *port, int verdict)
{
	if (verdict != TC_ACT_OK || !port)
		return verdict;
	if (bpf_skb_store_bytes(skb, 0, port->mac, ETH_ALEN, 0) < 0 || bpf_skb_change_type(skb, PACKET_HOST) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* TCP on a bridge port (either family), deferred to capture_bridge.c: a bounced to-pod packet
 * (`looped`, mark_loop kept) of an enrolled destination, or a packet of an enrolled source (given
 * mark_capture), is passed up; other traffic passes untouched. The enrolled tests are the
 * caller's (weft_is_enrolled or weft_is_enrolled6). */
static __always_inline int weft_defer_to_bridge(struct __sk_buff *skb, const struct weft_config *cfg, const struct weft_port *port,
						int looped, int src_enrolled, int dst_enrolled)
{
	if (looped) {
		if (!dst_enrolled)
			return TC_ACT_SHOT; /* only to-pod programs of enrolled pods bounce packets */
	} else if (src_enrolled) {
		weft_set_mark(skb, cfg, cfg->mark_capture);
	} else {
		return TC_ACT_OK;
	}
	return weft_pass_up(skb, port, TC_ACT_OK);
}

/* Rewrites a 4-byte address and a port of an IPv4 UDP packet, fixing both checksums. */
static __always_inline int weft_udp_rewrite(struct __sk_buff *skb, __u32 l4off, __u32 addr_off, __u32 old_ip, __u32 new_ip,
					    __u32 port_off, __u16 old_port, __u16 new_port)
{
	if (bpf_l4_csum_replace(skb, l4off + 6, old_ip, new_ip, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(new_ip)) < 0 ||
	    bpf_l4_csum_replace(skb, l4off + 6, old_port, new_port, BPF_F_MARK_MANGLED_0 | sizeof(new_port)) < 0 ||
	    bpf_l3_csum_replace(skb, 14 + 10, old_ip, new_ip, sizeof(new_ip)) < 0 ||
	    bpf_skb_store_bytes(skb, addr_off, &new_ip, sizeof(new_ip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0) < 0)
		return -1;
	return 0;
}

/* DNS capture: a pod's UDP query to any nameserver on port 53 is rewritten to go to ztunnel's
 * DNS socket (dns_addr:port_dns, a local address of the node), and the nameserver it asked is
 * remembered so that capture_to_pod.c can give the reply that address back. Stateless in the
 * kernel's eyes (no conntrack NAT, no socket assignment: both are undone by netfilter NAT hooks
 * in the node namespace, which the local cluster's service NAT has). */
static __always_inline int weft_capture_dns(struct __sk_buff *skb, const struct weft_config *cfg, const struct weft_flow *f,
					    __u32 l4off)
{
	struct weft_dns_key key = { .pod = f->saddr, .port = f->sport };
	__u32 nameserver = f->daddr;

	if (!cfg->dns_addr)
		return TC_ACT_SHOT;
	if (bpf_map_update_elem(&weft_dns_nat, &key, &nameserver, BPF_ANY) < 0)
		return TC_ACT_SHOT;
	if (weft_udp_rewrite(skb, l4off, 14 + 16, f->daddr, cfg->dns_addr, l4off + 2, f->dport, bpf_htons(cfg->port_dns)) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* Rewrites a 16-byte address and a port of an IPv6 UDP packet, fixing the UDP checksum (IPv6 has no
 * header checksum; the pseudo-header covers the address, 4 bytes at a time). */
static __always_inline int weft_udp6_rewrite(struct __sk_buff *skb, __u32 l4off, __u32 addr_off, const struct weft_ip6 *old_ip,
					     const struct weft_ip6 *new_ip, __u32 port_off, __u16 old_port, __u16 new_port)
{
	for (int i = 0; i < 4; i++)
		if (bpf_l4_csum_replace(skb, l4off + 6, old_ip->a[i], new_ip->a[i], BPF_F_PSEUDO_HDR | sizeof(__u32)) < 0)
			return -1;
	if (bpf_l4_csum_replace(skb, l4off + 6, old_port, new_port, sizeof(new_port)) < 0 ||
	    bpf_skb_store_bytes(skb, addr_off, new_ip, sizeof(*new_ip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0) < 0)
		return -1;
	return 0;
}

static __always_inline int weft_has_dns6(const struct weft_config *cfg)
{
	return cfg->dns_addr6[0] | cfg->dns_addr6[1] | cfg->dns_addr6[2] | cfg->dns_addr6[3];
}

/* IPv6 DNS capture, as weft_capture_dns: the query goes to dns_addr6:port_dns, the asked
 * nameserver is remembered in weft_dns_nat6. Without dns_addr6 the query is dropped (an enrolled
 * pod's DNS never bypasses ztunnel's proxy once DNS capture is on). */
static __always_inline int weft_capture_dns6(struct __sk_buff *skb, const struct weft_config *cfg, const struct weft_flow6 *f,
					     __u32 l4off)
{
	struct weft_dns_key6 key = { .pod = f->saddr, .port = f->sport };
	struct weft_ip6 nameserver = f->daddr;
	struct weft_ip6 dns;

	if (!weft_has_dns6(cfg))
		return TC_ACT_SHOT;
	__builtin_memcpy(&dns, cfg->dns_addr6, sizeof(dns));
	if (bpf_map_update_elem(&weft_dns_nat6, &key, &nameserver, BPF_ANY) < 0)
		return TC_ACT_SHOT;
	if (weft_udp6_rewrite(skb, l4off, 14 + 24, &f->daddr, &dns, l4off + 2, f->dport, bpf_htons(cfg->port_dns)) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

#endif
