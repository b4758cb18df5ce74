/* Shared pieces of the native HBONE engine (see hbone_common.h). */
#define _GNU_SOURCE
#include "hbone_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/err.h>
#include <openssl/x509.h>

static uint8_t wire_read_buf[HB_WIRE_READ_BUF];
/* The coalescing buffer is a connection's only while it holds bytes SSL_write has not taken (a
 * blocked write must be retried with the same buffer); a drained one goes back here. One spare
 * serves every connection of the loop, so an idle connection holds none (64 KiB each before;
 * docs/hbone.md "Measured", 2026-12-03 tunmem). */
static uint8_t *wire_spare_out;

static uint8_t *wire_out_get(void)
{
	uint8_t *p = wire_spare_out;
	if (p) {
		wire_spare_out = NULL;
		return p;
	}
	return malloc(HB_WIRE_OUT_CAP);
}

void hb_wire_release_out(struct hb_wire *w)
{
	if (w->out) {
		if (!wire_spare_out)
			wire_spare_out = w->out;
		else
			free(w->out);
	}
	w->out = NULL;
	w->out_len = w->out_off = 0;
}

void hb_wire_free(struct hb_wire *w)
{
	if (w->h2) {
		nghttp2_session_del(w->h2);
		w->h2 = NULL;
	}
	if (w->ssl) {
		SSL_free(w->ssl);
		w->ssl = NULL;
	}
	hb_wire_release_out(w);
	w->ext = NULL;
	w->ext_len = 0;
}

int hb_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void hb_set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void hb_close_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

int hb_addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, uint32_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		if (!inet_ntop(AF_INET, &a->sin_addr, ip, iplen))
			return -1;
		*port = ntohs(a->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, iplen))
			return -1;
		*port = ntohs(a->sin6_port);
		return 0;
	}
	return -1;
}

socklen_t hb_addr_parse(const char *ip, uint32_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (port > 65535)
		return 0;
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		return sizeof(struct sockaddr_in);
	}
	if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		return sizeof(struct sockaddr_in6);
	}
	return 0;
}

const char *hb_errno_name(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case EHOSTUNREACH:
		return "EHOSTUNREACH";
	case ENETUNREACH:
		return "ENETUNREACH";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case EADDRNOTAVAIL:
		return "EADDRNOTAVAIL";
	case EADDRINUSE:
		return "EADDRINUSE";
	case EACCES:
		return "EACCES";
	case EPERM:
		return "EPERM";
	case EMFILE:
		return "EMFILE";
	case ENFILE:
		return "ENFILE";
	case ECONNRESET:
		return "ECONNRESET";
	case EINVAL:
		return "EINVAL";
	case ENOMEM:
		return "ENOMEM";
	default:
		return "EIO";
	}
}

void hb_rethrow_fatal(napi_env env)
{
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (pending) {
		napi_value ex;
		napi_get_and_clear_last_exception(env, &ex);
		napi_fatal_exception(env, ex);
	}
}

void hb_set_num(napi_env env, napi_value o, const char *name, double v)
{
	napi_value x;
	napi_create_double(env, v, &x);
	napi_set_named_property(env, o, name, x);
}

napi_value hb_call_js(napi_env env, napi_async_context actx, napi_ref ref, size_t argc, napi_value *argv)
{
	napi_value fn, recv, result = NULL;
	if (napi_get_reference_value(env, ref, &fn) != napi_ok || !fn)
		return NULL;
	napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
	if (napi_make_callback(env, actx, recv, fn, argc, argv, &result) != napi_ok) {
		hb_rethrow_fatal(env);
		return NULL;
	}
	return result;
}

int hb_opt_u32(napi_env env, napi_value o, const char *what, const char *name, uint32_t *out)
{
	napi_value v;
	if (napi_get_named_property(env, o, name, &v) != napi_ok || napi_get_value_uint32(env, v, out) != napi_ok) {
		char msg[160];
		snprintf(msg, sizeof(msg), "weft_native %s: option %s must be a non-negative integer", what, name);
		napi_throw_error(env, "EINVAL", msg);
		return -1;
	}
	return 0;
}

ssize_t hb_src_read(struct hb_src *r, int fd, uint8_t *buf, size_t length)
{
	if (r->drained) {
		r->drained = 0;
		r->bulk = 0;
		r->waiting = 1;
		return HB_SRC_WAIT;
	}
	for (;;) {
		ssize_t n = read(fd, buf, length);
		if (n > 0) {
			r->drained = (size_t)n < length;
			r->bulk = !r->drained;
			return n;
		}
		if (n == 0) {
			r->bulk = 0;
			return 0;
		}
		if (errno == EINTR)
			continue;
		r->bulk = 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			r->waiting = 1;
			return HB_SRC_WAIT;
		}
		return -1;
	}
}

int hb_src_ready(struct hb_src *r)
{
	int was = r->waiting;
	r->waiting = 0;
	r->drained = 0;
	return was;
}

size_t hb_src_readable(const struct hb_src *r)
{
	return r->bulk ? (size_t)HB_DATA_FRAME_SMALL + 1 : 0;
}

ssize_t hb_data_length(int32_t session_window, int32_t stream_window, uint32_t remote_max_frame_size, size_t readable)
{
	int32_t n = session_window < stream_window ? session_window : stream_window;
	if ((uint32_t)n > remote_max_frame_size)
		n = (int32_t)remote_max_frame_size;
	if (n > HB_DATA_FRAME_MAX)
		n = HB_DATA_FRAME_MAX;
	/* nghttp2 grows the session's frame buffer to the length asked for, before the read, and keeps
	 * it: asking 256 KiB for a 1-byte read cost every connection 256 KiB for its life. */
	if (readable <= HB_DATA_FRAME_SMALL && n > HB_DATA_FRAME_SMALL)
		n = HB_DATA_FRAME_SMALL;
	return n < 1 ? 1 : n;
}

napi_value hb_peer_chain(napi_env env, SSL *ssl)
{
	napi_value arr;
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	uint32_t n = 0;
	int i, cnt = chain ? sk_X509_num(chain) : 0;
	napi_create_array(env, &arr);
	if (!leaf)
		return arr;
	/* The server side's chain lacks the leaf, the client side's starts with it: leaf once, first. */
	for (i = -1; i < cnt && n < 10; i++) {
		X509 *x = i < 0 ? leaf : sk_X509_value(chain, i);
		unsigned char *der = NULL;
		int len;
		napi_value buf;
		void *data;
		if (i >= 0 && X509_cmp(x, leaf) == 0)
			continue;
		len = i2d_X509(x, &der);
		if (len <= 0)
			break;
		if (napi_create_buffer_copy(env, (size_t)len, der, &data, &buf) == napi_ok)
			napi_set_element(env, arr, n++, buf);
		OPENSSL_free(der);
	}
	return arr;
}

void hb_wire_fatal(struct hb_wire *w, const char *why)
{
	if (!w->fatal) {
		w->fatal = 1;
		if (why != w->close_reason)
			snprintf(w->close_reason, sizeof(w->close_reason), "%s", why);
	}
}

static ssize_t wire_tls_write(struct hb_wire *w, const uint8_t *p, size_t n)
{
	int r;
	ERR_clear_error();
	r = SSL_write(w->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	if (r > 0)
		return r;
	switch (SSL_get_error(w->ssl, r)) {
	case SSL_ERROR_WANT_WRITE:
	case SSL_ERROR_WANT_READ:
		w->write_blocked = 1;
		return 0;
	default:
		return -1;
	}
}

void hb_wire_flush(struct hb_wire *w)
{
	if (!w->h2 || w->fatal)
		return;
	w->write_blocked = 0;
	for (;;) {
		ssize_t r;
		int got = 0;
		if (w->out_off < w->out_len) {
			r = wire_tls_write(w, w->out + w->out_off, w->out_len - w->out_off);
			if (r < 0)
				{
				hb_wire_fatal(w, "tls write failed");
				return;
			}
			if (r == 0)
				break;
			w->out_off += (size_t)r;
			continue;
		}
		w->out_off = w->out_len = 0;
		if (w->ext_len) {
			r = wire_tls_write(w, w->ext, w->ext_len);
			if (r < 0)
				{
				hb_wire_fatal(w, "tls write failed");
				return;
			}
			if (r == 0)
				break;
			w->ext += r;
			w->ext_len -= (size_t)r;
			continue;
		}
		while (w->out_len < HB_WIRE_OUT_CAP) {
			const uint8_t *p;
			ssize_t d = nghttp2_session_mem_send(w->h2, &p);
			if (d < 0)
				{
				hb_wire_fatal(w, nghttp2_strerror((int)d));
				return;
			}
			if (d == 0)
				break;
			got = 1;
			if (w->out_len + (size_t)d <= HB_WIRE_OUT_CAP) {
				if (!w->out && !(w->out = wire_out_get())) {
					hb_wire_fatal(w, "out of memory");
					return;
				}
				memcpy(w->out + w->out_len, p, (size_t)d);
				if (w->frame_hook)
					w->frame_hook(w->hook_arg, w->out + w->out_len, (size_t)d);
				w->out_len += (size_t)d;
			} else {
				w->ext = p;
				w->ext_len = (size_t)d;
				break;
			}
		}
		if (!got)
			break;
	}
	if (w->out && w->out_off == w->out_len)
		hb_wire_release_out(w);
	if (!w->write_blocked && !nghttp2_session_want_read(w->h2) && !nghttp2_session_want_write(w->h2))
		hb_wire_fatal(w, w->close_reason[0] ? w->close_reason : "session ended");
}

void hb_wire_read(struct hb_wire *w)
{
	/* Until OpenSSL wants more bytes: a round limit would strand records OpenSSL already read. */
	while (w->h2 && !w->fatal) {
		int n;
		ERR_clear_error();
		n = SSL_read(w->ssl, wire_read_buf, sizeof(wire_read_buf));
		if (n > 0) {
			ssize_t rv = nghttp2_session_mem_recv(w->h2, wire_read_buf, (size_t)n);
			if (rv < 0) {
				/* nghttp2 queued its GOAWAY already for protocol errors; send it, then close. */
				snprintf(w->close_reason, sizeof(w->close_reason), "http2: %s", nghttp2_strerror((int)rv));
				if (rv != NGHTTP2_ERR_CALLBACK_FAILURE && rv != NGHTTP2_ERR_NOMEM)
					nghttp2_session_terminate_session(w->h2, NGHTTP2_PROTOCOL_ERROR);
				hb_wire_flush(w);
				hb_wire_fatal(w, w->close_reason);
				return;
			}
			w->tls_want_write = 0;
			continue;
		}
		switch (SSL_get_error(w->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			w->tls_want_write = 0;
			return;
		case SSL_ERROR_WANT_WRITE:
			w->tls_want_write = 1;
			return;
		case SSL_ERROR_ZERO_RETURN:
			hb_wire_fatal(w, "peer closed the connection");
			return;
		default:
			hb_wire_fatal(w, "connection lost");
			return;
		}
	}
}

int hb_wire_events(struct hb_wire *w)
{
	int want = 0;
	if (!w->h2 || nghttp2_session_want_read(w->h2))
		want |= UV_READABLE;
	if (w->write_blocked || w->tls_want_write)
		want |= UV_WRITABLE;
	return want;
}

int hb_buf_append(struct hb_buf *b, const uint8_t *data, size_t n, size_t limit)
{
	size_t live = b->len - b->off;
	if (b->off && live)
		memmove(b->p, b->p + b->off, live);
	b->len = live;
	b->off = 0;
	if (live + n > b->cap) {
		size_t cap = b->cap ? b->cap : 16 * 1024;
		uint8_t *p;
		while (cap < live + n)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		if (live + n > cap)
			return -1;
		p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

void hb_buf_free(struct hb_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->off = b->cap = 0;
}
