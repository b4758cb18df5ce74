/* weft's native HBONE server data path (docs/hbone.md "Native engine").
 *
 * TCP in, TLS 1.3 mTLS (OpenSSL), HTTP/2 (nghttp2), one CONNECT per tunnel; the bytes of a
 * tunnel move between the upstream fd and the HTTP/2 stream here and never cross into
 * JavaScript. Every decision is made in TypeScript (src/proxy/hbone/native-server.ts), called
 * once per connection and per stream: which certificate serves a local address, whether the
 * peer chain is accepted, what a CONNECT gets (status, or an upstream fd), and what happens to a
 * connection that misbehaves (GOAWAY with a code).
 *
 * Symbols: OpenSSL and nghttp2 are resolved from the node binary at load time (it exports both,
 * as its own OpenSSL 3.x and nghttp2 builds); the addon is compiled against Node's bundled
 * OpenSSL headers and Debian's nghttp2 headers (nghttp2 keeps its ABI backwards compatible).
 *
 * Single-threaded: every fd is driven by uv_poll on the Node event loop; JavaScript is called
 * only at "safe points" (never from inside an nghttp2 call), from a per-connection event queue.
 *
 * Wire: the TLS + HTTP/2 read and coalescing write loops are hbone_common.c's (hb_wire, shared
 * with the client), with the SETTINGS rewrite below as its frame hook; client bytes waiting for
 * a slow upstream are an hb_buf.
 *
 * Bounds: SSL reads go through the wire's one static 64 KiB buffer; a connection's coalescing
 * write buffer is 64 KiB; bytes from the client waiting for a slow upstream are at most the stream's
 * advertised window (nghttp2 manual flow control: a byte is consumed, and its window given back,
 * only once written upstream), so a connection holds at most its connection window of them.
 * Header blocks are bounded by nghttp2's max header list (64 KiB) and our own copy by
 * HB_HEADERS_MAX. A stream past our advertised SETTINGS_MAX_CONCURRENT_STREAMS is refused alone
 * with RST_STREAM(REFUSED_STREAM): nghttp2 itself is told a larger limit (it would treat
 * exceeding an acknowledged limit as a connection error) and the SETTINGS frame it writes is
 * rewritten to advertise ours before it is encrypted.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <nghttp2/nghttp2.h>

#include "hbone_common.h"
#include "hbone_server.h"

/* RFC 8879 certificate compression off (hb_context); OpenSSL 3.2's bits where the headers are older. */
#ifdef SSL_OP_NO_TX_CERTIFICATE_COMPRESSION
#define HB_SSL_OP_NO_TX_CERT_COMPRESSION SSL_OP_NO_TX_CERTIFICATE_COMPRESSION
#define HB_SSL_OP_NO_RX_CERT_COMPRESSION SSL_OP_NO_RX_CERTIFICATE_COMPRESSION
#else
#define HB_SSL_OP_NO_TX_CERT_COMPRESSION ((uint64_t)1 << 32)
#define HB_SSL_OP_NO_RX_CERT_COMPRESSION ((uint64_t)1 << 33)
#endif

#define HB_DISCARD_BUF (16 * 1024)
#define HB_HEADERS_MAX (16 * 1024)
#define HB_MAX_SLOTS (1 << 20)
#define HB_DRAIN_MS 1000
#define HB_NGHTTP2_STREAMS_LIMIT (1u << 30)
/* Returning freed memory after a burst (docs/hbone.md "Native engine", flood memory): once the
 * live connections + streams fall to a quarter of a peak of at least HB_TRIM_PEAK, malloc_trim(0)
 * runs HB_TRIM_DELAY_MS later (the frees of closing handles land first), at most once per
 * HB_TRIM_INTERVAL_MS. */
#define HB_TRIM_PEAK 256
#define HB_TRIM_DELAY_MS 250
#define HB_TRIM_INTERVAL_MS 2000

enum conn_state { CS_HANDSHAKE, CS_H2, CS_DEAD };
enum stream_state { SS_HEADERS, SS_ASKED, SS_TUNNEL, SS_REPLIED, SS_REFUSED };
enum ev_kind { EV_STREAM, EV_STREAM_END, EV_CONN_END };

struct hb_server;
struct hb_conn;

struct hb_event {
	struct hb_event *next;
	enum ev_kind kind;
	int32_t stream_id;
	uint32_t code;
	int answered;
	double bytes_in, bytes_out;
	/* EV_STREAM: method \0 authority \0 then name \0 value \0 pairs; EV_CONN_END: reason \0 */
	size_t text_len;
	char text[];
};

/* A request's header block while it is collected (the EV_STREAM event is built from it), freed
 * once the request is asked: an open tunnel keeps none of it (~350 B per stream before). */
struct hb_req {
	size_t hdr_len;
	int overflow;
	char method[32];
	char authority[300];
	char hdr[]; /* name \0 value \0 pairs, at most HB_HEADERS_MAX */
};

struct hb_stream {
	struct hb_conn *conn;
	struct hb_stream *prev, *next;
	int32_t id;
	enum stream_state state;
	int counted;
	int h2_closed;
	int client_ended;
	int up_wr_shut;
	int up_eof;
	int up_closing;
	int up_fd;
	struct hb_src src; /* the upstream fd as the DATA source (hbone_common.h); fills the hole before the poll */
	uv_poll_t up_poll;
	int up_poll_init;
	int up_events;
	uint8_t *first; /* upstream bytes read before the hand-over (by Node), sent first */
	size_t first_len, first_off;
	struct hb_buf pend; /* client -> upstream bytes the upstream has not taken yet (bounded) */
	double bytes_in, bytes_out;
	struct hb_req *req; /* the request's headers while they are collected; freed once asked */
	int rst_after_reply;
	int up_reset; /* JavaScript reset the tunnel (policy close): the upstream gets a TCP RST */
};

struct hb_conn {
	struct hb_server *srv;
	uint32_t slot;
	uint32_t gen;
	/* fd, SSL, nghttp2 session, the coalescing output buffer, fatal + close reason: the TLS and
	 * HTTP/2 wire loop shared with the client (hbone_common.c), our SETTINGS rewrite as its hook */
	struct hb_wire w;
	enum conn_state state;
	uv_poll_t poll;
	int poll_events;
	uv_timer_t timer;
	int handles; /* open uv handles; freed when 0 after release */
	int settings_patched;
	int busy;
	int released;
	int draining; /* GOAWAY sent, write side shut: discarding input until EOF or a deadline */
	uint32_t active;
	uint64_t ping_sent_ms;
	int ping_outstanding;
	struct hb_stream *streams;
	struct hb_event *ev_head, *ev_tail;
};

struct hb_listener {
	struct hb_server *srv;
	struct hb_listener *next;
	int fd;
	int id;
	uv_poll_t poll;
};

struct hb_server {
	napi_env env;
	uv_loop_t *loop;
	napi_ref self;
	napi_ref cb_conn, cb_secure, cb_stream, cb_stream_end, cb_conn_end;
	napi_async_context actx;
	struct hb_listener *listeners;
	int next_listener_id;
	struct hb_conn **slots;
	uint32_t nslots;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t gen;
	uint32_t stream_window, conn_window, max_frame, max_streams;
	uint32_t ping_interval_ms, ping_timeout_ms, handshake_timeout_ms;
	int closed;
	uint32_t live, peak; /* connections + streams allocated, and their peak since the last trim */
	uv_timer_t trim_timer;
	int trim_timer_open;
	uint64_t last_trim_ms;
};

/* Input of a lingering close, thrown away (the wire has its own read buffer). */
static uint8_t discard_buf[HB_DISCARD_BUF];

/* ---------- small helpers ---------- */

static void throw_msg(napi_env env, const char *code, const char *msg)
{
	napi_throw_error(env, code, msg);
}

static uint64_t now_ms(struct hb_server *srv)
{
	return uv_now(srv->loop);
}

/* ---------- events to JavaScript ---------- */

static struct hb_event *ev_new(struct hb_conn *c, enum ev_kind kind, size_t text_len)
{
	struct hb_event *e = calloc(1, sizeof(*e) + text_len + 1);
	if (!e)
		return NULL;
	e->kind = kind;
	e->text_len = text_len;
	if (c->ev_tail)
		c->ev_tail->next = e;
	else
		c->ev_head = e;
	c->ev_tail = e;
	return e;
}

static napi_value conn_id_value(napi_env env, struct hb_conn *c)
{
	napi_value v;
	napi_create_double(env, (double)c->gen * HB_MAX_SLOTS + c->slot, &v);
	return v;
}

static void deliver(struct hb_conn *c, struct hb_event *e)
{
	struct hb_server *srv = c->srv;
	napi_env env = srv->env;
	napi_handle_scope scope;
	napi_value argv[6];

	/* A stream reset in the same read as its HEADERS (rapid reset) never reaches JavaScript as a
	 * request: only its end arrives, unanswered, so it costs no dial. */
	if (e->kind == EV_STREAM && (srv->closed || c->state == CS_DEAD || !nghttp2_session_get_stream_user_data(c->w.h2, e->stream_id)))
		return;
	napi_open_handle_scope(env, &scope);
	argv[0] = conn_id_value(env, c);
	napi_create_int32(env, e->stream_id, &argv[1]);
	if (e->kind == EV_STREAM) {
		const char *method = e->text;
		const char *authority = method + strlen(method) + 1;
		const char *p = authority + strlen(authority) + 1;
		const char *end = e->text + e->text_len;
		napi_value arr;
		uint32_t i = 0;
		napi_create_string_utf8(env, method, NAPI_AUTO_LENGTH, &argv[2]);
		napi_create_string_utf8(env, authority, NAPI_AUTO_LENGTH, &argv[3]);
		napi_create_array(env, &arr);
		while (p < end) {
			napi_value s;
			size_t n = strnlen(p, (size_t)(end - p));
			napi_create_string_utf8(env, p, n, &s);
			napi_set_element(env, arr, i++, s);
			p += n + 1;
		}
		argv[4] = arr;
		hb_call_js(srv->env, srv->actx, srv->cb_stream, 5, argv);
	} else if (e->kind == EV_STREAM_END) {
		napi_create_double(env, e->bytes_in, &argv[2]);
		napi_create_double(env, e->bytes_out, &argv[3]);
		napi_create_uint32(env, e->code, &argv[4]);
		napi_get_boolean(env, e->answered, &argv[5]);
		hb_call_js(srv->env, srv->actx, srv->cb_stream_end, 6, argv);
	} else {
		napi_create_string_utf8(env, e->text, NAPI_AUTO_LENGTH, &argv[1]);
		hb_call_js(srv->env, srv->actx, srv->cb_conn_end, 2, argv);
	}
	napi_close_handle_scope(env, scope);
}

static void conn_release(struct hb_conn *c);
static void conn_close(struct hb_conn *c, const char *reason);
static void conn_flush(struct hb_conn *c);
static void conn_poll_update(struct hb_conn *c);

static void conn_enter(struct hb_conn *c)
{
	c->busy++;
}

/* The outermost exit delivers queued events, then closes/frees what asked for it. */
static void conn_leave(struct hb_conn *c)
{
	if (c->busy > 1) {
		c->busy--;
		return;
	}
	if (c->w.fatal && c->state != CS_DEAD)
		conn_close(c, c->w.close_reason[0] ? c->w.close_reason : "protocol error");
	while (c->ev_head) {
		struct hb_event *e = c->ev_head;
		c->ev_head = e->next;
		if (!c->ev_head)
			c->ev_tail = NULL;
		deliver(c, e);
		free(e);
		if (c->w.fatal && c->state != CS_DEAD)
			conn_close(c, c->w.close_reason[0] ? c->w.close_reason : "protocol error");
	}
	c->busy = 0;
	if (c->state == CS_DEAD && !c->draining)
		conn_release(c);
}

/* ---------- returning memory after bursts ---------- */

static void trim_cb(uv_timer_t *t)
{
	struct hb_server *srv = t->data;
	uint64_t now = uv_now(srv->loop);
	if (srv->last_trim_ms && now - srv->last_trim_ms < HB_TRIM_INTERVAL_MS) {
		uv_timer_start(t, trim_cb, HB_TRIM_INTERVAL_MS - (now - srv->last_trim_ms), 0);
		return;
	}
	malloc_trim(0);
	srv->last_trim_ms = uv_now(srv->loop);
	srv->peak = srv->live;
}

static void live_add(struct hb_server *srv)
{
	if (++srv->live > srv->peak)
		srv->peak = srv->live;
}

static void live_drop(struct hb_server *srv)
{
	if (srv->live)
		srv->live--;
	if (srv->trim_timer_open && srv->peak >= HB_TRIM_PEAK && srv->live * 4 <= srv->peak && !uv_is_active((uv_handle_t *)&srv->trim_timer))
		uv_timer_start(&srv->trim_timer, trim_cb, HB_TRIM_DELAY_MS, 0);
}

/* ---------- streams ---------- */

static void stream_free_cb(uv_handle_t *h)
{
	struct hb_stream *s = h->data;
	hb_buf_free(&s->pend);
	free(s->req);
	free(s->first);
	free(s);
}

static void stream_unlink(struct hb_stream *s)
{
	struct hb_conn *c = s->conn;
	if (s->prev)
		s->prev->next = s->next;
	else if (c->streams == s)
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* Ends the upstream side (reset when `reset`), unlinks and frees the stream. */
static void stream_destroy(struct hb_stream *s, int reset)
{
	stream_unlink(s);
	live_drop(s->conn->srv);
	if (s->up_fd >= 0) {
		if (s->up_poll_init)
			uv_poll_stop(&s->up_poll);
		if (reset)
			hb_close_reset(s->up_fd);
		else
			close(s->up_fd);
		s->up_fd = -1;
	}
	if (s->up_poll_init) {
		s->up_poll.data = s;
		uv_close((uv_handle_t *)&s->up_poll, stream_free_cb);
	} else {
		hb_buf_free(&s->pend);
		free(s->req);
		free(s->first);
		free(s);
	}
}

static void queue_stream_end(struct hb_stream *s, uint32_t code)
{
	struct hb_event *e = ev_new(s->conn, EV_STREAM_END, 0);
	if (!e)
		return;
	e->stream_id = s->id;
	e->code = code;
	e->answered = s->state == SS_TUNNEL || s->state == SS_REPLIED || s->state == SS_REFUSED;
	e->bytes_in = s->bytes_in;
	e->bytes_out = s->bytes_out;
}

static void up_poll_cb(uv_poll_t *h, int status, int events);

static void up_set_events(struct hb_stream *s, int events)
{
	if (s->up_fd < 0 || !s->up_poll_init || s->up_events == events)
		return;
	s->up_events = events;
	if (events)
		uv_poll_start(&s->up_poll, events, up_poll_cb);
	else
		uv_poll_stop(&s->up_poll);
}

/* Gives `n` received bytes back to the client's windows (stream and connection). */
static void consume(struct hb_stream *s, size_t n)
{
	if (!n || !s->conn->w.h2)
		return;
	if (s->h2_closed)
		nghttp2_session_consume_connection(s->conn->w.h2, n);
	else
		nghttp2_session_consume(s->conn->w.h2, s->id, n);
}

/* Writes pending client bytes upstream; returns -1 on a write error. */
static int up_drain(struct hb_stream *s)
{
	while (hb_buf_live(&s->pend) > 0) {
		ssize_t w = write(s->up_fd, s->pend.p + s->pend.off, hb_buf_live(&s->pend));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		s->pend.off += (size_t)w;
		s->bytes_in += (double)w;
		consume(s, (size_t)w);
	}
	if (hb_buf_live(&s->pend) == 0) {
		s->pend.off = s->pend.len = 0;
		if (s->pend.cap > 64 * 1024)
			hb_buf_free(&s->pend);
		if (s->client_ended && !s->up_wr_shut) {
			shutdown(s->up_fd, SHUT_WR);
			s->up_wr_shut = 1;
		}
	}
	return 0;
}

/* Bounded by the stream window: the client cannot send more than we gave back. */
static int pend_append(struct hb_stream *s, const uint8_t *data, size_t len)
{
	return hb_buf_append(&s->pend, data, len, (size_t)s->conn->srv->stream_window + HB_DATA_FRAME_MAX);
}

static void up_poll_cb(uv_poll_t *h, int status, int events)
{
	struct hb_stream *s = h->data;
	struct hb_conn *c = s->conn;

	conn_enter(c);
	if (status < 0)
		events = UV_READABLE | UV_WRITABLE;
	if ((events & UV_WRITABLE) && hb_buf_live(&s->pend) > 0) {
		if (up_drain(s) < 0) {
			if (!s->h2_closed && c->w.h2)
				nghttp2_submit_rst_stream(c->w.h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
			s->pend.off = s->pend.len = 0;
			if (s->h2_closed) {
				stream_destroy(s, 1);
				goto out;
			}
		}
	}
	if (s->h2_closed) {
		if (hb_buf_live(&s->pend) == 0) {
			stream_destroy(s, 0);
			goto out;
		}
		up_set_events(s, UV_WRITABLE);
		goto out;
	}
	if ((events & UV_READABLE) && c->w.h2 && hb_src_ready(&s->src))
		nghttp2_session_resume_data(c->w.h2, s->id);
	/* The DATA source reads in this flush; UV_READABLE stays on when it defers again. */
	conn_flush(c);
	if (!s->h2_closed)
		up_set_events(s, (hb_buf_live(&s->pend) > 0 ? UV_WRITABLE : 0) | (s->src.waiting ? UV_READABLE : 0));
	conn_leave(c);
	return;
out:
	conn_flush(c);
	conn_leave(c);
}

/* ---------- nghttp2 callbacks ---------- */

static ssize_t data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
			    nghttp2_data_source *source, void *user_data)
{
	struct hb_stream *s = source->ptr;
	(void)session;
	(void)stream_id;
	(void)user_data;
	if (s->first_off < s->first_len) {
		size_t n = s->first_len - s->first_off;
		if (n > length)
			n = length;
		memcpy(buf, s->first + s->first_off, n);
		s->first_off += n;
		s->bytes_out += (double)n;
		if (s->first_off == s->first_len) {
			free(s->first);
			s->first = NULL;
			s->first_off = s->first_len = 0;
		}
		return (ssize_t)n;
	}
	if (s->up_fd < 0 || s->up_eof) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		return 0;
	}
	{
		ssize_t n = hb_src_read(&s->src, s->up_fd, buf, length);
		if (n > 0) {
			s->bytes_out += (double)n;
			return n;
		}
		if (n == 0) {
			s->up_eof = 1;
			*data_flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		if (n == HB_SRC_WAIT) {
			up_set_events(s, s->up_events | UV_READABLE);
			return NGHTTP2_ERR_DEFERRED;
		}
		/* The upstream failed (e.g. reset): the client sees the stream reset. */
		s->up_eof = 1;
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
		return NGHTTP2_ERR_DEFERRED;
	}
}

/* How much of the upstream's bytes a DATA frame may carry: small unless more is waiting. */
static ssize_t data_length_cb(nghttp2_session *session, uint8_t frame_type, int32_t stream_id, int32_t session_window,
			      int32_t stream_window, uint32_t remote_max_frame_size, void *user_data)
{
	struct hb_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	size_t readable = 0;
	(void)frame_type;
	(void)user_data;
	if (s) {
		readable = s->first_len - s->first_off;
		if (!s->up_eof)
			readable += hb_src_readable(&s->src);
	}
	return hb_data_length(session_window, stream_window, remote_max_frame_size, readable);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct hb_conn *c = user_data;
	struct hb_stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->conn = c;
	s->id = frame->hd.stream_id;
	s->up_fd = -1;
	live_add(c->srv);
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	nghttp2_session_set_stream_user_data(session, s->id, s);
	if (c->active >= c->srv->max_streams) {
		/* RFC 9113 §5.1.2: refused alone; the connection and its other tunnels go on. */
		s->state = SS_REFUSED;
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	s->counted = 1;
	c->active++;
	return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
		     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
	struct hb_stream *s;
	struct hb_req *r;
	(void)flags;
	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s || s->state != SS_HEADERS)
		return 0;
	if (!s->req) {
		s->req = malloc(sizeof(*s->req) + HB_HEADERS_MAX);
		if (!s->req)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		memset(s->req, 0, sizeof(*s->req)); /* the header bytes are written before they are read */
	}
	r = s->req;
	if (namelen == 7 && !memcmp(name, ":method", 7)) {
		if (valuelen >= sizeof(r->method))
			valuelen = sizeof(r->method) - 1;
		memcpy(r->method, value, valuelen);
		r->method[valuelen] = 0;
		return 0;
	}
	if (namelen == 10 && !memcmp(name, ":authority", 10)) {
		if (valuelen >= sizeof(r->authority)) {
			r->overflow = 1;
			return 0;
		}
		memcpy(r->authority, value, valuelen);
		r->authority[valuelen] = 0;
		return 0;
	}
	if (r->hdr_len + namelen + valuelen + 2 > HB_HEADERS_MAX) {
		r->overflow = 1;
		return 0;
	}
	/* NUL inside a value cannot reach us: nghttp2's HTTP messaging checks refuse it. */
	memcpy(r->hdr + r->hdr_len, name, namelen);
	r->hdr_len += namelen;
	r->hdr[r->hdr_len++] = 0;
	memcpy(r->hdr + r->hdr_len, value, valuelen);
	r->hdr_len += valuelen;
	r->hdr[r->hdr_len++] = 0;
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct hb_conn *c = user_data;
	struct hb_stream *s;

	if (frame->hd.type == NGHTTP2_PING) {
		/* An ACK we did not ask for is ignored (RFC 9113 §6.7). */
		if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && c->ping_outstanding)
			c->ping_outstanding = 0;
		return 0;
	}
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s)
		return 0;
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		s->client_ended = 1;
		if (s->state == SS_TUNNEL && s->up_fd >= 0 && hb_buf_live(&s->pend) == 0 && !s->up_wr_shut) {
			shutdown(s->up_fd, SHUT_WR);
			s->up_wr_shut = 1;
		}
	}
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST && s->state == SS_HEADERS) {
		struct hb_req *r = s->req;
		const char *method = r ? r->method : "", *authority = r ? r->authority : "";
		size_t ml = strlen(method), al = strlen(authority), hl = r ? r->hdr_len : 0;
		struct hb_event *e;
		if (r && r->overflow) {
			s->state = SS_REPLIED;
			free(s->req);
			s->req = NULL;
			nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
			return 0;
		}
		e = ev_new(c, EV_STREAM, ml + 1 + al + 1 + hl);
		if (!e)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		e->stream_id = s->id;
		memcpy(e->text, method, ml + 1);
		memcpy(e->text + ml + 1, authority, al + 1);
		if (hl)
			memcpy(e->text + ml + 1 + al + 1, r->hdr, hl);
		free(s->req);
		s->req = NULL;
		s->state = SS_ASKED;
	}
	return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct hb_stream *s;
	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (s && s->rst_after_reply && !s->client_ended) {
		s->rst_after_reply = 0;
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len, void *user_data)
{
	struct hb_conn *c = user_data;
	struct hb_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	(void)flags;
	if (!s || s->state == SS_REPLIED || s->state == SS_REFUSED) {
		nghttp2_session_consume(session, stream_id, len);
		return 0;
	}
	if (s->state == SS_TUNNEL && s->up_fd >= 0 && hb_buf_live(&s->pend) == 0) {
		while (len) {
			ssize_t w = write(s->up_fd, data, len);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				nghttp2_session_consume(session, stream_id, len);
				nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
				return 0;
			}
			s->bytes_in += (double)w;
			nghttp2_session_consume(session, stream_id, (size_t)w);
			data += w;
			len -= (size_t)w;
		}
		if (!len)
			return 0;
	}
	/* Before the answer, or the upstream is slow: kept until written (bounded by the window). */
	if (pend_append(s, data, len) < 0) {
		nghttp2_session_consume(session, stream_id, len);
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_FLOW_CONTROL_ERROR);
		return 0;
	}
	if (s->state == SS_TUNNEL)
		up_set_events(s, s->up_events | UV_WRITABLE);
	(void)c;
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
	struct hb_conn *c = user_data;
	struct hb_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	if (s->counted) {
		s->counted = 0;
		c->active--;
	}
	s->h2_closed = 1;
	queue_stream_end(s, error_code);
	/* Bytes the upstream has not taken yet: they count against the connection window only. */
	if (hb_buf_live(&s->pend) > 0) {
		if (error_code != NGHTTP2_NO_ERROR || s->state != SS_TUNNEL) {
			nghttp2_session_consume_connection(session, hb_buf_live(&s->pend));
			s->pend.off = s->pend.len = 0;
		}
	}
	if (error_code != NGHTTP2_NO_ERROR || s->up_reset) {
		stream_destroy(s, 1);
		return 0;
	}
	if (hb_buf_live(&s->pend) > 0) {
		up_set_events(s, UV_WRITABLE);
		return 0;
	}
	stream_destroy(s, 0);
	return 0;
}

/* ---------- connection I/O ---------- */

static void conn_poll_cb(uv_poll_t *h, int status, int events);
static void conn_timer_cb(uv_timer_t *t);
static void drain_cb(uv_poll_t *h, int status, int events);
static void drain_timer_cb(uv_timer_t *t);

static void conn_poll_update(struct hb_conn *c)
{
	int want = 0;
	if (c->state == CS_DEAD)
		return;
	if (c->state == CS_HANDSHAKE) {
		/* Deferred (no SSL yet): the ClientHello waits in the socket until JS has a certificate. */
		want = !c->w.ssl ? 0 : c->w.tls_want_write ? UV_WRITABLE : UV_READABLE;
	} else {
		want = hb_wire_events(&c->w);
	}
	if (want != c->poll_events) {
		c->poll_events = want;
		if (want)
			uv_poll_start(&c->poll, want, conn_poll_cb);
		else
			uv_poll_stop(&c->poll);
	}
}

/* The wire's frame hook: patches our SETTINGS_MAX_CONCURRENT_STREAMS into the first SETTINGS
 * frame nghttp2 wrote, before it is encrypted (frames are whole when copied: checked here). */
static void patch_settings(void *arg, uint8_t *f, size_t n)
{
	struct hb_conn *c = arg;
	size_t len, i;
	if (c->settings_patched || n < 9)
		return;
	len = ((size_t)f[0] << 16) | ((size_t)f[1] << 8) | f[2];
	if (f[3] != NGHTTP2_SETTINGS || (f[4] & NGHTTP2_FLAG_ACK) || len + 9 > n)
		return;
	c->settings_patched = 1;
	for (i = 9; i + 6 <= 9 + len; i += 6) {
		uint16_t id = (uint16_t)((f[i] << 8) | f[i + 1]);
		if (id == NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) {
			uint32_t v = c->srv->max_streams;
			f[i + 2] = (uint8_t)(v >> 24);
			f[i + 3] = (uint8_t)(v >> 16);
			f[i + 4] = (uint8_t)(v >> 8);
			f[i + 5] = (uint8_t)v;
		}
	}
}

static void conn_flush(struct hb_conn *c)
{
	if (c->state != CS_H2 || !c->w.h2 || c->w.fatal)
		return;
	hb_wire_flush(&c->w);
	conn_poll_update(c);
}

static void conn_read_h2(struct hb_conn *c)
{
	if (c->state == CS_H2)
		hb_wire_read(&c->w);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i = 0;
	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned int l = in[i];
		if (i + 1 + l > inlen)
			break;
		if (l == 2 && in[i + 1] == 'h' && in[i + 2] == '2') {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int h2_start(struct hb_conn *c)
{
	struct hb_server *srv = c->srv;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[4];
	int rv;

	c->w.frame_hook = patch_settings;
	c->w.hook_arg = c;
	if (nghttp2_session_callbacks_new(&cbs))
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, data_length_cb);
	if (nghttp2_option_new(&opt)) {
		nghttp2_session_callbacks_del(cbs);
		return -1;
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	rv = nghttp2_session_server_new2(&c->w.h2, cbs, c, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv)
		return -1;
	/* nghttp2 is told a far larger limit than we advertise (patch_settings); our own count refuses. */
	iv[0] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, HB_NGHTTP2_STREAMS_LIMIT };
	iv[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, srv->stream_window };
	iv[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, srv->max_frame };
	iv[3] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };
	if (nghttp2_submit_settings(c->w.h2, NGHTTP2_FLAG_NONE, iv, 4))
		return -1;
	if (srv->conn_window > 65535)
		nghttp2_session_set_local_window_size(c->w.h2, NGHTTP2_FLAG_NONE, 0, (int32_t)srv->conn_window);
	c->state = CS_H2;
	return 0;
}

/* The handshake is done: JavaScript checks the peer chain (SAN, profile, trust domain). */
static int conn_secure(struct hb_conn *c)
{
	struct hb_server *srv = c->srv;
	napi_env env = srv->env;
	napi_handle_scope scope;
	napi_value argv[3], arr, res;
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;
	STACK_OF(X509) *chain;
	X509 *leaf;
	uint32_t n = 0;
	int ok = 0;

	SSL_get0_alpn_selected(c->w.ssl, &alpn, &alpnlen);
	napi_open_handle_scope(env, &scope);
	argv[0] = conn_id_value(env, c);
	napi_create_string_utf8(env, alpn ? (const char *)alpn : "", alpn ? alpnlen : 0, &argv[1]);
	napi_create_array(env, &arr);
	leaf = SSL_get0_peer_certificate(c->w.ssl);
	chain = SSL_get_peer_cert_chain(c->w.ssl); /* server side: without the leaf */
	if (leaf) {
		int i, cnt = chain ? sk_X509_num(chain) : 0;
		for (i = -1; i < cnt && n < 10; i++) {
			X509 *x = i < 0 ? leaf : sk_X509_value(chain, i);
			unsigned char *der = NULL;
			int len = i2d_X509(x, &der);
			napi_value buf;
			void *data;
			if (len <= 0)
				break;
			if (napi_create_buffer_copy(env, (size_t)len, der, &data, &buf) == napi_ok)
				napi_set_element(env, arr, n++, buf);
			OPENSSL_free(der);
		}
	}
	argv[2] = arr;
	res = hb_call_js(srv->env, srv->actx, srv->cb_secure, 3, argv);
	if (res) {
		napi_valuetype t;
		napi_typeof(env, res, &t);
		if (t == napi_boolean) {
			bool b = false;
			napi_get_value_bool(env, res, &b);
			ok = b;
		}
	}
	napi_close_handle_scope(env, scope);
	return ok;
}

static void conn_handshake(struct hb_conn *c)
{
	int r;
	ERR_clear_error();
	r = SSL_do_handshake(c->w.ssl);
	if (r == 1) {
		c->w.tls_want_write = 0;
		if (c->srv->closed) {
			hb_wire_fatal(&c->w, "server shutting down");
			return;
		}
		if (!conn_secure(c)) {
			hb_wire_fatal(&c->w, "peer refused");
			return;
		}
		if (c->state == CS_DEAD)
			return;
		if (h2_start(c) < 0) {
			hb_wire_fatal(&c->w, "http2 session setup failed");
			return;
		}
		uv_timer_stop(&c->timer);
		if (c->srv->ping_interval_ms)
			uv_timer_start(&c->timer, conn_timer_cb, c->srv->ping_interval_ms, c->srv->ping_interval_ms);
		conn_flush(c);
		conn_read_h2(c);
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
			snprintf(c->w.close_reason, sizeof(c->w.close_reason), "tls: %s", buf);
		} else {
			snprintf(c->w.close_reason, sizeof(c->w.close_reason), "closed during the tls handshake");
		}
		hb_wire_fatal(&c->w, c->w.close_reason);
	}
	}
}

static void conn_poll_cb(uv_poll_t *h, int status, int events)
{
	struct hb_conn *c = h->data;
	(void)events;
	conn_enter(c);
	if (status < 0) {
		hb_wire_fatal(&c->w, "socket error");
	} else if (c->state == CS_HANDSHAKE) {
		conn_handshake(c);
	} else if (c->state == CS_H2) {
		if ((events & UV_WRITABLE) && c->w.tls_want_write)
			conn_read_h2(c);
		if (events & UV_READABLE)
			conn_read_h2(c);
		conn_flush(c);
	}
	conn_poll_update(c);
	conn_leave(c);
}

static void conn_timer_cb(uv_timer_t *t)
{
	struct hb_conn *c = t->data;
	conn_enter(c);
	if (c->state == CS_HANDSHAKE) {
		char why[80];
		snprintf(why, sizeof(why), c->w.ssl ? "tls handshake not done within %u ms" : "certificate not available within %u ms",
			 c->srv->handshake_timeout_ms);
		hb_wire_fatal(&c->w, why);
	} else if (c->state == CS_H2) {
		if (c->ping_outstanding && now_ms(c->srv) - c->ping_sent_ms >= c->srv->ping_timeout_ms) {
			hb_wire_fatal(&c->w, "client stopped answering pings");
		} else if (!c->ping_outstanding) {
			uint8_t payload[8] = { 'w', 'e', 'f', 't', 'p', 'i', 'n', 'g' };
			c->ping_outstanding = 1;
			c->ping_sent_ms = now_ms(c->srv);
			nghttp2_submit_ping(c->w.h2, NGHTTP2_FLAG_NONE, payload);
			conn_flush(c);
		}
	}
	conn_leave(c);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct hb_conn *c = h->data;
	if (--c->handles == 0)
		free(c);
}

static void drain_finish(struct hb_conn *c)
{
	if (!c->draining)
		return;
	c->draining = 0;
	uv_poll_stop(&c->poll);
	uv_timer_stop(&c->timer);
	close(c->w.fd);
	c->w.fd = -1;
	conn_release(c);
}

static void drain_cb(uv_poll_t *h, int status, int events)
{
	struct hb_conn *c = h->data;
	(void)events;
	if (status < 0) {
		drain_finish(c);
		return;
	}
	for (;;) {
		ssize_t n = read(c->w.fd, discard_buf, sizeof(discard_buf));
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		drain_finish(c);
		return;
	}
}

static void drain_timer_cb(uv_timer_t *t)
{
	drain_finish(t->data);
}

/* Tears the connection down now: every stream's upstream reset, events queued, fd closed. */
static void conn_close(struct hb_conn *c, const char *reason)
{
	struct hb_server *srv = c->srv;
	struct hb_event *e;
	if (c->state == CS_DEAD)
		return;
	int goaway_sent = 0;
	if (c->w.h2 && c->state == CS_H2 && !c->w.write_blocked) {
		/* A last best-effort flush (GOAWAY nghttp2 queued) without blocking. */
		c->w.fatal = 0;
		conn_flush(c);
		c->w.fatal = 1;
		goaway_sent = !c->w.write_blocked && c->w.out_off == c->w.out_len && !c->w.ext_len && !srv->closed;
	}
	c->state = CS_DEAD;
	while (c->streams) {
		struct hb_stream *s = c->streams;
		if (!s->h2_closed)
			queue_stream_end(s, NGHTTP2_CANCEL);
		s->h2_closed = 1;
		stream_destroy(s, 1);
	}
	hb_wire_free(&c->w);
	uv_timer_stop(&c->timer);
	if (c->w.fd >= 0 && goaway_sent) {
		/* Lingering close: closing with the peer's unread bytes queued would send a RST, which can
		 * make the peer drop our GOAWAY unread. Shut our side, discard input briefly, then close. */
		shutdown(c->w.fd, SHUT_WR);
		c->draining = 1;
		c->poll_events = UV_READABLE;
		uv_poll_start(&c->poll, UV_READABLE, drain_cb);
		uv_timer_start(&c->timer, drain_timer_cb, HB_DRAIN_MS, 0);
	} else if (c->w.fd >= 0) {
		uv_poll_stop(&c->poll);
		close(c->w.fd);
		c->w.fd = -1;
	}
	if (srv->slots[c->slot] == c) {
		srv->slots[c->slot] = NULL;
		srv->free_slots[srv->nfree++] = c->slot;
	}
	e = ev_new(c, EV_CONN_END, strlen(reason));
	if (e)
		memcpy(e->text, reason, strlen(reason) + 1);
}

static void conn_release(struct hb_conn *c)
{
	if (c->released)
		return;
	c->released = 1;
	live_drop(c->srv);
	c->handles = 2;
	c->poll.data = c;
	uv_close((uv_handle_t *)&c->poll, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static struct hb_conn *conn_lookup(struct hb_server *srv, double id)
{
	uint64_t v;
	uint32_t slot, gen;
	if (!(id >= 0) || id > 9007199254740991.0)
		return NULL;
	v = (uint64_t)id;
	slot = (uint32_t)(v % HB_MAX_SLOTS);
	gen = (uint32_t)(v / HB_MAX_SLOTS);
	if (slot >= srv->nslots)
		return NULL;
	struct hb_conn *c = srv->slots[slot];
	if (!c || c->gen != gen || c->state == CS_DEAD)
		return NULL;
	return c;
}

static struct hb_stream *stream_lookup(struct hb_conn *c, int32_t sid)
{
	if (!c->w.h2 || sid <= 0)
		return NULL;
	return nghttp2_session_get_stream_user_data(c->w.h2, sid);
}

/* Starts the TLS handshake with `ctx` (none: closed with `why`); the handshake deadline runs from accept. */
static void conn_tls_start(struct hb_conn *c, SSL_CTX *ctx, const char *why)
{
	if (!ctx || !(c->w.ssl = SSL_new(ctx)) || !SSL_set_fd(c->w.ssl, c->w.fd)) {
		hb_wire_fatal(&c->w, ctx ? "tls setup failed" : why);
		return;
	}
	SSL_set_accept_state(c->w.ssl);
	conn_handshake(c);
	conn_poll_update(c);
}

/* A new TCP connection (accepted here, or adopted from Node): ask JS for its certificate. JS
 * answers a secure context (handshake now), true (wait: hboneStartTls later, within the
 * handshake deadline; the certificate of a just-enrolled workload is being fetched) or nothing
 * (closed). */
static void conn_begin(struct hb_server *srv, int fd)
{
	struct sockaddr_storage la, ra;
	socklen_t ll = sizeof(la), rl = sizeof(ra);
	char lip[INET6_ADDRSTRLEN], rip[INET6_ADDRSTRLEN];
	uint32_t lport = 0, rport = 0, slot;
	struct hb_conn *c;
	napi_env env = srv->env;
	napi_handle_scope scope;
	napi_value argv[5], res;
	SSL_CTX *ctx = NULL;
	bool wait = false;

	if (srv->closed || hb_set_nonblock(fd) < 0 || getsockname(fd, (void *)&la, &ll) < 0 || getpeername(fd, (void *)&ra, &rl) < 0 ||
	    hb_addr_text(&la, lip, sizeof(lip), &lport) < 0 || hb_addr_text(&ra, rip, sizeof(rip), &rport) < 0) {
		close(fd);
		return;
	}
	if (srv->nfree == 0) {
		uint32_t n = srv->nslots ? srv->nslots * 2 : 256, i;
		struct hb_conn **ns;
		uint32_t *nf;
		if (n > HB_MAX_SLOTS) {
			close(fd);
			return;
		}
		ns = realloc(srv->slots, n * sizeof(*ns));
		if (!ns) {
			close(fd);
			return;
		}
		srv->slots = ns;
		nf = realloc(srv->free_slots, n * sizeof(*nf));
		if (!nf) {
			close(fd);
			return;
		}
		srv->free_slots = nf;
		for (i = srv->nslots; i < n; i++) {
			ns[i] = NULL;
			nf[srv->nfree++] = n - 1 - (i - srv->nslots);
		}
		srv->nslots = n;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	slot = srv->free_slots[--srv->nfree];
	live_add(srv);
	c->srv = srv;
	c->slot = slot;
	c->gen = ++srv->gen & 0x3fffffff;
	c->w.fd = fd;
	c->state = CS_HANDSHAKE;
	srv->slots[slot] = c;
	uv_poll_init_socket(srv->loop, &c->poll, fd);
	c->poll.data = c;
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	uv_unref((uv_handle_t *)&c->timer);
	hb_set_nodelay(fd);

	napi_open_handle_scope(env, &scope);
	argv[0] = conn_id_value(env, c);
	napi_create_string_utf8(env, lip, NAPI_AUTO_LENGTH, &argv[1]);
	napi_create_uint32(env, lport, &argv[2]);
	napi_create_string_utf8(env, rip, NAPI_AUTO_LENGTH, &argv[3]);
	napi_create_uint32(env, rport, &argv[4]);
	conn_enter(c);
	res = hb_call_js(srv->env, srv->actx, srv->cb_conn, 5, argv);
	if (res) {
		napi_valuetype t;
		napi_typeof(env, res, &t);
		if (t == napi_external)
			napi_get_value_external(env, res, (void **)&ctx);
		else if (t == napi_boolean)
			napi_get_value_bool(env, res, &wait);
	}
	napi_close_handle_scope(env, scope);
	if (c->state == CS_DEAD) {
		conn_leave(c);
		return;
	}
	uv_timer_start(&c->timer, conn_timer_cb, srv->handshake_timeout_ms, 0);
	if (!ctx && wait) {
		conn_poll_update(c);
		conn_leave(c);
		return;
	}
	conn_tls_start(c, ctx, "no workload certificate for the local address");
	conn_leave(c);
}

static void listener_cb(uv_poll_t *h, int status, int events)
{
	struct hb_listener *l = h->data;
	int i;
	(void)events;
	if (status < 0)
		return;
	for (i = 0; i < 64 && l->fd >= 0; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			/* EMFILE/ENFILE: stop accepting this round; JS logs it via hbListenerErrors. */
			break;
		}
		conn_begin(l->srv, fd);
	}
}

/* ---------- SSL_CTX from PEM ---------- */

static void ctx_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	SSL_CTX_free(data);
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
	(void)x;
	return ok;
}

static int get_string(napi_env env, napi_value v, char **out, size_t *len)
{
	size_t n;
	if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok)
		return -1;
	*out = malloc(n + 1);
	if (!*out)
		return -1;
	napi_get_value_string_utf8(env, v, *out, n + 1, &n);
	if (len)
		*len = n;
	return 0;
}

static void throw_ssl(napi_env env, const char *what)
{
	char buf[256], msg[400];
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown error");
	ERR_clear_error();
	snprintf(msg, sizeof(msg), "weft_native hbone: %s: %s", what, buf);
	throw_msg(env, "ETLS", msg);
}

/* hboneContext(chainPem, keyPem, rootsPem) -> external SSL_CTX */
static napi_value hb_context(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], out;
	char *chain = NULL, *key = NULL, *roots = NULL;
	size_t chainlen = 0, keylen = 0, rootslen = 0;
	SSL_CTX *ctx = NULL;
	BIO *b = NULL;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	X509_STORE *store;
	int nroots = 0;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3 || get_string(env, argv[0], &chain, &chainlen) < 0 || get_string(env, argv[1], &key, &keylen) < 0 ||
	    get_string(env, argv[2], &roots, &rootslen) < 0) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneContext(chainPem, keyPem, rootsPem): three strings required");
		goto done;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		throw_ssl(env, "SSL_CTX_new");
		goto done;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	if (!SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384")) {
		throw_ssl(env, "ciphersuites");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	/* No RFC 8879 certificate compression, neither offered nor sent: Node's TLS (the Node engine)
	 * uses none, so both engines put the same handshake on the wire (the OpenSSL we run with,
	 * Node's 3.5, would otherwise compress the client certificate between two native peers).
	 * The bits are OpenSSL 3.2's; headers older than that (Debian's 3.0) lack the names. */
	SSL_CTX_set_options(ctx, HB_SSL_OP_NO_TX_CERT_COMPRESSION | HB_SSL_OP_NO_RX_CERT_COMPRESSION);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_verify_depth(ctx, 8);
	/* Leaf and intermediates. */
	b = BIO_new_mem_buf(chain, (int)chainlen);
	x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
		throw_ssl(env, "chainPem: leaf certificate");
		goto fail;
	}
	X509_free(x);
	x = NULL;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
			throw_ssl(env, "chainPem: intermediate");
			goto fail;
		}
		x = NULL; /* owned by ctx */
	}
	ERR_clear_error();
	BIO_free(b);
	b = BIO_new_mem_buf(key, (int)keylen);
	pk = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	if (!pk || SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		throw_ssl(env, "keyPem");
		goto fail;
	}
	BIO_free(b);
	b = BIO_new_mem_buf(roots, (int)rootslen);
	store = SSL_CTX_get_cert_store(ctx);
	while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (X509_STORE_add_cert(store, x) != 1) {
			throw_ssl(env, "rootsPem");
			goto fail;
		}
		X509_free(x);
		x = NULL;
		nroots++;
	}
	ERR_clear_error();
	if (nroots == 0) {
		throw_msg(env, "EINVAL", "weft_native hbone: rootsPem: no certificate");
		goto fail;
	}
	if (napi_create_external(env, ctx, ctx_finalize, NULL, &out) != napi_ok) {
		throw_msg(env, "EADDON", "weft_native hbone: napi_create_external failed");
		goto fail;
	}
	ctx = NULL;
	goto done_ok;
fail:
	SSL_CTX_free(ctx);
	ctx = NULL;
done:
	out = NULL;
done_ok:
	if (x)
		X509_free(x);
	EVP_PKEY_free(pk);
	BIO_free(b);
	free(chain);
	if (key) {
		OPENSSL_cleanse(key, keylen);
		free(key);
	}
	free(roots);
	return out;
}

/* ---------- server object ---------- */

static struct hb_server *server_of(napi_env env, napi_value v)
{
	void *p = NULL;
	if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
		throw_msg(env, "EINVAL", "weft_native hbone: not a server handle");
		return NULL;
	}
	return p;
}

static void server_finalize(napi_env env, void *data, void *hint)
{
	struct hb_server *srv = data;
	(void)env;
	(void)hint;
	/* Only reached after hboneClose (JS keeps the handle while anything is open). */
	free(srv->slots);
	free(srv->free_slots);
	free(srv);
}

/* hboneServer(options, onConnection, onSecure, onStream, onStreamEnd, onConnectionEnd) */
static napi_value hb_server(napi_env env, napi_callback_info info)
{
	size_t argc = 6;
	napi_value argv[6], out, name;
	struct hb_server *srv;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 6) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneServer needs options and five callbacks");
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->env = env;
	if (hb_opt_u32(env, argv[0], "hbone", "streamWindow", &srv->stream_window) || hb_opt_u32(env, argv[0], "hbone", "connectionWindow", &srv->conn_window) ||
	    hb_opt_u32(env, argv[0], "hbone", "maxFrame", &srv->max_frame) || hb_opt_u32(env, argv[0], "hbone", "maxStreams", &srv->max_streams) ||
	    hb_opt_u32(env, argv[0], "hbone", "pingIntervalMs", &srv->ping_interval_ms) || hb_opt_u32(env, argv[0], "hbone", "pingTimeoutMs", &srv->ping_timeout_ms) ||
	    hb_opt_u32(env, argv[0], "hbone", "handshakeTimeoutMs", &srv->handshake_timeout_ms)) {
		free(srv);
		return NULL;
	}
	if (srv->max_frame < 16384 || srv->max_frame > 16777215 || srv->stream_window < 65535 || srv->stream_window > 0x7fffffff ||
	    srv->max_streams < 1 || srv->max_streams >= HB_NGHTTP2_STREAMS_LIMIT || srv->handshake_timeout_ms < 1) {
		free(srv);
		throw_msg(env, "EINVAL", "weft_native hbone: options out of range");
		return NULL;
	}
	napi_get_uv_event_loop(env, &srv->loop);
	uv_timer_init(srv->loop, &srv->trim_timer);
	uv_unref((uv_handle_t *)&srv->trim_timer);
	srv->trim_timer.data = srv;
	srv->trim_timer_open = 1;
	napi_create_reference(env, argv[1], 1, &srv->cb_conn);
	napi_create_reference(env, argv[2], 1, &srv->cb_secure);
	napi_create_reference(env, argv[3], 1, &srv->cb_stream);
	napi_create_reference(env, argv[4], 1, &srv->cb_stream_end);
	napi_create_reference(env, argv[5], 1, &srv->cb_conn_end);
	napi_create_string_utf8(env, "weft.hbone", NAPI_AUTO_LENGTH, &name);
	napi_create_object(env, &out);
	napi_async_init(env, out, name, &srv->actx);
	napi_create_external(env, srv, server_finalize, NULL, &out);
	return out;
}

/* hboneListen(server, ip, port, backlog) -> { id, port } */
static napi_value hb_listen(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4], out, v;
	struct hb_server *srv;
	char ip[INET6_ADDRSTRLEN + 1];
	size_t iplen;
	uint32_t port, backlog;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;
	struct hb_listener *l;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 4 || !(srv = server_of(env, argv[0])))
		return NULL;
	if (napi_get_value_string_utf8(env, argv[1], ip, sizeof(ip), &iplen) != napi_ok || napi_get_value_uint32(env, argv[2], &port) != napi_ok ||
	    port > 65535 || napi_get_value_uint32(env, argv[3], &backlog) != napi_ok) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneListen(server, ip, port, backlog)");
		return NULL;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneListen: ip is not a literal address");
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto sys;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (void *)&ss, sl) < 0 || listen(fd, (int)backlog) < 0)
		goto sys;
	sl = sizeof(ss);
	getsockname(fd, (void *)&ss, &sl);
	l = calloc(1, sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		goto sys;
	}
	l->srv = srv;
	l->fd = fd;
	l->id = ++srv->next_listener_id;
	uv_poll_init_socket(srv->loop, &l->poll, fd);
	l->poll.data = l;
	uv_poll_start(&l->poll, UV_READABLE, listener_cb);
	l->next = srv->listeners;
	srv->listeners = l;
	napi_create_object(env, &out);
	napi_create_int32(env, l->id, &v);
	napi_set_named_property(env, out, "id", v);
	napi_create_uint32(env, ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port) : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), &v);
	napi_set_named_property(env, out, "port", v);
	return out;
sys: {
	char msg[160];
	int e = errno;
	if (fd >= 0)
		close(fd);
	snprintf(msg, sizeof(msg), "weft_native hbone: listen %s:%u: %s", ip, port, strerror(e));
	throw_msg(env, e == EADDRINUSE ? "EADDRINUSE" : e == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : e == EACCES ? "EACCES" : "ELISTEN", msg);
	return NULL;
}
}

static void listener_free_cb(uv_handle_t *h)
{
	free(h->data);
}

static void listener_close(struct hb_listener *l)
{
	uv_poll_stop(&l->poll);
	close(l->fd);
	l->fd = -1;
	uv_close((uv_handle_t *)&l->poll, listener_free_cb);
}

/* hboneUnlisten(server, id) */
static napi_value hb_unlisten(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	struct hb_server *srv;
	int32_t id;
	struct hb_listener **pp;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || !(srv = server_of(env, argv[0])) || napi_get_value_int32(env, argv[1], &id) != napi_ok)
		return NULL;
	for (pp = &srv->listeners; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct hb_listener *l = *pp;
			*pp = l->next;
			listener_close(l);
			break;
		}
	}
	return NULL;
}

/* hboneAdopt(server, fd): takes ownership of an accepted TCP socket's fd. */
static napi_value hb_adopt(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	struct hb_server *srv;
	int32_t fd;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || !(srv = server_of(env, argv[0])) || napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneAdopt(server, fd)");
		return NULL;
	}
	conn_begin(srv, fd);
	return NULL;
}

/* hboneDupFd(fd) -> a CLOEXEC duplicate (to take a socket over from Node, which closes its own). */
static napi_value hb_dup(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	int32_t fd;
	int d;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneDupFd(fd)");
		return NULL;
	}
	d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (d < 0) {
		throw_msg(env, errno == EMFILE ? "EMFILE" : "EDUP", "weft_native hbone: dup failed");
		return NULL;
	}
	napi_create_int32(env, d, &out);
	return out;
}

/* hboneStartTls(server, connId, context | null, reason) -> boolean: the answer to a connection
 * onConnection deferred; null closes it with `reason`. False when it is gone (closed at its
 * handshake deadline, or by the client) or was not waiting. */
static napi_value hb_start_tls(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4], out;
	struct hb_server *srv;
	struct hb_conn *c;
	double cid;
	SSL_CTX *ctx = NULL;
	napi_valuetype t = napi_undefined;
	char why[128] = "no workload certificate for the local address";
	size_t wl;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 4 || !(srv = server_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_typeof(env, argv[2], &t) != napi_ok || (t != napi_external && t != napi_null) ||
	    (t == napi_external && napi_get_value_external(env, argv[2], (void **)&ctx) != napi_ok)) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneStartTls(server, connId, context | null, reason)");
		return NULL;
	}
	napi_get_value_string_utf8(env, argv[3], why, sizeof(why), &wl);
	c = conn_lookup(srv, cid);
	if (!c || c->state != CS_HANDSHAKE || c->w.ssl || c->w.fatal) {
		napi_get_boolean(env, false, &out);
		return out;
	}
	conn_enter(c);
	conn_tls_start(c, srv->closed ? NULL : ctx, srv->closed ? "server shutting down" : why);
	conn_leave(c);
	napi_get_boolean(env, true, &out);
	return out;
}

static int reply_status(struct hb_conn *c, struct hb_stream *s, uint32_t status)
{
	char st[8];
	nghttp2_nv nv;
	snprintf(st, sizeof(st), "%u", status);
	nv = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st, 7, strlen(st), NGHTTP2_NV_FLAG_NONE };
	s->state = SS_REPLIED;
	/* Release buffered request bytes; the client may keep sending, so the stream is reset too. */
	if (hb_buf_live(&s->pend) > 0)
		consume(s, hb_buf_live(&s->pend));
	s->pend.off = s->pend.len = 0;
	if (nghttp2_submit_response(c->w.h2, s->id, &nv, 1, NULL))
		return -1;
	/* RST_STREAM(NO_ERROR) once the answer is on the wire (on_frame_send), if the client still sends. */
	s->rst_after_reply = 1;
	return 0;
}

/*
 * hboneAnswer(server, connId, streamId, status, upstreamFd, initial) -> boolean
 * status 200 with an fd: tunnel (the addon owns the fd from here, also when it returns false);
 * another status: answered without a body and the stream released.
 */
static napi_value hb_answer(napi_env env, napi_callback_info info)
{
	size_t argc = 6;
	napi_value argv[6], out;
	struct hb_server *srv;
	struct hb_conn *c;
	struct hb_stream *s;
	double cid;
	int32_t sid, fd = -1;
	uint32_t status;
	bool ok = false;
	void *init = NULL;
	size_t initlen = 0;
	bool isbuf = false;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 6 || !(srv = server_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &sid) != napi_ok || napi_get_value_uint32(env, argv[3], &status) != napi_ok ||
	    napi_get_value_int32(env, argv[4], &fd) != napi_ok || status < 200 || status > 599) {
		throw_msg(env, "EINVAL", "weft_native hbone: hboneAnswer(server, connId, streamId, status, fd, initial)");
		return NULL;
	}
	napi_is_buffer(env, argv[5], &isbuf);
	if (isbuf)
		napi_get_buffer_info(env, argv[5], &init, &initlen);
	c = conn_lookup(srv, cid);
	s = c ? stream_lookup(c, sid) : NULL;
	if (!s || s->state != SS_ASKED) {
		if (fd >= 0)
			hb_close_reset(fd);
		napi_get_boolean(env, false, &out);
		return out;
	}
	conn_enter(c);
	if (status == 200 && fd >= 0) {
		nghttp2_nv nv = { (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE };
		nghttp2_data_provider dp;
		if (hb_set_nonblock(fd) < 0 || uv_poll_init_socket(srv->loop, &s->up_poll, fd) != 0) {
			hb_close_reset(fd);
			reply_status(c, s, 503);
			goto done;
		}
		hb_set_nodelay(fd);
		s->up_fd = fd;
		s->up_poll_init = 1;
		s->up_poll.data = s;
		s->state = SS_TUNNEL;
		dp.source.ptr = s;
		dp.read_callback = data_read_cb;
		if (nghttp2_submit_response(c->w.h2, s->id, &nv, 1, &dp)) {
			nghttp2_submit_rst_stream(c->w.h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
			goto done;
		}
		/* Bytes Node had already read from the upstream socket go out first (data_read_cb). */
		if (initlen) {
			s->first = malloc(initlen);
			if (!s->first) {
				nghttp2_submit_rst_stream(c->w.h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
				goto done;
			}
			memcpy(s->first, init, initlen);
			s->first_len = initlen;
		}
		if (hb_buf_live(&s->pend) > 0) {
			if (up_drain(s) < 0)
				nghttp2_submit_rst_stream(c->w.h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
			else if (hb_buf_live(&s->pend) > 0)
				up_set_events(s, UV_WRITABLE);
		} else if (s->client_ended && !s->up_wr_shut) {
			shutdown(fd, SHUT_WR);
			s->up_wr_shut = 1;
		}
		ok = true;
	} else {
		if (fd >= 0)
			hb_close_reset(fd);
		ok = reply_status(c, s, status) == 0;
	}
done:
	conn_flush(c);
	conn_leave(c);
	napi_get_boolean(env, ok, &out);
	return out;
}

/* hboneReset(server, connId, streamId, code): RST_STREAM (refusal, policy close). */
static napi_value hb_reset(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4];
	struct hb_server *srv;
	struct hb_conn *c;
	struct hb_stream *s;
	double cid;
	int32_t sid;
	uint32_t code;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 4 || !(srv = server_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &sid) != napi_ok || napi_get_value_uint32(env, argv[3], &code) != napi_ok)
		return NULL;
	c = conn_lookup(srv, cid);
	s = c ? stream_lookup(c, sid) : NULL;
	if (!s)
		return NULL;
	conn_enter(c);
	if (s->state == SS_ASKED)
		s->state = code == NGHTTP2_REFUSED_STREAM ? SS_REFUSED : SS_REPLIED;
	else if (s->state == SS_TUNNEL)
		s->up_reset = 1; /* as the Node engine's resetDuplex: even RST_STREAM(NO_ERROR) resets the upstream */
	nghttp2_submit_rst_stream(c->w.h2, NGHTTP2_FLAG_NONE, sid, code);
	conn_flush(c);
	conn_leave(c);
	return NULL;
}

/* hboneGoaway(server, connId, code, graceful): GOAWAY; not graceful closes once it is sent. */
static napi_value hb_goaway(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4];
	struct hb_server *srv;
	struct hb_conn *c;
	double cid;
	uint32_t code;
	bool graceful = false;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 4 || !(srv = server_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_get_value_uint32(env, argv[2], &code) != napi_ok)
		return NULL;
	napi_get_value_bool(env, argv[3], &graceful);
	c = conn_lookup(srv, cid);
	if (!c)
		return NULL;
	conn_enter(c);
	if (c->state != CS_H2) {
		hb_wire_fatal(&c->w, "closed");
	} else if (graceful) {
		nghttp2_submit_goaway(c->w.h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->w.h2), code, NULL, 0);
		conn_flush(c);
	} else {
		snprintf(c->w.close_reason, sizeof(c->w.close_reason), "closed by the server (GOAWAY %u)", code);
		nghttp2_session_terminate_session(c->w.h2, code);
		conn_flush(c);
		hb_wire_fatal(&c->w, c->w.close_reason);
	}
	conn_leave(c);
	return NULL;
}

/* hboneStreamBytes(server, connId, streamId) -> [fromClient, toClient] or null */
static napi_value hb_stream_bytes(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], out, v;
	struct hb_server *srv;
	struct hb_conn *c;
	struct hb_stream *s;
	double cid;
	int32_t sid;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3 || !(srv = server_of(env, argv[0])) || napi_get_value_double(env, argv[1], &cid) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &sid) != napi_ok)
		return NULL;
	c = conn_lookup(srv, cid);
	s = c ? stream_lookup(c, sid) : NULL;
	if (!s) {
		napi_get_null(env, &out);
		return out;
	}
	napi_create_array_with_length(env, 2, &out);
	napi_create_double(env, s->bytes_in, &v);
	napi_set_element(env, out, 0, v);
	napi_create_double(env, s->bytes_out, &v);
	napi_set_element(env, out, 1, v);
	return out;
}

/* hboneClose(server, force): stops listening; force tears every connection down now. */
static napi_value hb_close(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	struct hb_server *srv;
	bool force = false;
	uint32_t i;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || !(srv = server_of(env, argv[0])))
		return NULL;
	napi_get_value_bool(env, argv[1], &force);
	srv->closed = 1;
	if (srv->trim_timer_open) {
		srv->trim_timer_open = 0;
		uv_timer_stop(&srv->trim_timer);
		uv_close((uv_handle_t *)&srv->trim_timer, NULL);
	}
	while (srv->listeners) {
		struct hb_listener *l = srv->listeners;
		srv->listeners = l->next;
		listener_close(l);
	}
	for (i = 0; i < srv->nslots; i++) {
		struct hb_conn *c = srv->slots[i];
		if (!c)
			continue;
		conn_enter(c);
		if (force || c->state != CS_H2) {
			hb_wire_fatal(&c->w, "server closed");
		} else {
			nghttp2_submit_goaway(c->w.h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->w.h2), NGHTTP2_NO_ERROR, NULL, 0);
			conn_flush(c);
		}
		conn_leave(c);
	}
	return NULL;
}

void hbone_server_init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "hboneContext", NULL, hb_context, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneServer", NULL, hb_server, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneListen", NULL, hb_listen, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneUnlisten", NULL, hb_unlisten, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneAdopt", NULL, hb_adopt, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneDupFd", NULL, hb_dup, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneStartTls", NULL, hb_start_tls, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneAnswer", NULL, hb_answer, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneReset", NULL, hb_reset, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneGoaway", NULL, hb_goaway, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneStreamBytes", NULL, hb_stream_bytes, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "hboneClose", NULL, hb_close, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
