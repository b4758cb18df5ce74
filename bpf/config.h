/* weft capture: the one configuration header for every BPF program.
 *
 * Compile-time constants (map sizes, flag bits) live here; run-time values (ports, marks) are in
 * the weft_config array map, written by the node agent before any program is attached. Keep the
 * struct layouts in sync with src/cni/redirect/ebpf-maps.ts (the TS encoder of these maps).
 */
#ifndef WEFT_CONFIG_H
#define WEFT_CONFIG_H

#include <linux/types.h>

/* How many pod IPs one node can enroll. */
#define WEFT_MAX_ENROLLED 16384

/* weft_enrolled value bits. */
#define WEFT_POD_ENROLLED 0x1

/* weft_config.flags bits. */
#define WEFT_CFG_READY 0x1 /* the agent finished writing this entry; until then enrolled traffic is dropped */
#define WEFT_CFG_DNS 0x2   /* capture enrolled pods' UDP port 53 to ztunnel's DNS proxy (port_dns) */

/* How many bridge ports (host veths enslaved to a bridge) one node can hold in weft_ports. */
#define WEFT_MAX_PORTS 4096

/* weft_ports value bits. */
#define WEFT_PORT_BRIDGED 0x1 /* the host veth is a bridge port: assigned frames must be passed up */

/* Entries of the DNS reply-rewrite table (one per in-flight query of a pod). */
#define WEFT_MAX_DNS_FLOWS 8192

/* Value of the single weft_config entry (key 0). 48 bytes, little-endian as the host writes it
 * (dns_addr, dns_addr6: network byte order). */
struct weft_config {
	__u32 mark_capture; /* set on captured packets: the fwmark rule routes them to the local table */
	__u32 mark_ztunnel; /* SO_MARK of every ztunnel socket: packets carrying it are never captured */
	__u32 mark_loop;    /* internal: a to-pod packet bounced to the veth's ingress for capture */
	__u32 mark_mask;    /* the skb->mark bits weft owns; the others are preserved */
	__u16 port_outbound;  /* 15001: connections leaving an enrolled pod */
	__u16 port_inbound;   /* 15006: plaintext connections into an enrolled pod */
	__u16 port_hbone;     /* 15008: HBONE to an enrolled pod's IP */
	__u16 flags;          /* WEFT_CFG_* */
	__u16 port_dns;       /* 15053: ztunnel's DNS proxy (UDP), with WEFT_CFG_DNS */
	__u16 pad;
	__u32 dns_addr;       /* a local address of the node where ztunnel's DNS socket receives */
	__u32 dns_addr6[4];   /* the same for IPv6 queries; all zero: IPv6 DNS is not captured */
};

/* An IPv6 address, network byte order (weft_enrolled6 key). */
struct weft_ip6 {
	__u32 a[4];
};

/* weft_dns_nat key: a pod's query source (network byte order). */
struct weft_dns_key {
	__u32 pod;
	__u16 port;
	__u16 pad;
};

/* weft_dns_nat6 key: a pod's IPv6 query source (network byte order). */
struct weft_dns_key6 {
	struct weft_ip6 pod;
	__u16 port;
	__u16 pad;
};

/* weft_ports value: an enrolled pod's host veth that is a bridge port (key: its ifindex). 8 bytes.
 * `mac` is that veth's own address, a local entry of the bridge's forwarding table: a frame
 * carrying it as destination is passed up to the node's IP stack by the bridge instead of being
 * switched to another port. (Not the bridge's own address: without one set explicitly it follows
 * the lowest port address and changes as pods come and go.) */
struct weft_port {
	__u8 mac[6];
	__u16 flags; /* WEFT_PORT_* */
};

#endif
