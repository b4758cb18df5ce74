/* weft capture: packet parsing. Only Ethernet + IPv4 + TCP is interesting to capture; anything
 * else is reported as "not TCP/IPv4" and the programs let it pass untouched.
 */
#ifndef WEFT_LIB_PARSE_H
#define WEFT_LIB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

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

/* 1 for an IPv6 packet carrying TCP directly (no extension headers); capture is IPv4-only, so
 * the programs drop these on an enrolled pod's veth rather than let them pass in clear. */
static __always_inline int weft_is_tcp6(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u8 *nexthdr;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return 0;
	nexthdr = (__u8 *)(eth + 1) + 6; /* struct ipv6hdr.nexthdr */
	if ((void *)(nexthdr + 1) > end)
		return 0;
	return *nexthdr == IPPROTO_TCP;
}

#endif
