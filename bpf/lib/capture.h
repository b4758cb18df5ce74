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
 *    ztunnel's listener of its own family.
 */
#ifndef WEFT_LIB_CAPTURE_H
#define WEFT_LIB_CAPTURE_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "../config.h"
#include "parse.h"
#include "maps.h"

#ifndef BPF_F_CURRENT_NETNS
#define BPF_F_CURRENT_NETNS (-1L)
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

#endif
