/* weft's native addon: the few Linux calls Node.js cannot make.
 *
 *  - socket options: IP_TRANSPARENT (ztunnel's listeners accept connections to foreign
 *    addresses; upstream sockets bind a foreign source) and SO_MARK (every ztunnel socket carries
 *    the mark the capture programs leave alone);
 *  - sockets created, configured, bound and connected/listening here, whose fd is handed to
 *    net.Server.listen({ fd }) / new net.Socket({ fd }): IP_TRANSPARENT must be set BEFORE bind()
 *    for a foreign address, which Node's own bind gives no chance to do;
 *  - both families: an IPv4 or IPv6 text address picks AF_INET or AF_INET6; IPv6 sockets get
 *    IPV6_TRANSPARENT, and IPv6 listeners IPV6_V6ONLY, so `::` and `0.0.0.0` listeners on one
 *    port coexist and each family's capture finds its own listener (as upstream ztunnel binds
 *    separate IPv4 and IPv6 listeners);
 *  - bpf(2) on pinned maps (BPF_OBJ_GET, MAP_UPDATE/LOOKUP/DELETE/GET_NEXT_KEY), so the node
 *    agent does not shell out to bpftool per pod.
 *
 * Errors are thrown as Error objects with `code` (errno name, e.g. "EPERM") and `syscall`;
 * the TypeScript wrapper (src/common/native/native.ts) turns them into Result values.
 * Every fd returned is O_NONBLOCK | O_CLOEXEC.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hbone_server.h"
#include "hbone_client.h"
#include "upstream_dial.h"
#include "tcp_accept.h"
#include "tls_keylog.h"
#include "hbone_common.h" /* IP_TRANSPARENT / IPV6_TRANSPARENT where libc lacks them */

#define CHECK(call)                                                      \
	do {                                                             \
		if ((call) != napi_ok) {                                 \
			napi_throw_error(env, "EADDON", "weft_native: " #call " failed"); \
			return NULL;                                     \
		}                                                        \
	} while (0)

static const char *errno_code(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EBADF: return "EBADF";
	case EACCES: return "EACCES";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case E2BIG: return "E2BIG";
	case ENOSPC: return "ENOSPC";
	case ENOTSOCK: return "ENOTSOCK";
	case EADDRINUSE: return "EADDRINUSE";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case ENETUNREACH: return "ENETUNREACH";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOMEM: return "ENOMEM";
	case EAGAIN: return "EAGAIN";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	default: return "EUNKNOWN";
	}
}

static napi_value make_errno_error(napi_env env, const char *syscall_name, int e)
{
	char msg[256];
	napi_value code, message, error, sys, num;

	snprintf(msg, sizeof(msg), "%s: %s", syscall_name, strerror(e));
	napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &code);
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
	napi_create_error(env, code, message, &error);
	napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &sys);
	napi_set_named_property(env, error, "syscall", sys);
	napi_create_int32(env, e, &num);
	napi_set_named_property(env, error, "errno", num);
	return error;
}

static napi_value throw_errno(napi_env env, const char *syscall_name, int e)
{
	napi_throw(env, make_errno_error(env, syscall_name, e));
	return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
		napi_throw_type_error(env, "EINVAL", "weft_native: missing arguments");
		return -1;
	}
	return 0;
}

static int get_i32(napi_env env, napi_value v, const char *what, int32_t *out)
{
	if (napi_get_value_int32(env, v, out) != napi_ok) {
		char msg[128];
		snprintf(msg, sizeof(msg), "weft_native: %s must be a number", what);
		napi_throw_type_error(env, "EINVAL", msg);
		return -1;
	}
	return 0;
}

static int get_u32(napi_env env, napi_value v, const char *what, uint32_t *out)
{
	if (napi_get_value_uint32(env, v, out) != napi_ok) {
		char msg[128];
		snprintf(msg, sizeof(msg), "weft_native: %s must be a number", what);
		napi_throw_type_error(env, "EINVAL", msg);
		return -1;
	}
	return 0;
}

/* An IPv4 or IPv6 socket address; *len is the size of the family's sockaddr. */
static int get_sockaddr(napi_env env, napi_value ipv, napi_value portv, struct sockaddr_storage *ss, socklen_t *len_out)
{
	char ip[64];
	size_t len;
	int32_t port;

	if (napi_get_value_string_utf8(env, ipv, ip, sizeof(ip), &len) != napi_ok) {
		napi_throw_type_error(env, "EINVAL", "weft_native: address must be a string");
		return -1;
	}
	if (get_i32(env, portv, "port", &port) < 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sa = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)ss;
	if (port >= 0 && port <= 65535 && inet_pton(AF_INET, ip, &sa->sin_addr) == 1) {
		sa->sin_family = AF_INET;
		sa->sin_port = htons((uint16_t)port);
		*len_out = sizeof(*sa);
		return 0;
	}
	if (port >= 0 && port <= 65535 && inet_pton(AF_INET6, ip, &sa6->sin6_addr) == 1) {
		sa6->sin6_family = AF_INET6;
		sa6->sin6_port = htons((uint16_t)port);
		*len_out = sizeof(*sa6);
		return 0;
	}
	char msg[128];
	snprintf(msg, sizeof(msg), "weft_native: invalid IPv4 or IPv6 socket address %s:%d", ip, port);
	napi_throw_type_error(env, "EINVAL", msg);
	return -1;
}

/* The address family of a socket fd (AF_INET when it cannot be read: the caller's call then fails). */
static int fd_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return AF_INET;
	return ss.ss_family;
}

static napi_value int_value(napi_env env, int32_t v)
{
	napi_value out;
	napi_create_int32(env, v, &out);
	return out;
}

/* setTransparent(fd, on) */
static napi_value set_transparent(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	int32_t fd;
	bool on;

	if (get_args(env, info, 2, argv) < 0 || get_i32(env, argv[0], "fd", &fd) < 0)
		return NULL;
	CHECK(napi_get_value_bool(env, argv[1], &on));
	int v = on ? 1 : 0;
	if (fd_family(fd) == AF_INET6) {
		if (setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &v, sizeof(v)) < 0)
			return throw_errno(env, "setsockopt(IPV6_TRANSPARENT)", errno);
		return NULL;
	}
	if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &v, sizeof(v)) < 0)
		return throw_errno(env, "setsockopt(IP_TRANSPARENT)", errno);
	return NULL;
}

/* setMark(fd, mark) */
static napi_value set_mark(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	int32_t fd;
	uint32_t mark;

	if (get_args(env, info, 2, argv) < 0 || get_i32(env, argv[0], "fd", &fd) < 0 ||
	    get_u32(env, argv[1], "mark", &mark) < 0)
		return NULL;
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		return throw_errno(env, "setsockopt(SO_MARK)", errno);
	return NULL;
}

/* getSockOpts(fd) -> { transparent, mark }: lets tests and the config dump check a socket. */
static napi_value get_sock_opts(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out, v;
	int32_t fd;
	int transparent = 0;
	uint32_t mark = 0;
	socklen_t len = sizeof(transparent);

	if (get_args(env, info, 1, argv) < 0 || get_i32(env, argv[0], "fd", &fd) < 0)
		return NULL;
	if (fd_family(fd) == AF_INET6) {
		if (getsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &transparent, &len) < 0)
			return throw_errno(env, "getsockopt(IPV6_TRANSPARENT)", errno);
	} else if (getsockopt(fd, SOL_IP, IP_TRANSPARENT, &transparent, &len) < 0)
		return throw_errno(env, "getsockopt(IP_TRANSPARENT)", errno);
	len = sizeof(mark);
	if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) < 0)
		return throw_errno(env, "getsockopt(SO_MARK)", errno);
	CHECK(napi_create_object(env, &out));
	CHECK(napi_get_boolean(env, transparent != 0, &v));
	CHECK(napi_set_named_property(env, out, "transparent", v));
	CHECK(napi_create_uint32(env, mark, &v));
	CHECK(napi_set_named_property(env, out, "mark", v));
	return out;
}

/* A TCP socket of `family` with IP_TRANSPARENT / IPV6_TRANSPARENT (and SO_MARK when mark != 0),
 * before bind. -errno on failure. */
static int transparent_socket(int family, uint32_t mark, const char **failed)
{
	int one = 1;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		*failed = "socket";
		return -errno;
	}
	if (family == AF_INET6 ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) < 0
			       : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0) {
		*failed = family == AF_INET6 ? "setsockopt(IPV6_TRANSPARENT)" : "setsockopt(IP_TRANSPARENT)";
		goto fail;
	}
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		*failed = "setsockopt(SO_MARK)";
		goto fail;
	}
	return fd;
fail:;
	int e = errno;
	close(fd);
	return -e;
}

/* listenTransparent(ip, port, backlog, mark) -> fd of a listening socket */
static napi_value listen_transparent(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	struct sockaddr_storage sa;
	socklen_t salen;
	int32_t backlog;
	uint32_t mark;
	const char *failed = NULL;
	int one = 1;

	if (get_args(env, info, 4, argv) < 0 || get_sockaddr(env, argv[0], argv[1], &sa, &salen) < 0 ||
	    get_i32(env, argv[2], "backlog", &backlog) < 0 || get_u32(env, argv[3], "mark", &mark) < 0)
		return NULL;
	int fd = transparent_socket(sa.ss_family, mark, &failed);
	if (fd < 0)
		return throw_errno(env, failed, -fd);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		failed = "setsockopt(SO_REUSEADDR)";
		goto fail;
	}
	/* IPv6 listeners take IPv6 only: the IPv4 listener of the same port takes IPv4. */
	if (sa.ss_family == AF_INET6 && setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) {
		failed = "setsockopt(IPV6_V6ONLY)";
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
		failed = "bind";
		goto fail;
	}
	if (listen(fd, backlog) < 0) {
		failed = "listen";
		goto fail;
	}
	return int_value(env, fd);
fail:;
	int e = errno;
	close(fd);
	return throw_errno(env, failed, e);
}

/* connectTransparent: blocking connect in the libuv thread pool, result as a Promise<fd>. */
struct connect_work {
	napi_async_work work;
	napi_deferred deferred;
	struct sockaddr_storage src, dst;
	socklen_t srclen, dstlen;
	uint32_t mark;
	int timeout_ms;
	int fd;          /* result */
	int error;       /* errno, 0 on success */
	const char *failed;
};

static void connect_execute(napi_env env, void *data)
{
	struct connect_work *w = data;
	(void)env;
	int fd = transparent_socket(w->dst.ss_family, w->mark, &w->failed);

	if (fd < 0) {
		w->error = -fd;
		return;
	}
	if (bind(fd, (struct sockaddr *)&w->src, w->srclen) < 0) {
		w->failed = "bind";
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&w->dst, w->dstlen) < 0) {
		if (errno != EINPROGRESS) {
			w->failed = "connect";
			goto fail;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int n;
		do {
			n = poll(&p, 1, w->timeout_ms);
		} while (n < 0 && errno == EINTR);
		if (n == 0) {
			errno = ETIMEDOUT;
			w->failed = "connect";
			goto fail;
		}
		if (n < 0) {
			w->failed = "poll";
			goto fail;
		}
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
			errno = soerr ? soerr : errno;
			w->failed = "connect";
			goto fail;
		}
	}
	w->fd = fd;
	return;
fail:
	w->error = errno;
	close(fd);
}

static void connect_complete(napi_env env, napi_status status, void *data)
{
	struct connect_work *w = data;

	if (status != napi_ok && !w->error) {
		w->error = ECANCELED;
		w->failed = "connect";
	}
	if (w->error)
		napi_reject_deferred(env, w->deferred, make_errno_error(env, w->failed, w->error));
	else
		napi_resolve_deferred(env, w->deferred, int_value(env, w->fd));
	napi_delete_async_work(env, w->work);
	free(w);
}

/* connectTransparent(srcIp, srcPort, dstIp, dstPort, mark, timeoutMs) -> Promise<fd> */
static napi_value connect_transparent(napi_env env, napi_callback_info info)
{
	napi_value argv[6], promise, name;
	struct connect_work *w;
	int32_t timeout;

	if (get_args(env, info, 6, argv) < 0)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return throw_errno(env, "calloc", ENOMEM);
	if (get_sockaddr(env, argv[0], argv[1], &w->src, &w->srclen) < 0 || get_sockaddr(env, argv[2], argv[3], &w->dst, &w->dstlen) < 0 ||
	    get_u32(env, argv[4], "mark", &w->mark) < 0 || get_i32(env, argv[5], "timeoutMs", &timeout) < 0) {
		free(w);
		return NULL;
	}
	if (w->src.ss_family != w->dst.ss_family) {
		free(w);
		napi_throw_type_error(env, "EINVAL", "weft_native: source and destination must be of one address family");
		return NULL;
	}
	w->timeout_ms = timeout > 0 ? timeout : 10000;
	w->fd = -1;
	if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
		free(w);
		napi_throw_error(env, "EADDON", "weft_native: napi_create_promise failed");
		return NULL;
	}
	napi_create_string_utf8(env, "weft.connectTransparent", NAPI_AUTO_LENGTH, &name);
	napi_create_async_work(env, NULL, name, connect_execute, connect_complete, w, &w->work);
	napi_queue_async_work(env, w->work);
	return promise;
}

/* closeFd(fd): for fds never handed to Node (Node closes the ones it owns). */
static napi_value close_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	int32_t fd;

	if (get_args(env, info, 1, argv) < 0 || get_i32(env, argv[0], "fd", &fd) < 0)
		return NULL;
	if (close(fd) < 0)
		return throw_errno(env, "close", errno);
	return NULL;
}

/* ---- bpf(2) on pinned maps ---- */

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int get_buffer(napi_env env, napi_value v, const char *what, void **data, size_t *len)
{
	bool is_buf = false;

	if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf ||
	    napi_get_buffer_info(env, v, data, len) != napi_ok) {
		char msg[128];
		snprintf(msg, sizeof(msg), "weft_native: %s must be a Buffer", what);
		napi_throw_type_error(env, "EINVAL", msg);
		return -1;
	}
	return 0;
}

/* bpfObjGet(path) -> fd */
static napi_value bpf_obj_get(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	char path[4096];
	size_t len;
	union bpf_attr attr;

	if (get_args(env, info, 1, argv) < 0)
		return NULL;
	if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len) != napi_ok) {
		napi_throw_type_error(env, "EINVAL", "weft_native: path must be a string");
		return NULL;
	}
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(uintptr_t)path;
	attr.file_flags = 0;
	long fd = sys_bpf(BPF_OBJ_GET, &attr);
	if (fd < 0)
		return throw_errno(env, "bpf(BPF_OBJ_GET)", errno);
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	return int_value(env, (int32_t)fd);
}

/* bpfMapUpdate(fd, key, value, flags) */
static napi_value bpf_map_update(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	int32_t fd;
	uint32_t flags;
	void *key, *value;
	size_t klen, vlen;
	union bpf_attr attr;

	if (get_args(env, info, 4, argv) < 0 || get_i32(env, argv[0], "fd", &fd) < 0 ||
	    get_buffer(env, argv[1], "key", &key, &klen) < 0 || get_buffer(env, argv[2], "value", &value, &vlen) < 0 ||
	    get_u32(env, argv[3], "flags", &flags) < 0)
		return NULL;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)fd;
	attr.key = (uint64_t)(uintptr_t)key;
	attr.value = (uint64_t)(uintptr_t)value;
	attr.flags = flags;
	if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0)
		return throw_errno(env, "bpf(BPF_MAP_UPDATE_ELEM)", errno);
	return NULL;
}

/* bpfMapDelete(fd, key) -> true if deleted, false if absent */
static napi_value bpf_map_delete(napi_env env, napi_callback_info info)
{
	napi_value argv[2], out;
	int32_t fd;
	void *key;
	size_t klen;
	union bpf_attr attr;

	if (get_args(env, info, 2, argv) < 0 || get_i32(env, argv[0], "fd", &fd) < 0 ||
	    get_buffer(env, argv[1], "key", &key, &klen) < 0)
		return NULL;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)fd;
	attr.key = (uint64_t)(uintptr_t)key;
	if (sys_bpf(BPF_MAP_DELETE_ELEM, &attr) < 0) {
		if (errno != ENOENT)
			return throw_errno(env, "bpf(BPF_MAP_DELETE_ELEM)", errno);
		napi_get_boolean(env, false, &out);
		return out;
	}
	napi_get_boolean(env, true, &out);
	return out;
}

/* bpfMapLookup(fd, key, valueSize) -> Buffer | null */
static napi_value bpf_map_lookup(napi_env env, napi_callback_info info)
{
	napi_value argv[3], out;
	int32_t fd, vsize;
	void *key, *value;
	size_t klen;
	union bpf_attr attr;

	if (get_args(env, info, 3, argv) < 0 || get_i32(env, argv[0], "fd", &fd) < 0 ||
	    get_buffer(env, argv[1], "key", &key, &klen) < 0 || get_i32(env, argv[2], "valueSize", &vsize) < 0)
		return NULL;
	if (vsize <= 0 || vsize > 65536) {
		napi_throw_range_error(env, "EINVAL", "weft_native: valueSize out of range");
		return NULL;
	}
	CHECK(napi_create_buffer(env, (size_t)vsize, &value, &out));
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)fd;
	attr.key = (uint64_t)(uintptr_t)key;
	attr.value = (uint64_t)(uintptr_t)value;
	if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0) {
		if (errno != ENOENT)
			return throw_errno(env, "bpf(BPF_MAP_LOOKUP_ELEM)", errno);
		napi_get_null(env, &out);
	}
	return out;
}

/* bpfMapNextKey(fd, key | null, keySize) -> Buffer | null (null: no more keys) */
static napi_value bpf_map_next_key(napi_env env, napi_callback_info info)
{
	napi_value argv[3], out;
	int32_t fd, ksize;
	void *key = NULL, *next;
	size_t klen = 0;
	napi_valuetype t;
	union bpf_attr attr;

	if (get_args(env, info, 3, argv) < 0 || get_i32(env, argv[0], "fd", &fd) < 0 ||
	    get_i32(env, argv[2], "keySize", &ksize) < 0)
		return NULL;
	CHECK(napi_typeof(env, argv[1], &t));
	if (t != napi_null && t != napi_undefined && get_buffer(env, argv[1], "key", &key, &klen) < 0)
		return NULL;
	if (ksize <= 0 || ksize > 4096) {
		napi_throw_range_error(env, "EINVAL", "weft_native: keySize out of range");
		return NULL;
	}
	CHECK(napi_create_buffer(env, (size_t)ksize, &next, &out));
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)fd;
	attr.key = (uint64_t)(uintptr_t)key;
	attr.next_key = (uint64_t)(uintptr_t)next;
	if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr) < 0) {
		if (errno != ENOENT)
			return throw_errno(env, "bpf(BPF_MAP_GET_NEXT_KEY)", errno);
		napi_get_null(env, &out);
	}
	return out;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "setTransparent", NULL, set_transparent, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "setMark", NULL, set_mark, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "getSockOpts", NULL, get_sock_opts, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "listenTransparent", NULL, listen_transparent, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "connectTransparent", NULL, connect_transparent, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "bpfObjGet", NULL, bpf_obj_get, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "bpfMapUpdate", NULL, bpf_map_update, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "bpfMapDelete", NULL, bpf_map_delete, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "bpfMapLookup", NULL, bpf_map_lookup, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "bpfMapNextKey", NULL, bpf_map_next_key, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
	hbone_server_init(env, exports);
	hbone_client_init(env, exports);
	upstream_dial_init(env, exports);
	tcp_accept_init(env, exports);
	tls_keylog_init(env, exports);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
