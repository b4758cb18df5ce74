/* weft's native TCP accept: a listening socket driven by uv_poll on Node's loop, whose accepted
 * connections reach JavaScript as a bare fd and its two addresses, one call per connection
 * (docs/hbone.md "Client side", the accept). The native HBONE engine's outbound side uses it so
 * that an application's connection never becomes a Node net.Socket: the tunnel attaches the fd.
 *
 * Invariants:
 *  - one JavaScript call per accepted connection, `onAccept(fd, localIp, localPort, remoteIp,
 *    remotePort)`; the fd (O_NONBLOCK | O_CLOEXEC, TCP_NODELAY) is JavaScript's from that call on;
 *    the calls of one poll round share one callback scope (promise jobs run once, after it);
 *  - at most TA_BATCH accepts per round, then back to the loop (level-triggered: it fires again);
 *  - past the open-file limit (EMFILE/ENFILE), as libuv does for Node's servers: a spare
 *    descriptor kept for the purpose is closed, the backlog is accepted and each connection
 *    closed with a reset (the client is refused at once, not left in the backlog), and the spare
 *    re-opened; when there is no spare to give up the listener pauses TA_PAUSE_MS instead of
 *    spinning on a readable socket it cannot accept from. Other transient errors (ENOBUFS,
 *    ENOMEM) pause too; a connection aborted before accept is skipped;
 *  - the listener's struct lives until both its uv handles are closed and its JavaScript handle
 *    is collected; the callback is released at close, so a closed listener calls nothing.
 */
#define _GNU_SOURCE
#include "tcp_accept.h"
#include "hbone_common.h"

#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TA_BATCH 64
#define TA_DRAIN_MAX 1024
#define TA_PAUSE_MS 100

struct ta_listener {
	napi_env env;
	int fd;
	uv_poll_t poll;
	uv_timer_t pause;
	int refs; /* the JavaScript handle + the two uv handles */
	int closed;
	int paused;
	int in_round;
	int destroy_ctx; /* close() came from inside a round: the async context is destroyed after it */
	napi_ref cb, resource;
	napi_async_context actx;
	double accepted, refused, errors, pauses;
};

/* The descriptor given up to accept (and refuse) past the open-file limit; shared by all listeners. */
static int spare_fd = -1;

static void spare_open(void)
{
	if (spare_fd < 0)
		spare_fd = open("/", O_RDONLY | O_CLOEXEC);
}

static void ta_unref(struct ta_listener *l)
{
	if (--l->refs > 0)
		return;
	if (l->resource)
		napi_delete_reference(l->env, l->resource);
	free(l);
}

static void ta_handle_closed(uv_handle_t *h)
{
	ta_unref(h->data);
}

static void ta_poll_cb(uv_poll_t *h, int status, int events);

static void ta_pause_cb(uv_timer_t *t)
{
	struct ta_listener *l = t->data;
	if (l->closed)
		return;
	l->paused = 0;
	spare_open();
	uv_poll_start(&l->poll, UV_READABLE, ta_poll_cb);
}

static void ta_pause(struct ta_listener *l)
{
	if (l->paused || l->closed)
		return;
	l->paused = 1;
	l->pauses++;
	uv_poll_stop(&l->poll);
	uv_timer_start(&l->pause, ta_pause_cb, TA_PAUSE_MS, 0);
}

/* At the open-file limit: refuse what waits in the backlog with a reset, using the spare. */
static void ta_refuse_at_limit(struct ta_listener *l)
{
	int n = 0;
	if (spare_fd >= 0) {
		close(spare_fd);
		spare_fd = -1;
		while (n < TA_DRAIN_MAX) {
			int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			hb_close_reset(fd);
			l->refused++;
			n++;
		}
		spare_open();
	}
	if (n == 0)
		ta_pause(l);
}

static void ta_destroy_ctx(struct ta_listener *l)
{
	if (l->actx) {
		napi_async_destroy(l->env, l->actx);
		l->actx = NULL;
	}
}

/* Hands one accepted connection to JavaScript (a throw is reported as an uncaught exception). */
static void ta_deliver(struct ta_listener *l, int fd, const char *lip, uint32_t lport, const char *rip, uint32_t rport)
{
	napi_env env = l->env;
	napi_handle_scope hs;
	napi_value fn, recv, argv[5];
	napi_open_handle_scope(env, &hs);
	if (napi_get_reference_value(env, l->cb, &fn) != napi_ok || !fn) {
		hb_close_reset(fd);
		napi_close_handle_scope(env, hs);
		return;
	}
	napi_get_global(env, &recv);
	napi_create_int32(env, fd, &argv[0]);
	napi_create_string_latin1(env, lip, NAPI_AUTO_LENGTH, &argv[1]);
	napi_create_uint32(env, lport, &argv[2]);
	napi_create_string_latin1(env, rip, NAPI_AUTO_LENGTH, &argv[3]);
	napi_create_uint32(env, rport, &argv[4]);
	if (napi_call_function(env, recv, fn, 5, argv, NULL) != napi_ok) {
		hb_rethrow_fatal(env);
	}
	napi_close_handle_scope(env, hs);
}

static void ta_poll_cb(uv_poll_t *h, int status, int events)
{
	struct ta_listener *l = h->data;
	napi_env env = l->env;
	napi_handle_scope outer;
	napi_callback_scope scope = NULL;
	int i;
	(void)events;
	if (l->closed)
		return;
	if (status < 0) {
		l->errors++;
		ta_pause(l);
		return;
	}
	l->refs++; /* a close() from JavaScript during the round must not free l under us */
	napi_open_handle_scope(env, &outer);
	for (i = 0; i < TA_BATCH && !l->closed; i++) {
		struct sockaddr_storage peer, local;
		socklen_t pl = sizeof(peer), ll = sizeof(local);
		char lip[INET6_ADDRSTRLEN + 1], rip[INET6_ADDRSTRLEN + 1];
		uint32_t lport = 0, rport = 0;
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ECONNABORTED || errno == EPROTO) {
				l->errors++;
				continue;
			}
			if (errno == EMFILE || errno == ENFILE) {
				ta_refuse_at_limit(l);
				break;
			}
			l->errors++;
			ta_pause(l);
			break;
		}
		if (pl > sizeof(peer) || getsockname(fd, (struct sockaddr *)&local, &ll) < 0 || ll > sizeof(local) ||
		    hb_addr_text(&local, lip, sizeof(lip), &lport) < 0 || hb_addr_text(&peer, rip, sizeof(rip), &rport) < 0) {
			hb_close_reset(fd);
			l->errors++;
			continue;
		}
		hb_set_nodelay(fd);
		l->accepted++;
		if (!scope) {
			napi_value res;
			if (napi_get_reference_value(env, l->resource, &res) != napi_ok ||
			    napi_open_callback_scope(env, res, l->actx, &scope) != napi_ok)
				scope = NULL;
			l->in_round = 1;
		}
		ta_deliver(l, fd, lip, lport, rip, rport);
	}
	if (scope)
		napi_close_callback_scope(env, scope);
	l->in_round = 0;
	napi_close_handle_scope(env, outer);
	if (l->destroy_ctx)
		ta_destroy_ctx(l);
	ta_unref(l);
}

static void ta_close(struct ta_listener *l)
{
	if (l->closed)
		return;
	l->closed = 1;
	uv_poll_stop(&l->poll);
	uv_timer_stop(&l->pause);
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	uv_close((uv_handle_t *)&l->poll, ta_handle_closed);
	uv_close((uv_handle_t *)&l->pause, ta_handle_closed);
	if (l->cb) {
		napi_delete_reference(l->env, l->cb);
		l->cb = NULL;
	}
	if (l->in_round)
		l->destroy_ctx = 1;
	else
		ta_destroy_ctx(l);
}

static void ta_finalize(napi_env env, void *data, void *hint)
{
	struct ta_listener *l = data;
	(void)env;
	(void)hint;
	/* Only after close(): the callback's strong reference keeps the handle alive until then. */
	if (!l->closed) {
		l->closed = 1;
		uv_poll_stop(&l->poll);
		uv_timer_stop(&l->pause);
		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
		uv_close((uv_handle_t *)&l->poll, ta_handle_closed);
		uv_close((uv_handle_t *)&l->pause, ta_handle_closed);
	}
	ta_unref(l);
}

static struct ta_listener *listener_of(napi_env env, napi_value v)
{
	void *p = NULL;
	if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
		napi_throw_error(env, "EINVAL", "weft_native: not a tcp acceptor handle");
		return NULL;
	}
	return p;
}

static void throw_sys(napi_env env, const char *what, int e, const char *ip, uint32_t port)
{
	char msg[200];
	snprintf(msg, sizeof(msg), "%s %s: %s %s:%u", what, hb_errno_name(e), strerror(e), ip, port);
	napi_throw_error(env, hb_errno_name(e), msg);
}

/* tcpListen(ip, port, backlog) -> fd of a listening socket (SO_REUSEADDR, as Node's servers). */
static napi_value ta_listen(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], out;
	char ip[INET6_ADDRSTRLEN + 1];
	size_t iplen;
	uint32_t port, backlog;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3 || napi_get_value_string_utf8(env, argv[0], ip, sizeof(ip), &iplen) != napi_ok ||
	    napi_get_value_uint32(env, argv[1], &port) != napi_ok || napi_get_value_uint32(env, argv[2], &backlog) != napi_ok ||
	    !(sl = hb_addr_parse(ip, port, &ss))) {
		napi_throw_type_error(env, "EINVAL", "weft_native: tcpListen(ip, port, backlog): a literal address and a port");
		return NULL;
	}
	if (backlog < 1 || backlog > 65535)
		backlog = 511;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		throw_sys(env, "socket", errno, ip, port);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, (int)backlog) < 0) {
		int e = errno;
		close(fd);
		throw_sys(env, "listen", e, ip, port);
		return NULL;
	}
	napi_create_int32(env, fd, &out);
	return out;
}

/* tcpAcceptor(listeningFd, onAccept(fd, localIp, localPort, remoteIp, remotePort)) -> handle.
 * Takes the fd over (closed here on failure too). */
static napi_value ta_new(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2], out, name, res;
	napi_valuetype t = napi_undefined;
	int32_t fd = -1;
	int listening = 0;
	socklen_t len = sizeof(listening);
	struct ta_listener *l;
	uv_loop_t *loop = NULL;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_typeof(env, argv[1], &t) != napi_ok ||
	    t != napi_function) {
		napi_throw_type_error(env, "EINVAL", "weft_native: tcpAcceptor(listeningFd, onAccept)");
		return NULL;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) {
		close(fd);
		napi_throw_error(env, "EINVAL", "weft_native: tcpAcceptor: the fd is not a listening socket");
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l || napi_get_uv_event_loop(env, &loop) != napi_ok || hb_set_nonblock(fd) < 0) {
		free(l);
		close(fd);
		napi_throw_error(env, "ENOMEM", "weft_native: tcpAcceptor: setup failed");
		return NULL;
	}
	l->env = env;
	l->fd = fd;
	if (uv_poll_init_socket(loop, &l->poll, fd) != 0) {
		free(l);
		close(fd);
		napi_throw_error(env, "EIO", "weft_native: tcpAcceptor: uv_poll_init failed");
		return NULL;
	}
	l->poll.data = l;
	uv_timer_init(loop, &l->pause);
	l->pause.data = l;
	l->refs = 3;
	napi_create_reference(env, argv[1], 1, &l->cb);
	napi_create_object(env, &res);
	napi_create_reference(env, res, 1, &l->resource);
	napi_create_string_utf8(env, "weft.tcpAcceptor", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, res, name, &l->actx);
	spare_open();
	if (napi_create_external(env, l, ta_finalize, NULL, &out) != napi_ok) {
		l->refs--; /* no JavaScript handle will ever finalize it */
		ta_close(l);
		napi_throw_error(env, "ENOMEM", "weft_native: tcpAcceptor: no handle");
		return NULL;
	}
	uv_poll_start(&l->poll, UV_READABLE, ta_poll_cb);
	return out;
}

/* tcpAcceptorClose(handle): stops accepting and closes the listening socket (idempotent). */
static napi_value ta_close_js(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct ta_listener *l;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || !(l = listener_of(env, argv[0])))
		return NULL;
	ta_close(l);
	return NULL;
}

/* tcpAcceptorStats(handle) -> { accepted, refusedAtFdLimit, errors, pauses, listening } */
static napi_value ta_stats(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out, b;
	struct ta_listener *l;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || !(l = listener_of(env, argv[0])))
		return NULL;
	napi_create_object(env, &out);
	hb_set_num(env, out, "accepted", l->accepted);
	hb_set_num(env, out, "refusedAtFdLimit", l->refused);
	hb_set_num(env, out, "errors", l->errors);
	hb_set_num(env, out, "pauses", l->pauses);
	napi_get_boolean(env, !l->closed, &b);
	napi_set_named_property(env, out, "listening", b);
	return out;
}

/* tcpAcceptorAddress(handle) -> { ip, port } of the listening socket (null once closed). */
static napi_value ta_address(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out, v;
	struct ta_listener *l;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN + 1];
	uint32_t port = 0;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || !(l = listener_of(env, argv[0])))
		return NULL;
	if (l->fd < 0 || getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0 || sl > sizeof(ss) || hb_addr_text(&ss, ip, sizeof(ip), &port) < 0) {
		napi_get_null(env, &out);
		return out;
	}
	napi_create_object(env, &out);
	napi_create_string_latin1(env, ip, NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, out, "ip", v);
	napi_create_uint32(env, port, &v);
	napi_set_named_property(env, out, "port", v);
	return out;
}

/* closeFdReset(fd): closes an accepted connection so its peer sees a reset (SO_LINGER 0). */
static napi_value ta_close_reset(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int32_t fd;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
		napi_throw_type_error(env, "EINVAL", "weft_native: closeFdReset(fd)");
		return NULL;
	}
	hb_close_reset(fd);
	return NULL;
}

void tcp_accept_init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "tcpListen", NULL, ta_listen, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "tcpAcceptor", NULL, ta_new, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "tcpAcceptorClose", NULL, ta_close_js, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "tcpAcceptorStats", NULL, ta_stats, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "tcpAcceptorAddress", NULL, ta_address, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "closeFdReset", NULL, ta_close_reset, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
