/* weft capture: the maps shared by the programs. All are pinned by the loader (bpftool
 * pinmaps / map ... pinned) under <pin root>/<instance>/maps/, so every program and the node
 * agent see the same instances.
 */
#ifndef WEFT_LIB_MAPS_H
#define WEFT_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../config.h"

/* Enrolled pod IPv4 addresses (network byte order) -> WEFT_POD_* flags. IPv6: weft_enrolled6. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_MAX_ENROLLED);
	__type(key, __u32);
	__type(value, __u32);
} weft_enrolled SEC(".maps");

/* Enrolled pod IPv6 addresses (16 bytes, network byte order) -> WEFT_POD_* flags. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_MAX_ENROLLED);
	__type(key, struct weft_ip6);
	__type(value, __u32);
} weft_enrolled6 SEC(".maps");

/* One entry (key 0): struct weft_config. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weft_config);
} weft_config SEC(".maps");

/* DNS capture: a pod's query source -> the nameserver address it asked (network byte order), so
 * ztunnel's reply can be given that address back as its source. LRU: abandoned queries age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_MAX_DNS_FLOWS);
	__type(key, struct weft_dns_key);
	__type(value, __u32);
} weft_dns_nat SEC(".maps");

/* The same for IPv6 queries: a pod's IPv6 query source -> the IPv6 nameserver it asked. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_MAX_DNS_FLOWS);
	__type(key, struct weft_dns_key6);
	__type(value, struct weft_ip6);
} weft_dns_nat6 SEC(".maps");

/* Enrolled pods' host veths that are bridge ports: ifindex -> struct weft_port. A veth without
 * an entry is a routed veth (ptp and the like), handled as before. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct weft_port);
} weft_ports SEC(".maps");

static __always_inline const struct weft_port *weft_get_port(__u32 ifindex)
{
	const struct weft_port *p = bpf_map_lookup_elem(&weft_ports, &ifindex);

	return p && (p->flags & WEFT_PORT_BRIDGED) ? p : 0;
}

static __always_inline const struct weft_config *weft_get_config(void)
{
	__u32 zero = 0;
	const struct weft_config *cfg = bpf_map_lookup_elem(&weft_config, &zero);

	if (!cfg || !(cfg->flags & WEFT_CFG_READY))
		return 0;
	return cfg;
}

static __always_inline int weft_is_enrolled(__u32 ip)
{
	const __u32 *flags = bpf_map_lookup_elem(&weft_enrolled, &ip);

	return flags && (*flags & WEFT_POD_ENROLLED);
}

static __always_inline int weft_is_enrolled6(const struct weft_ip6 *ip)
{
	struct weft_ip6 key = *ip; /* map keys must be on the stack */
	const __u32 *flags = bpf_map_lookup_elem(&weft_enrolled6, &key);

	return flags && (*flags & WEFT_POD_ENROLLED);
}

#endif
