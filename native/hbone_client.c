/* weft's native HBONE client data path: the outbound pool's connections (docs/hbone.md
 * "Native engine", client side).
 *
 * TCP to a destination's 15008 (optionally from a bound source IP), TLS 1.3 mTLS (OpenSSL),
 * HTTP/2 (nghttp2), one CONNECT per tunnel; after the server's 200 the application's socket
 * (its fd handed over from Node) is spliced with the stream here, and the tunnel's bytes never
 * cross into JavaScript. Every decision is TypeScript's (src/proxy/hbone/native-client.ts and
 * the pool, pool.ts): which certificate, where to, whether the server's chain and SPIFFE
 * identity are accepted (called once per connection, after OpenSSL verified the chain against
 * the certificate's roots), which connection a tunnel rides, the CONNECT's headers, what a
 * status means, when a connection is closed.
 *
 * Single-threaded on Node's loop (uv_poll per fd, one uv_timer per connection for the connect
 * and handshake deadlines and then the PING keepalive); JavaScript is called only from a
 * connection's event queue at the outermost exit of a callback, never from inside nghttp2.
 *
 * Flow control is manual both ways, as on the server: bytes from the server are given back to
 * its windows only once written to the application, so a slow application stops the server
 * after the stream window; the application's bytes are read straight into nghttp2's DATA
 * frames. Resets: a stream reset by the server or a lost connection closes the application's
 * socket with SO_LINGER 0 (the application sees a TCP RST); an application read error resets
 * the stream (RST_STREAM(CANCEL)). END_STREAM <-> FIN each way (half-close).
 */
#define _GNU_SOURCE
#include "hbone_common.h"
#include "hbone_client.h"

#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#define HC_MAX_SLOTS (1 << 20)
#define HC_HEADERS_MAX 64

enum cc_state { CC_CONNECTING, CC_HANDSHAKE, CC_H2, CC_DEAD };
enum cc_phase { PH_CONNECT = 0, PH_TLS = 1, PH_H2 = 2 };
enum cev_kind { CEV_READY = 1, CEV_SETTINGS = 2, CEV_GOAWAY = 3, CEV_RESPONSE = 4, CEV_STREAM_END = 5, CEV_CONN_END = 6 };

struct hc_client;
struct hc_conn;

struct hc_event {
	struct hc_event *next;
	int kind;
	int32_t stream_id;
	double n1, n2, n3;
	char text[];
};

struct hc_stream {
	struct hc_conn *conn;
	struct hc_stream *prev, *next;
	int32_t id;
	int status;
	int attached;
	int h2_closed;
	int server_ended;
	int app_wr_shut;
	int app_eof;
	int end_queued; /* CEV_STREAM_END queued (once, after the last byte reached the application) */
	int app_fd;
	struct hb_src src; /* the application fd as the DATA source (hbone_common.h); fills the hole before the poll */
	uv_poll_t poll;
	int poll_init;
	int events;
	struct hb_buf first; /* application bytes Node had read before the hand-over, sent first */
	struct hb_buf pend;  /* server -> application bytes the application has not taken yet */
	double app_read, app_written;
};

struct hc_conn {
	struct hc_client *cli;
	uint32_t slot, gen;
	enum cc_state state;
	struct hb_wire w;
	uv_poll_t poll;
	int poll_events;
	uv_timer_t timer;
	int handles;
	int busy;
	int released;
	int got_settings;
	int conn_errno;
	uint64_t ping_sent_ms;
	int ping_outstanding;
	struct hc_stream *streams;
	struct hc_event *ev_head, *ev_tail;
};

struct hc_client {
	napi_env env;
	uv_loop_t *loop;
	napi_ref cb_secure, cb_event;
	napi_async_context actx;
	struct hc_conn **slots;
	uint32_t nslots;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t gen;
	uint32_t stream_window, conn_window, max_frame;
	uint32_t ping_interval_ms, ping_timeout_ms, handshake_timeout_ms, connect_timeout_ms;
};

static void throw_msg(napi_env env, const char *code, const char *msg)
{
	napi_throw_error(env, code, msg);
}

/* ---------- events ---------- */

static struct hc_event *ev_new(struct hc_conn *c, int kind, int32_t sid, const char *text)
{
	size_t n = text ? strlen(text) : 0;
	struct hc_event *e = calloc(1, sizeof(*e) + n + 1);
	if (!e)
		return NULL;
	e->kind = kind;
	e->stream_id = sid;
	if (n)
		memcpy(e->text, text, n);
	if (c->ev_tail)
		c->ev_tail->next = e;
	else
		c->ev_head = e;
	c->ev_tail = e;
	return e;
}

static napi_value conn_id_value(napi_env env, struct hc_conn *c)
{
	napi_value v;
	napi_create_double(env, (double)c->gen * HC_MAX_SLOTS + c->slot, &v);
	return v;
}

static void deliver(struct hc_conn *c, struct hc_event *e)
{
	struct hc_client *cli = c->cli;
	napi_env env = cli->env;
	napi_handle_scope scope;
	napi_value argv[7];
	napi_open_handle_scope(env, &scope);
	napi_create_int32(env, e->kind, &argv[0]);
	argv[1] = conn_id_value(env, c);
	napi_create_int32(env, e->stream_id, &argv[2]);
	napi_create_double(env, e->n1, &argv[3]);
	napi_create_double(env, e->n2, &argv[4]);
	napi_create_double(env, e->n3, &argv[5]);
	napi_create_string_utf8(env, e->text, NAPI_AUTO_LENGTH, &argv[6]);
	hb_call_js(env, cli->actx, cli->cb_event, 7, argv);
	napi_close_handle_scope(env, scope);
}

static void conn_close(struct hc_conn *c);
static void conn_release(struct hc_conn *c);
static void conn_poll_update(struct hc_conn *c);

static void conn_enter(struct hc_conn *c)
{
	c->busy++;
}

static void conn_flush(struct hc_conn *c)
{
	if (c->state != CC_H2)
		return;
	hb_wire_flush(&c->w);
	conn_poll_update(c);
}

/* The outermost exit closes a connection that failed, delivers queued events, frees. */
static void conn_leave(struct hc_conn *c)
{
	if (c->busy > 1) {
		c->busy--;
		return;
	}
	if (c->w.fatal && c->state != CC_DEAD)
		conn_close(c);
	while (c->ev_head) {
		struct hc_event *e = c->ev_head;
		c->ev_head = e->next;
		if (!c->ev_head)
			c->ev_tail = NULL;
		deliver(c, e);
		free(e);
		if (c->w.fatal && c->state != CC_DEAD)
			conn_close(c);
	}
	c->busy = 0;
	if (c->state == CC_DEAD)
		conn_release(c);
}

/* ---------- streams ---------- */

static void stream_free(struct hc_stream *s)
{
	hb_buf_free(&s->first);
	hb_buf_free(&s->pend);
	free(s);
}

static void stream_free_cb(uv_handle_t *h)
{
	stream_free(h->data);
}

static void stream_unlink(struct hc_stream *s)
{
	struct hc_conn *c = s->conn;
	if (s->prev)
		s->prev->next = s->next;
	else if (c->streams == s)
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* Closes the application side (a reset when `reset`), unlinks and frees the stream. */
static void stream_destroy(struct hc_stream *s, int reset)
{
	stream_unlink(s);
	if (s->app_fd >= 0) {
		if (s->poll_init)
			uv_poll_stop(&s->poll);
		if (reset)
			hb_close_reset(s->app_fd);
		else
			close(s->app_fd);
		s->app_fd = -1;
	}
	if (s->poll_init) {
		s->poll.data = s;
		uv_close((uv_handle_t *)&s->poll, stream_free_cb);
	} else {
		stream_free(s);
	}
}

static void queue_stream_end(struct hc_stream *s, uint32_t code)
{
	struct hc_event *e;
	if (s->end_queued)
		return;
	s->end_queued = 1;
	e = ev_new(s->conn, CEV_STREAM_END, s->id, NULL);
	if (!e)
		return;
	e->n1 = s->app_read;
	e->n2 = s->app_written;
	e->n3 = code;
}

static void app_poll_cb(uv_poll_t *h, int status, int events);

static void app_set_events(struct hc_stream *s, int events)
{
	if (s->app_fd < 0 || !s->poll_init || s->events == events)
		return;
	s->events = events;
	if (events)
		uv_poll_start(&s->poll, events, app_poll_cb);
	else
		uv_poll_stop(&s->poll);
}

static void consume(struct hc_stream *s, size_t n)
{
	nghttp2_session *h2 = s->conn->w.h2;
	if (!n || !h2)
		return;
	if (s->h2_closed)
		nghttp2_session_consume_connection(h2, n);
	else
		nghttp2_session_consume(h2, s->id, n);
}

static void app_shut_if_done(struct hc_stream *s)
{
	if (s->server_ended && s->attached && s->app_fd >= 0 && !hb_buf_live(&s->pend) && !s->app_wr_shut) {
		shutdown(s->app_fd, SHUT_WR);
		s->app_wr_shut = 1;
	}
}

/* Writes the server's pending bytes to the application; -1 on a write error. */
static int app_drain(struct hc_stream *s)
{
	while (hb_buf_live(&s->pend)) {
		ssize_t w = write(s->app_fd, s->pend.p + s->pend.off, hb_buf_live(&s->pend));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		s->pend.off += (size_t)w;
		s->app_written += (double)w;
		consume(s, (size_t)w);
	}
	if (!hb_buf_live(&s->pend)) {
		s->pend.off = s->pend.len = 0;
		if (s->pend.cap > 64 * 1024)
			hb_buf_free(&s->pend);
		app_shut_if_done(s);
	}
	return 0;
}

static void app_failed(struct hc_stream *s)
{
	struct hc_conn *c = s->conn;
	if (hb_buf_live(&s->pend))
		consume(s, hb_buf_live(&s->pend));
	s->pend.off = s->pend.len = 0;
	s->app_eof = 1;
	if (!s->h2_closed && c->w.h2)
		nghttp2_submit_rst_stream(c->w.h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
}

static void app_poll_cb(uv_poll_t *h, int status, int events)
{
	struct hc_stream *s = h->data;
	struct hc_conn *c = s->conn;
	conn_enter(c);
	if (status < 0)
		events = UV_READABLE | UV_WRITABLE;
	if ((events & UV_WRITABLE) && hb_buf_live(&s->pend) && app_drain(s) < 0) {
		app_failed(s);
		if (s->h2_closed) {
			/* The stream ended cleanly, but the application did not take its last bytes. */
			queue_stream_end(s, NGHTTP2_CANCEL);
			stream_destroy(s, 1);
			goto out;
		}
	}
	if (s->h2_closed) {
		if (!hb_buf_live(&s->pend)) {
			queue_stream_end(s, NGHTTP2_NO_ERROR);
			stream_destroy(s, 0);
			goto out;
		}
		app_set_events(s, UV_WRITABLE);
		goto out;
	}
	if ((events & UV_READABLE) && c->w.h2 && hb_src_ready(&s->src))
		nghttp2_session_resume_data(c->w.h2, s->id);
	/* The DATA source reads in this flush; UV_READABLE stays on when it defers again. */
	conn_flush(c);
	if (!s->h2_closed)
		app_set_events(s, (hb_buf_live(&s->pend) ? UV_WRITABLE : 0) | (s->src.waiting ? UV_READABLE : 0));
	conn_leave(c);
	return;
out:
	conn_flush(c);
	conn_leave(c);
}

/* ---------- nghttp2 callbacks ---------- */

/* The CONNECT's body: the application's bytes, once its socket is attached. */
static ssize_t data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
			    nghttp2_data_source *source, void *user_data)
{
	struct hc_stream *s = source->ptr;
	(void)stream_id;
	(void)user_data;
	if (!s->attached)
		return NGHTTP2_ERR_DEFERRED;
	if (hb_buf_live(&s->first)) {
		size_t n = hb_buf_live(&s->first);
		if (n > length)
			n = length;
		memcpy(buf, s->first.p + s->first.off, n);
		s->first.off += n;
		s->app_read += (double)n;
		if (!hb_buf_live(&s->first))
			hb_buf_free(&s->first);
		return (ssize_t)n;
	}
	if (s->app_fd < 0 || s->app_eof) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		return 0;
	}
	{
		ssize_t n = hb_src_read(&s->src, s->app_fd, buf, length);
		if (n > 0) {
			s->app_read += (double)n;
			return n;
		}
		if (n == 0) {
			s->app_eof = 1;
			*data_flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		if (n == HB_SRC_WAIT) {
			app_set_events(s, s->events | UV_READABLE);
			return NGHTTP2_ERR_DEFERRED;
		}
		/* The application reset its connection: the tunnel is reset, not ended. */
		s->app_eof = 1;
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
		return NGHTTP2_ERR_DEFERRED;
	}
}

/* How much of the application's bytes a DATA frame may carry: small unless more is waiting. */
static ssize_t data_length_cb(nghttp2_session *session, uint8_t frame_type, int32_t stream_id, int32_t session_window,
			      int32_t stream_window, uint32_t remote_max_frame_size, void *user_data)
{
	struct hc_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	size_t readable = 0;
	(void)frame_type;
	(void)user_data;
	if (s) {
		readable = hb_buf_live(&s->first);
		if (s->attached && !s->app_eof)
			readable += hb_src_readable(&s->src);
	}
	return hb_data_length(session_window, stream_window, remote_max_frame_size, readable);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
		     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
	struct hc_stream *s;
	(void)flags;
	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_RESPONSE)
		return 0;
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s || s->status || namelen != 7 || memcmp(name, ":status", 7) || valuelen != 3)
		return 0;
	if (value[0] < '1' || value[0] > '5' || value[1] < '0' || value[1] > '9' || value[2] < '0' || value[2] > '9')
		return 0;
	s->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct hc_conn *c = user_data;
	struct hc_stream *s;
	struct hc_event *e;

	switch (frame->hd.type) {
	case NGHTTP2_PING:
		/* An ACK we did not ask for is ignored (RFC 9113 §6.7). */
		if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && c->ping_outstanding)
			c->ping_outstanding = 0;
		return 0;
	case NGHTTP2_SETTINGS:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			return 0;
		c->got_settings = 1;
		e = ev_new(c, CEV_SETTINGS, 0, NULL);
		if (e)
			e->n1 = nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
		return 0;
	case NGHTTP2_GOAWAY:
		e = ev_new(c, CEV_GOAWAY, 0, NULL);
		if (e) {
			e->n1 = frame->goaway.error_code;
			e->n2 = frame->goaway.last_stream_id;
		}
		return 0;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		break;
	default:
		return 0;
	}
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
		if (s->status < 200)
			s->status = s->status ? s->status : 502; /* no usable :status: fail the tunnel */
		e = ev_new(c, CEV_RESPONSE, s->id, NULL);
		if (e)
			e->n1 = s->status;
		/* Any other answer than 200 fails the tunnel; the stream is released (as Node's client). */
		if (s->status != 200)
			nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
	}
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		s->server_ended = 1;
		app_shut_if_done(s);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len, void *user_data)
{
	struct hc_conn *c = user_data;
	struct hc_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	(void)flags;
	if (!s || s->status != 200) {
		nghttp2_session_consume(session, stream_id, len);
		return 0;
	}
	if (s->attached && s->app_fd >= 0 && !hb_buf_live(&s->pend)) {
		while (len) {
			ssize_t w = write(s->app_fd, data, len);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				nghttp2_session_consume(session, stream_id, len);
				app_failed(s);
				return 0;
			}
			s->app_written += (double)w;
			nghttp2_session_consume(session, stream_id, (size_t)w);
			data += w;
			len -= (size_t)w;
		}
		if (!len)
			return 0;
	}
	/* Before the hand-over, or the application is slow: kept until written (bounded by our window). */
	if (hb_buf_append(&s->pend, data, len, (size_t)c->cli->stream_window + HB_DATA_FRAME_MAX) < 0) {
		nghttp2_session_consume(session, stream_id, len);
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_FLOW_CONTROL_ERROR);
		return 0;
	}
	if (s->attached)
		app_set_events(s, s->events | UV_WRITABLE);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
	struct hc_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	(void)user_data;
	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	s->h2_closed = 1;
	/* A clean end with bytes still on their way to the application is reported once they are
	 * written (app_poll_cb), so the counts and the outcome are final. */
	if (error_code != NGHTTP2_NO_ERROR || !s->attached || !hb_buf_live(&s->pend))
		queue_stream_end(s, error_code);
	if (error_code != NGHTTP2_NO_ERROR || !s->attached) {
		if (hb_buf_live(&s->pend))
			nghttp2_session_consume_connection(session, hb_buf_live(&s->pend));
		s->pend.off = s->pend.len = 0;
		stream_destroy(s, 1);
		return 0;
	}
	if (hb_buf_live(&s->pend)) {
		app_set_events(s, UV_WRITABLE);
		return 0;
	}
	stream_destroy(s, 0);
	return 0;
}

/* ---------- connection ---------- */

static void conn_poll_cb(uv_poll_t *h, int status, int events);
static void conn_timer_cb(uv_timer_t *t);

static void conn_poll_update(struct hc_conn *c)
{
	int want;
	if (c->state == CC_DEAD)
		return;
	if (c->state == CC_CONNECTING)
		want = UV_WRITABLE;
	else if (c->state == CC_HANDSHAKE)
		want = c->w.tls_want_write ? UV_WRITABLE : UV_READABLE;
	else
		want = hb_wire_events(&c->w);
	if (want != c->poll_events) {
		c->poll_events = want;
		if (want)
			uv_poll_start(&c->poll, want, conn_poll_cb);
		else
			uv_poll_stop(&c->poll);
	}
}

static int h2_start(struct hc_conn *c)
{
	struct hc_client *cli = c->cli;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[3];
	int rv;

	if (nghttp2_session_callbacks_new(&cbs))
		return -1;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, data_length_cb);
	if (nghttp2_option_new(&opt)) {
		nghttp2_session_callbacks_del(cbs);
		return -1;
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	rv = nghttp2_session_client_new2(&c->w.h2, cbs, c, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv)
		return -1;
	/* The settings the Node engine's client advertises (settings.ts h2Settings). */
	iv[0] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cli->stream_window };
	iv[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, cli->max_frame };
	iv[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };
	if (nghttp2_submit_settings(c->w.h2, NGHTTP2_FLAG_NONE, iv, 3))
		return -1;
	if (cli->conn_window > 65535)
		nghttp2_session_set_local_window_size(c->w.h2, NGHTTP2_FLAG_NONE, 0, (int32_t)cli->conn_window);
	c->state = CC_H2;
	return 0;
}

/* The handshake is done and OpenSSL verified the chain: JavaScript checks ALPN and the SAN. */
static int conn_secure(struct hc_conn *c)
{
	struct hc_client *cli = c->cli;
	napi_env env = cli->env;
	napi_handle_scope scope;
	napi_value argv[3], res;
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;
	int ok = 0;

	SSL_get0_alpn_selected(c->w.ssl, &alpn, &alpnlen);
	napi_open_handle_scope(env, &scope);
	argv[0] = conn_id_value(env, c);
	napi_create_string_utf8(env, alpn ? (const char *)alpn : "", alpn ? alpnlen : 0, &argv[1]);
	argv[2] = hb_peer_chain(env, c->w.ssl);
	res = hb_call_js(env, cli->actx, cli->cb_secure, 3, argv);
	if (res) {
		bool b = false;
		if (napi_get_value_bool(env, res, &b) == napi_ok)
			ok = b;
	}
	napi_close_handle_scope(env, scope);
	return ok;
}

static void conn_ready(struct hc_conn *c)
{
	struct sockaddr_storage la;
	socklen_t ll = sizeof(la);
	char ip[INET6_ADDRSTRLEN + 8] = "";
	uint32_t port = 0;
	struct hc_event *e;
	if (getsockname(c->w.fd, (void *)&la, &ll) == 0)
		hb_addr_text(&la, ip, sizeof(ip), &port);
	e = ev_new(c, CEV_READY, 0, ip);
	if (e)
		e->n1 = port;
}

static void conn_handshake(struct hc_conn *c)
{
	int r;
	ERR_clear_error();
	r = SSL_do_handshake(c->w.ssl);
	if (r == 1) {
		c->w.tls_want_write = 0;
		if (!conn_secure(c)) {
			hb_wire_fatal(&c->w, "server refused");
			return;
		}
		if (c->state == CC_DEAD)
			return;
		if (h2_start(c) < 0) {
			hb_wire_fatal(&c->w, "http2 session setup failed");
			return;
		}
		uv_timer_stop(&c->timer);
		if (c->cli->ping_interval_ms)
			uv_timer_start(&c->timer, conn_timer_cb, c->cli->ping_interval_ms, c->cli->ping_interval_ms);
		conn_ready(c);
		conn_flush(c);
		hb_wire_read(&c->w);
		return;
	}
	switch (SSL_get_error(c->w.ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->w.tls_want_write = 0;
		break;
	case SSL_ERROR_WANT_WRITE:
		c->w.tls_want_write = 1;
		break;
	default: {
		char buf[120];
		unsigned long e = ERR_peek_last_error();
		if (e) {
			ERR_error_string_n(e, buf, sizeof(buf));
			snprintf(c->w.close_reason, sizeof(c->w.close_reason), "%s", buf);
		} else {
			snprintf(c->w.close_reason, sizeof(c->w.close_reason), "connection closed during the handshake");
		}
		hb_wire_fatal(&c->w, c->w.close_reason);
	}
	}
}

static void conn_connected(struct hc_conn *c)
{
	int e = 0;
	socklen_t el = sizeof(e);
	if (getsockopt(c->w.fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		e = errno;
	if (e) {
		c->conn_errno = e;
		hb_wire_fatal(&c->w, hb_errno_name(e));
		return;
	}
	hb_set_nodelay(c->w.fd);
	c->state = CC_HANDSHAKE;
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, conn_timer_cb, c->cli->handshake_timeout_ms, 0);
	conn_handshake(c);
}

static void conn_poll_cb(uv_poll_t *h, int status, int events)
{
	struct hc_conn *c = h->data;
	conn_enter(c);
	if (status < 0 && c->state != CC_CONNECTING) {
		hb_wire_fatal(&c->w, "socket error");
	} else if (c->state == CC_CONNECTING) {
		conn_connected(c);
	} else if (c->state == CC_HANDSHAKE) {
		conn_handshake(c);
	} else if (c->state == CC_H2) {
		if ((events & UV_WRITABLE) && c->w.tls_want_write)
			hb_wire_read(&c->w);
		if (events & UV_READABLE)
			hb_wire_read(&c->w);
		conn_flush(c);
	}
	conn_poll_update(c);
	conn_leave(c);
}

static void conn_timer_cb(uv_timer_t *t)
{
	struct hc_conn *c = t->data;
	char why[80];
	conn_enter(c);
	if (c->state == CC_CONNECTING) {
		c->conn_errno = ETIMEDOUT;
		snprintf(why, sizeof(why), "timed out after %u ms", c->cli->connect_timeout_ms);
		hb_wire_fatal(&c->w, why);
	} else if (c->state == CC_HANDSHAKE) {
		snprintf(why, sizeof(why), "handshake not done within %u ms", c->cli->handshake_timeout_ms);
		hb_wire_fatal(&c->w, why);
	} else if (c->state == CC_H2) {
		if (c->ping_outstanding && uv_now(c->cli->loop) - c->ping_sent_ms >= c->cli->ping_timeout_ms) {
			snprintf(why, sizeof(why), "no ping answer within %u ms", c->cli->ping_timeout_ms);
			hb_wire_fatal(&c->w, why);
		} else if (!c->ping_outstanding) {
			uint8_t payload[8] = { 'w', 'e', 'f', 't', 'p', 'i', 'n', 'g' };
			c->ping_outstanding = 1;
			c->ping_sent_ms = uv_now(c->cli->loop);
			nghttp2_submit_ping(c->w.h2, NGHTTP2_FLAG_NONE, payload);
			conn_flush(c);
		}
	}
	conn_leave(c);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct hc_conn *c = h->data;
	if (--c->handles == 0)
		free(c);
}

/* Tears the connection down: every attached application socket reset, events queued, fd closed. */
static void conn_close(struct hc_conn *c)
{
	struct hc_client *cli = c->cli;
	struct hc_event *e;
	int phase = c->state == CC_CONNECTING ? PH_CONNECT : c->state == CC_HANDSHAKE ? PH_TLS : PH_H2;
	if (c->state == CC_DEAD)
		return;
	if (c->state == CC_H2 && !c->w.write_blocked) {
		/* A last best-effort flush (a GOAWAY or RST_STREAM nghttp2 queued) without blocking. */
		c->w.fatal = 0;
		hb_wire_flush(&c->w);
		c->w.fatal = 1;
	}
	c->state = CC_DEAD;
	while (c->streams) {
		struct hc_stream *s = c->streams;
		queue_stream_end(s, NGHTTP2_CANCEL);
		s->h2_closed = 1;
		stream_destroy(s, 1);
	}
	hb_wire_free(&c->w);
	uv_timer_stop(&c->timer);
	uv_poll_stop(&c->poll);
	if (c->w.fd >= 0) {
		close(c->w.fd);
		c->w.fd = -1;
	}
	if (cli->slots[c->slot] == c) {
		cli->slots[c->slot] = NULL;
		cli->free_slots[cli->nfree++] = c->slot;
	}
	e = ev_new(c, CEV_CONN_END, 0, c->w.close_reason[0] ? c->w.close_reason : "closed");
	if (e) {
		e->n1 = phase;
		e->n2 = c->conn_errno;
		e->n3 = c->got_settings;
	}
}

static void conn_release(struct hc_conn *c)
{
	if (c->released)
		return;
	c->released = 1;
	c->handles = 2;
	c->poll.data = c;
	uv_close((uv_handle_t *)&c->poll, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static struct hc_conn *conn_lookup(struct hc_client *cli, double id)
{
	uint64_t v;
	uint32_t slot, gen;
	struct hc_conn *c;
	if (!(id >= 0) || id > 9007199254740991.0)
		return NULL;
	v = (uint64_t)id;
	slot = (uint32_t)(v % HC_MAX_SLOTS);
	gen = (uint32_t)(v / HC_MAX_SLOTS);
	if (slot >= cli->nslots)
		return NULL;
	c = cli->slots[slot];
	if (!c || c->gen != gen || c->state == CC_DEAD)
		return NULL;
	return c;
}

static struct hc_stream *stream_lookup(struct hc_conn *c, int32_t sid)
{
	if (!c->w.h2 || sid <= 0)
		return NULL;
	return nghttp2_session_get_stream_user_data(c->w.h2, sid);
}

static int slot_take(struct hc_client *cli, uint32_t *slot)
{
	if (cli->nfree == 0) {
		uint32_t n = cli->nslots ? cli->nslots * 2 : 64, i;
		struct hc_conn **ns;
		uint32_t *nf;
		if (n > HC_MAX_SLOTS)
			return -1;
		ns = realloc(cli->slots, n * sizeof(*ns));
		if (!ns)
			return -1;
		cli->slots = ns;
		nf = realloc(cli->free_slots, n * sizeof(*nf));
		if (!nf)
			return -1;
		cli->free_slots = nf;
		for (i = cli->nslots; i < n; i++) {
			ns[i] = NULL;
			nf[cli->nfree++] = n - 1 - (i - cli->nslots);
		}
		cli->nslots = n;
	}
	*slot = cli->free_slots[--cli->nfree];
	return 0;
}

/* ---------- JavaScript API ---------- */

static struct hc_client *client_of(napi_env env, napi_value v)
{
	void *p = NULL;
	if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
		throw_msg(env, "EINVAL", "weft_native hbone: not a client handle");
		return NULL;
	}
	return p;
}

static void client_finalize(napi_env env, void *data, void *hint)
{
	struct hc_client *cli = data;
	(void)env;
	(void)hint;
	/* JS keeps the handle while any connection is open (NativeHboneDialer). */
	free(cli->slots);
	free(cli->free_slots);
	free(cli);
}

/* hboneClient(options, onSecure(conn, alpn, chain) -> boolean, onEvent(kind, conn, stream, n1, n2, n3, text)) */
static napi_value hc_client_new(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], out, name, res;
	struct hc_client *cli;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneClient needs options and two callbacks");
		return NULL;
	}
	cli = calloc(1, sizeof(*cli));
	if (!cli)
		return NULL;
	cli->env = env;
	if (hb_opt_u32(env, argv[0], "hbone client", "streamWindow", &cli->stream_window) || hb_opt_u32(env, argv[0], "hbone client", "connectionWindow", &cli->conn_window) ||
	    hb_opt_u32(env, argv[0], "hbone client", "maxFrame", &cli->max_frame) || hb_opt_u32(env, argv[0], "hbone client", "pingIntervalMs", &cli->ping_interval_ms) ||
	    hb_opt_u32(env, argv[0], "hbone client", "pingTimeoutMs", &cli->ping_timeout_ms) ||
	    hb_opt_u32(env, argv[0], "hbone client", "handshakeTimeoutMs", &cli->handshake_timeout_ms) ||
	    hb_opt_u32(env, argv[0], "hbone client", "connectTimeoutMs", &cli->connect_timeout_ms)) {
		free(cli);
		return NULL;
	}
	if (cli->max_frame < 16384 || cli->max_frame > 16777215 || cli->stream_window < 65535 || cli->stream_window > 0x7fffffff ||
	    cli->handshake_timeout_ms < 1 || cli->connect_timeout_ms < 1) {
		free(cli);
		throw_msg(env, "EINVAL", "weft_native hbone client: options out of range");
		return NULL;
	}
	napi_get_uv_event_loop(env, &cli->loop);
	napi_create_reference(env, argv[1], 1, &cli->cb_secure);
	napi_create_reference(env, argv[2], 1, &cli->cb_event);
	napi_create_string_utf8(env, "weft.hbone.client", NAPI_AUTO_LENGTH, &name);
	napi_create_object(env, &res);
	napi_async_init(env, res, name, &cli->actx);
	napi_create_external(env, cli, client_finalize, NULL, &out);
	return out;
}

static void throw_errno(napi_env env, int e, const char *what, const char *ip, uint32_t port)
{
	char msg[200];
	snprintf(msg, sizeof(msg), "%s %s %s:%u", what, hb_errno_name(e), ip, port);
	throw_msg(env, hb_errno_name(e), msg);
}

/*
 * hboneClientDial(client, context, ip, port, sourceIp) -> connection id
 * Starts a non-blocking connect; its outcome arrives as events. Throws (code = errno name) when
 * the socket cannot even be created, bound or started.
 */
static napi_value hc_dial(napi_env env, napi_callback_info info)
{
	size_t argc = 5;
	napi_value argv[5], out;
	struct hc_client *cli;
	SSL_CTX *ctx = NULL;
	char ip[INET6_ADDRSTRLEN + 1], src[INET6_ADDRSTRLEN + 1];
	size_t iplen, srclen = 0;
	uint32_t port, slot;
	struct sockaddr_storage ss, sa;
	socklen_t sl, sal;
	int fd, r;
	struct hc_conn *c;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 5 || !(cli = client_of(env, argv[0])))
		return NULL;
	if (napi_get_value_external(env, argv[1], (void **)&ctx) != napi_ok || !ctx ||
	    napi_get_value_string_utf8(env, argv[2], ip, sizeof(ip), &iplen) != napi_ok || napi_get_value_uint32(env, argv[3], &port) != napi_ok ||
	    napi_get_value_string_utf8(env, argv[4], src, sizeof(src), &srclen) != napi_ok || !(sl = hb_addr_parse(ip, port, &ss))) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneClientDial(client, context, ip, port, sourceIp): a literal ip and port");
		return NULL;
	}
	sal = 0;
	if (srclen && !(sal = hb_addr_parse(src, 0, &sa))) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneClientDial: sourceIp is not a literal address");
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		throw_errno(env, errno, "socket", ip, port);
		return NULL;
	}
	if (sal && bind(fd, (void *)&sa, sal) < 0) {
		int e = errno;
		close(fd);
		throw_errno(env, e, "bind", src, 0);
		return NULL;
	}
	r = connect(fd, (void *)&ss, sl);
	if (r < 0 && errno != EINPROGRESS && errno != EINTR) {
		int e = errno;
		close(fd);
		throw_errno(env, e, "connect", ip, port);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c || slot_take(cli, &slot) < 0) {
		free(c);
		close(fd);
		throw_msg(env, "ENOMEM", "weft_native hbone: out of connection slots");
		return NULL;
	}
	c->w.ssl = SSL_new(ctx);
	/* The workload's context serves both directions; this connection is a TLS client. */
	if (!c->w.ssl || SSL_set_ssl_method(c->w.ssl, TLS_client_method()) != 1 || !SSL_set_fd(c->w.ssl, fd) ||
	    SSL_set_alpn_protos(c->w.ssl, (const unsigned char *)"\x02h2", 3) != 0) {
		if (c->w.ssl)
			SSL_free(c->w.ssl);
		cli->free_slots[cli->nfree++] = slot;
		free(c);
		close(fd);
		ERR_clear_error();
		throw_msg(env, "ETLS", "weft_native hbone: tls client setup failed");
		return NULL;
	}
	SSL_set_connect_state(c->w.ssl);
	c->cli = cli;
	c->slot = slot;
	c->gen = ++cli->gen & 0x3fffffff;
	c->w.fd = fd;
	c->state = CC_CONNECTING;
	cli->slots[slot] = c;
	uv_poll_init_socket(cli->loop, &c->poll, fd);
	c->poll.data = c;
	uv_timer_init(cli->loop, &c->timer);
	c->timer.data = c;
	uv_unref((uv_handle_t *)&c->timer);
	uv_timer_start(&c->timer, conn_timer_cb, cli->connect_timeout_ms, 0);
	conn_poll_update(c);
	out = conn_id_value(env, c);
	return out;
}

/* hboneClientOpen(client, conn, headers [name, value, ...]) -> stream id (CONNECT sent), or -1 */
static napi_value hc_open(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], out;
	struct hc_client *cli;
	struct hc_conn *c;
	struct hc_stream *s;
	double cid;
	uint32_t n = 0, i;
	bool isarr = false;
	nghttp2_nv nv[HC_HEADERS_MAX];
	char *text[HC_HEADERS_MAX * 2];
	size_t lens[HC_HEADERS_MAX * 2];
	nghttp2_data_provider dp;
	int32_t sid = -1;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3 || !(cli = client_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_is_array(env, argv[2], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[2], &n) != napi_ok || n % 2 ||
	    n > HC_HEADERS_MAX * 2) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneClientOpen(client, conn, [name, value, ...])");
		return NULL;
	}
	c = conn_lookup(cli, cid);
	if (!c || c->state != CC_H2 || !c->w.h2 || c->w.fatal) {
		napi_create_int32(env, -1, &out);
		return out;
	}
	memset(text, 0, sizeof(text));
	for (i = 0; i < n; i++) {
		napi_value v;
		size_t len;
		if (napi_get_element(env, argv[2], i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok ||
		    !(text[i] = malloc(len + 1))) {
			throw_msg(env, "EINVAL", "weft_native hbone: hboneClientOpen: header names and values must be strings");
			goto done;
		}
		napi_get_value_string_utf8(env, v, text[i], len + 1, &len);
		lens[i] = len;
	}
	for (i = 0; i < n / 2; i++)
		nv[i] = (nghttp2_nv){ (uint8_t *)text[2 * i], (uint8_t *)text[2 * i + 1], lens[2 * i], lens[2 * i + 1], NGHTTP2_NV_FLAG_NONE };
	s = calloc(1, sizeof(*s));
	if (!s)
		goto done;
	s->conn = c;
	s->app_fd = -1;
	dp.source.ptr = s;
	dp.read_callback = data_read_cb;
	conn_enter(c);
	sid = nghttp2_submit_request(c->w.h2, NULL, nv, n / 2, &dp, s);
	if (sid < 0) {
		free(s);
		sid = -1;
	} else {
		s->id = sid;
		s->next = c->streams;
		if (c->streams)
			c->streams->prev = s;
		c->streams = s;
		conn_flush(c);
	}
	conn_leave(c);
done:
	for (i = 0; i < n; i++)
		free(text[i]);
	napi_create_int32(env, sid, &out);
	return out;
}

/*
 * hboneClientAttach(client, conn, stream, fd, initial) -> boolean
 * Splices the application's socket (fd, owned by the addon from here, also on false) with a
 * stream the server answered 200; `initial` are bytes Node had already read from it.
 */
static napi_value hc_attach(napi_env env, napi_callback_info info)
{
	size_t argc = 5;
	napi_value argv[5], out;
	struct hc_client *cli;
	struct hc_conn *c;
	struct hc_stream *s;
	double cid;
	int32_t sid, fd;
	void *init = NULL;
	size_t initlen = 0;
	bool isbuf = false, ok = false;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 5 || !(cli = client_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &sid) != napi_ok || napi_get_value_int32(env, argv[3], &fd) != napi_ok || fd < 0) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneClientAttach(client, conn, stream, fd, initial)");
		return NULL;
	}
	napi_is_buffer(env, argv[4], &isbuf);
	if (isbuf)
		napi_get_buffer_info(env, argv[4], &init, &initlen);
	c = conn_lookup(cli, cid);
	s = c ? stream_lookup(c, sid) : NULL;
	if (!s || s->status != 200 || s->attached || s->h2_closed) {
		hb_close_reset(fd);
		napi_get_boolean(env, false, &out);
		return out;
	}
	conn_enter(c);
	if (hb_set_nonblock(fd) < 0 || uv_poll_init_socket(cli->loop, &s->poll, fd) != 0 ||
	    (initlen && hb_buf_append(&s->first, init, initlen, initlen) < 0)) {
		hb_close_reset(fd);
		nghttp2_submit_rst_stream(c->w.h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
		goto done;
	}
	hb_set_nodelay(fd);
	s->app_fd = fd;
	s->poll_init = 1;
	s->poll.data = s;
	s->attached = 1;
	nghttp2_session_resume_data(c->w.h2, s->id);
	if (hb_buf_live(&s->pend)) {
		if (app_drain(s) < 0)
			app_failed(s);
		else if (hb_buf_live(&s->pend))
			app_set_events(s, UV_WRITABLE);
	} else {
		app_shut_if_done(s);
	}
	ok = true;
done:
	conn_flush(c);
	conn_leave(c);
	napi_get_boolean(env, ok, &out);
	return out;
}

/* hboneClientReset(client, conn, stream, code): RST_STREAM (the tunnel abandoned). */
static napi_value hc_reset(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4];
	struct hc_client *cli;
	struct hc_conn *c;
	double cid;
	int32_t sid;
	uint32_t code;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 4 || !(cli = client_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &sid) != napi_ok || napi_get_value_uint32(env, argv[3], &code) != napi_ok)
		return NULL;
	c = conn_lookup(cli, cid);
	if (!c || !stream_lookup(c, sid))
		return NULL;
	conn_enter(c);
	nghttp2_submit_rst_stream(c->w.h2, NGHTTP2_FLAG_NONE, sid, code);
	conn_flush(c);
	conn_leave(c);
	return NULL;
}

/* hboneClientClose(client, conn, graceful): GOAWAY and close once its streams ended; or now. */
static napi_value hc_close(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	struct hc_client *cli;
	struct hc_conn *c;
	double cid;
	bool graceful = false;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3 || !(cli = client_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok)
		return NULL;
	napi_get_value_bool(env, argv[2], &graceful);
	c = conn_lookup(cli, cid);
	if (!c)
		return NULL;
	conn_enter(c);
	if (graceful && c->state == CC_H2) {
		snprintf(c->w.close_reason, sizeof(c->w.close_reason), "closed by the pool");
		nghttp2_submit_goaway(c->w.h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
		conn_flush(c);
	} else {
		hb_wire_fatal(&c->w, "closed by the pool");
	}
	conn_leave(c);
	return NULL;
}

/* hboneClientStreamBytes(client, conn, stream) -> [fromApplication, toApplication] or null */
static napi_value hc_stream_bytes(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], out, v;
	struct hc_client *cli;
	struct hc_conn *c;
	struct hc_stream *s;
	double cid;
	int32_t sid;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3 || !(cli = client_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &sid) != napi_ok)
		return NULL;
	c = conn_lookup(cli, cid);
	s = c ? stream_lookup(c, sid) : NULL;
	if (!s) {
		napi_get_null(env, &out);
		return out;
	}
	napi_create_array_with_length(env, 2, &out);
	napi_create_double(env, s->app_read, &v);
	napi_set_element(env, out, 0, v);
	napi_create_double(env, s->app_written, &v);
	napi_set_element(env, out, 1, v);
	return out;
}

/* hboneSocketPair() -> [fd, fd]: a connected AF_UNIX stream pair (a tunnel as a Node Duplex). */
static napi_value hc_socketpair(napi_env env, napi_callback_info info)
{
	int sv[2];
	napi_value out, v;
	(void)info;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		throw_msg(env, hb_errno_name(errno), "weft_native hbone: socketpair failed");
		return NULL;
	}
	napi_create_array_with_length(env, 2, &out);
	napi_create_int32(env, sv[0], &v);
	napi_set_element(env, out, 0, v);
	napi_create_int32(env, sv[1], &v);
	napi_set_element(env, out, 1, v);
	return out;
}

void hbone_client_init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "hboneClient", NULL, hc_client_new, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneClientDial", NULL, hc_dial, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneClientOpen", NULL, hc_open, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneClientAttach", NULL, hc_attach, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneClientReset", NULL, hc_reset, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneClientClose", NULL, hc_close, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneClientStreamBytes", NULL, hc_stream_bytes, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneSocketPair", NULL, hc_socketpair, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
