/* weft capture: packet parsing. Ethernet + IPv4 or IPv6 + TCP is captured (and IPv4 UDP for
 * DNS); anything else is reported as "not TCP" and the programs let it pass untouched.
 */
#ifndef WEFT_LIB_PARSE_H
#define WEFT_LIB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "../config.h"

struct weft_flow {
	__u32 saddr, daddr; /* network byte order */
	__u16 sport, dport; /* network byte order */
};

/* Returns 1 and fills *flow for an IPv4 TCP packet whose headers are in the linear data. */
static __always_inline int weft_parse_tcp4(struct __sk_buff *skb, struct weft_flow *flow)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
		return 0;
	/* Fragments other than the first carry no TCP header. */
	if (ip->frag_off & bpf_htons(0x1fff))
		return 0;
	tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > end)
		return 0;
	flow->saddr = ip->saddr;
	flow->daddr = ip->daddr;
	flow->sport = tcp->source;
	flow->dport = tcp->dest;
	return 1;
}

/* Returns 1 and fills *flow and *l4off (offset of the UDP header) for an unfragmented IPv4 UDP
 * packet whose headers are in the linear data. */
static __always_inline int weft_parse_udp4(struct __sk_buff *skb, struct weft_flow *flow, __u32 *l4off)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
		return 0;
	if (ip->frag_off & bpf_htons(0x3fff))
		return 0;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return 0;
	flow->saddr = ip->saddr;
	flow->daddr = ip->daddr;
	flow->sport = udp->source;
	flow->dport = udp->dest;
	*l4off = sizeof(*eth) + ip->ihl * 4;
	return 1;
}

struct weft_flow6 {
	struct weft_ip6 saddr, daddr; /* network byte order */
	__u16 sport, dport;           /* network byte order */
};

/* IPv6 TCP: 1 and *flow filled when TCP follows the fixed header directly (the usual case);
 * -1 for an IPv6 packet whose next header is an extension header (hop-by-hop, routing,
 * fragment, destination options): it may carry TCP the programs cannot see, so the caller
 * fails closed for enrolled pods; 0 for anything else (not IPv6, or another protocol: ICMPv6
 * neighbour discovery must pass). */
static __always_inline int weft_parse_tcp6(struct __sk_buff *skb, struct weft_flow6 *flow)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	struct tcphdr *tcp;
	__u8 nexthdr;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return 0;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > end)
		return 0;
	/* Addresses first: the caller needs them for the fail-closed decision of -1 too. */
	__builtin_memcpy(&flow->saddr, &ip6->saddr, sizeof(flow->saddr));
	__builtin_memcpy(&flow->daddr, &ip6->daddr, sizeof(flow->daddr));
	flow->sport = 0;
	flow->dport = 0;
	nexthdr = ip6->nexthdr;
	if (nexthdr == 0 || nexthdr == 43 || nexthdr == 44 || nexthdr == 60)
		return -1;
	if (nexthdr != IPPROTO_TCP)
		return 0;
	tcp = (void *)(ip6 + 1);
	if ((void *)(tcp + 1) > end)
		return -1;
	flow->sport = tcp->source;
	flow->dport = tcp->dest;
	return 1;
}

/* Returns 1 and fills *flow and *l4off for an IPv6 UDP packet whose UDP header follows the fixed
 * header directly (DNS queries do; anything else is left alone). */
static __always_inline int weft_parse_udp6(struct __sk_buff *skb, struct weft_flow6 *flow, __u32 *l4off)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	struct udphdr *udp;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return 0;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP)
		return 0;
	udp = (void *)(ip6 + 1);
	if ((void *)(udp + 1) > end)
		return 0;
	__builtin_memcpy(&flow->saddr, &ip6->saddr, sizeof(flow->saddr));
	__builtin_memcpy(&flow->daddr, &ip6->daddr, sizeof(flow->daddr));
	flow->sport = udp->source;
	flow->dport = udp->dest;
	*l4off = sizeof(*eth) + sizeof(*ip6);
	return 1;
}

#endif
