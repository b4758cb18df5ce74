/* Upstream dials of the native HBONE engine (docs/hbone.md "Native engine", "The upstream
 * dial"): a non-blocking TCP connect on Node's own loop whose result is a connected fd for
 * hboneAnswer, so an inbound tunnel's upstream never becomes a Node socket.
 *
 * Per dial: socket (O_NONBLOCK | O_CLOEXEC), optionally IP_TRANSPARENT / IPV6_TRANSPARENT and
 * SO_MARK (capture mode: the upstream leaves from the original client's address), optionally
 * bind() of a source address and port (which port is the caller's choice: the TypeScript side
 * keeps the port cursor and the retry on EADDRINUSE / EADDRNOTAVAIL), connect(); then one
 * uv_poll for writability and one uv_timer for the connect timeout. The outcome is one call of
 * the dialer's callback, (id, fd, code, syscall): fd >= 0 (owned by JavaScript from then on,
 * TCP_NODELAY set) and code "" on success, fd -1 and the errno name otherwise (syscall
 * "connect"; at the timeout "ETIMEDOUT" with syscall "deadline"). A cancelled dial (the HBONE
 * stream asking for it was reset) closes its fd at once and calls nothing. Errors that happen
 * before the connect is under way (socket: EMFILE, bind: EADDRINUSE, an immediate connect
 * failure) are thrown synchronously with `code` and `syscall`.
 *
 * Invariants: a dial is referenced from the slot table while in flight, and only through it
 * (ids carry a generation, so a stale id finds nothing); its two handles are closed together
 * and the memory freed when both close callbacks ran; JavaScript is called only from the poll or
 * timer callback (the outermost frame), after the dial left the slot table. Single-threaded.
 */
#define _GNU_SOURCE
#include "upstream_dial.h"
#include "hbone_common.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>


/* Ids are gen * UD_SLOT_SPACE + slot: exact in a double while gen < 2^31. */
#define UD_SLOT_SPACE (1u << 21)
#define UD_GEN_MASK 0x7fffffffu

struct ud_dialer;

struct ud_dial {
	struct ud_dialer *d;
	uint32_t slot, gen;
	int fd;
	int handles; /* open uv handles (poll, timer) */
	uv_poll_t poll;
	uv_timer_t timer;
};

struct ud_dialer {
	napi_env env;
	uv_loop_t *loop;
	napi_ref cb;
	napi_async_context actx;
	struct ud_dial **slots;
	uint32_t nslots, cap;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t gen;
	/* stats */
	double started, connected, failed, timed_out, cancelled;
	uint32_t in_flight;
};

static void throw_code(napi_env env, const char *code, const char *syscall, const char *msg)
{
	napi_value c, m, e, s;
	napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
	napi_create_error(env, c, m, &e);
	if (syscall) {
		napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &s);
		napi_set_named_property(env, e, "syscall", s);
	}
	napi_throw(env, e);
}

static struct ud_dialer *dialer_of(napi_env env, napi_value v)
{
	void *p = NULL;
	if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
		throw_code(env, "EINVAL", NULL, "weft_native upstream dial: not a dialer handle");
		return NULL;
	}
	return p;
}

static int slot_take(struct ud_dialer *d, uint32_t *out)
{
	if (d->nfree) {
		*out = d->free_slots[--d->nfree];
		return 0;
	}
	if (d->nslots == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 256;
		if (cap > UD_SLOT_SPACE)
			cap = UD_SLOT_SPACE;
		if (cap <= d->cap)
			return -1;
		struct ud_dial **s = realloc(d->slots, cap * sizeof(*s));
		if (!s)
			return -1;
		d->slots = s;
		uint32_t *f = realloc(d->free_slots, cap * sizeof(*f));
		if (!f)
			return -1;
		d->free_slots = f;
		d->cap = cap;
	}
	*out = d->nslots++;
	return 0;
}

static void slot_release(struct ud_dial *x)
{
	struct ud_dialer *d = x->d;
	if (x->slot < d->nslots && d->slots[x->slot] == x) {
		d->slots[x->slot] = NULL;
		d->free_slots[d->nfree++] = x->slot; /* nfree < cap: every free slot was taken once */
		d->in_flight--;
	}
}

static double dial_id(const struct ud_dial *x)
{
	return (double)x->gen * UD_SLOT_SPACE + x->slot;
}

static struct ud_dial *dial_lookup(struct ud_dialer *d, double id)
{
	if (!(id >= 0) || id > (double)UD_GEN_MASK * UD_SLOT_SPACE + (UD_SLOT_SPACE - 1))
		return NULL;
	uint64_t v = (uint64_t)id;
	uint32_t slot = (uint32_t)(v % UD_SLOT_SPACE), gen = (uint32_t)(v / UD_SLOT_SPACE);
	if (slot >= d->nslots || !d->slots[slot] || d->slots[slot]->gen != gen)
		return NULL;
	return d->slots[slot];
}

static void handle_closed(uv_handle_t *h)
{
	struct ud_dial *x = h->data;
	if (--x->handles == 0)
		free(x);
}

/* Leaves the slot table and closes both handles; the fd is the caller's business. */
static void dial_end(struct ud_dial *x)
{
	slot_release(x);
	uv_poll_stop(&x->poll);
	uv_timer_stop(&x->timer);
	uv_close((uv_handle_t *)&x->poll, handle_closed);
	uv_close((uv_handle_t *)&x->timer, handle_closed);
}

static void deliver(struct ud_dialer *d, double id, int fd, const char *code, const char *syscall)
{
	napi_env env = d->env;
	napi_handle_scope scope;
	napi_value argv[4];
	napi_open_handle_scope(env, &scope);
	napi_create_double(env, id, &argv[0]);
	napi_create_int32(env, fd, &argv[1]);
	napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &argv[2]);
	napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &argv[3]);
	hb_call_js(env, d->actx, d->cb, 4, argv);
	napi_close_handle_scope(env, scope);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct ud_dial *x = h->data;
	struct ud_dialer *d = x->d;
	double id = dial_id(x);
	int fd = x->fd, e = 0;
	socklen_t el = sizeof(e);
	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		e = errno;
	if (!e && status < 0)
		e = EIO;
	x->fd = -1;
	dial_end(x);
	if (e) {
		close(fd);
		d->failed++;
		deliver(d, id, -1, hb_errno_name(e), "connect");
		return;
	}
	hb_set_nodelay(fd);
	d->connected++;
	deliver(d, id, fd, "", "");
}

static void timer_cb(uv_timer_t *t)
{
	struct ud_dial *x = t->data;
	struct ud_dialer *d = x->d;
	double id = dial_id(x);
	close(x->fd);
	x->fd = -1;
	dial_end(x);
	d->timed_out++;
	deliver(d, id, -1, "ETIMEDOUT", "deadline");
}

static void dialer_finalize(napi_env env, void *data, void *hint)
{
	struct ud_dialer *d = data;
	(void)env;
	(void)hint;
	/* JavaScript keeps the handle for the process's life (native-dial.ts); dials still in
	 * flight would point here, so with any left the memory is kept. */
	if (d->in_flight)
		return;
	free(d->slots);
	free(d->free_slots);
	free(d);
}

/* upstreamDialer(onDone(id, fd, code, syscall)) -> dialer handle */
static napi_value ud_dialer_new(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out, name, res;
	napi_valuetype t;
	struct ud_dialer *d;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) {
		throw_code(env, "EINVAL", NULL, "weft_native: upstreamDialer(onDone)");
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		throw_code(env, "ENOMEM", NULL, "weft_native: upstreamDialer: out of memory");
		return NULL;
	}
	d->env = env;
	napi_get_uv_event_loop(env, &d->loop);
	napi_create_reference(env, argv[0], 1, &d->cb);
	napi_create_string_utf8(env, "weft.upstreamDial", NAPI_AUTO_LENGTH, &name);
	napi_create_object(env, &res);
	napi_async_init(env, res, name, &d->actx);
	napi_create_external(env, d, dialer_finalize, NULL, &out);
	return out;
}

static void throw_sys(napi_env env, int e, const char *syscall)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "%s %s", syscall, hb_errno_name(e));
	throw_code(env, hb_errno_name(e), syscall, msg);
}

/*
 * upstreamDial(dialer, dstIp, dstPort, srcIp, srcPort, mark, transparent, timeoutMs) -> id
 * srcIp "" = no bind (srcPort ignored); srcPort 0 = the kernel's port. Throws (code = errno name,
 * syscall) when the connect cannot be started.
 */
static napi_value ud_dial(napi_env env, napi_callback_info info)
{
	size_t argc = 8;
	napi_value argv[8], out;
	struct ud_dialer *d;
	char dst[INET6_ADDRSTRLEN + 1], src[INET6_ADDRSTRLEN + 1];
	size_t dstlen = 0, srclen = 0;
	uint32_t dport, sport, mark, timeout, slot;
	bool transparent = false;
	struct sockaddr_storage ds, ss;
	socklen_t dl, sl = 0;
	const char *failed = NULL;
	int fd, one = 1;
	struct ud_dial *x;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 8 || !(d = dialer_of(env, argv[0])))
		return NULL;
	/* Strings longer than the buffers are truncated by N-API and then fail to parse. */
	if (napi_get_value_string_utf8(env, argv[1], dst, sizeof(dst), &dstlen) != napi_ok ||
	    napi_get_value_uint32(env, argv[2], &dport) != napi_ok ||
	    napi_get_value_string_utf8(env, argv[3], src, sizeof(src), &srclen) != napi_ok ||
	    napi_get_value_uint32(env, argv[4], &sport) != napi_ok || napi_get_value_uint32(env, argv[5], &mark) != napi_ok ||
	    napi_get_value_bool(env, argv[6], &transparent) != napi_ok || napi_get_value_uint32(env, argv[7], &timeout) != napi_ok ||
	    dport == 0 || !(dl = hb_addr_parse(dst, dport, &ds)) || (srclen && !(sl = hb_addr_parse(src, sport, &ss))) ||
	    (sl && ss.ss_family != ds.ss_family) || timeout == 0) {
		throw_code(env, "EINVAL", NULL,
			   "weft_native: upstreamDial(dialer, dstIp, dstPort, srcIp, srcPort, mark, transparent, timeoutMs): literal addresses of one family, ports <= 65535, timeout > 0");
		return NULL;
	}
	fd = socket(ds.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		throw_sys(env, errno, "socket");
		return NULL;
	}
	if (transparent && (ds.ss_family == AF_INET6 ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
						  : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))) < 0) {
		failed = ds.ss_family == AF_INET6 ? "setsockopt(IPV6_TRANSPARENT)" : "setsockopt(IP_TRANSPARENT)";
		goto fail;
	}
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		failed = "setsockopt(SO_MARK)";
		goto fail;
	}
	/* As libuv's bind (Node's localAddress/localPort): SO_REUSEADDR, so an explicit source port
	 * can be shared with other processes' connections from the same IP to other destinations
	 * (the 4-tuples differ); without it every bound port of theirs is EADDRINUSE here, and ours
	 * theirs (the capture mode's transparent sockets bind port 0, as connectTransparent does). */
	if (sl && !transparent && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		failed = "setsockopt(SO_REUSEADDR)";
		goto fail;
	}
	if (sl && bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		failed = "bind";
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&ds, dl) < 0 && errno != EINPROGRESS && errno != EINTR) {
		failed = "connect";
		goto fail;
	}
	x = calloc(1, sizeof(*x));
	if (!x || slot_take(d, &slot) < 0) {
		free(x);
		close(fd);
		throw_code(env, "ENOMEM", NULL, "weft_native: upstreamDial: out of dial slots");
		return NULL;
	}
	x->d = d;
	x->slot = slot;
	x->gen = d->gen = (d->gen + 1) & UD_GEN_MASK;
	x->fd = fd;
	if (uv_poll_init_socket(d->loop, &x->poll, fd) != 0) {
		d->free_slots[d->nfree++] = slot;
		free(x);
		close(fd);
		throw_code(env, "EIO", "uv_poll_init", "weft_native: upstreamDial: cannot poll the socket");
		return NULL;
	}
	uv_timer_init(d->loop, &x->timer);
	x->poll.data = x;
	x->timer.data = x;
	x->handles = 2;
	d->slots[slot] = x;
	d->in_flight++;
	d->started++;
	uv_poll_start(&x->poll, UV_WRITABLE, poll_cb);
	uv_timer_start(&x->timer, timer_cb, timeout, 0);
	napi_create_double(env, dial_id(x), &out);
	return out;
fail:;
	int e = errno;
	close(fd);
	throw_sys(env, e, failed);
	return NULL;
}

/* upstreamDialCancel(dialer, id) -> whether a dial was in flight (its fd is closed, no callback). */
static napi_value ud_cancel(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2], out;
	struct ud_dialer *d;
	struct ud_dial *x;
	double id;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || !(d = dialer_of(env, argv[0])) || napi_get_value_double(env, argv[1], &id) != napi_ok)
		return NULL;
	x = dial_lookup(d, id);
	if (x) {
		/* A SYN_SENT socket: close() drops it, with no packet to the upstream. */
		hb_close_reset(x->fd);
		x->fd = -1;
		dial_end(x);
		d->cancelled++;
	}
	napi_get_boolean(env, x != NULL, &out);
	return out;
}

/* upstreamClose(fd): closes an fd a dial returned, with SO_LINGER 0 (the upstream sees a reset). */
static napi_value ud_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int32_t fd;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
		throw_code(env, "EINVAL", NULL, "weft_native: upstreamClose(fd)");
		return NULL;
	}
	hb_close_reset(fd);
	return NULL;
}

/* upstreamDialStats(dialer) -> { started, connected, failed, timedOut, cancelled, inFlight } */
static napi_value ud_stats(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], o;
	struct ud_dialer *d;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || !(d = dialer_of(env, argv[0])))
		return NULL;
	napi_create_object(env, &o);
	hb_set_num(env, o, "started", d->started);
	hb_set_num(env, o, "connected", d->connected);
	hb_set_num(env, o, "failed", d->failed);
	hb_set_num(env, o, "timedOut", d->timed_out);
	hb_set_num(env, o, "cancelled", d->cancelled);
	hb_set_num(env, o, "inFlight", d->in_flight);
	return o;
}

void upstream_dial_init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "upstreamDialer", NULL, ud_dialer_new, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "upstreamDial", NULL, ud_dial, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "upstreamDialCancel", NULL, ud_cancel, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "upstreamClose", NULL, ud_close, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "upstreamDialStats", NULL, ud_stats, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
