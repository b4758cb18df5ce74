/* Pieces of the native HBONE engine that the client (hbone_client.c) uses and the server
 * (hbone_server.c) can share: socket helpers, the JavaScript call glue, and one connection's
 * TLS + HTTP/2 wire (the coalescing write loop and the read loop between OpenSSL and nghttp2).
 * docs/hbone.md "Native engine". */
#ifndef WEFT_HBONE_COMMON_H
#define WEFT_HBONE_COMMON_H
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include <nghttp2/nghttp2.h>

#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

#define HB_WIRE_OUT_CAP (64 * 1024)
#define HB_WIRE_READ_BUF (64 * 1024)
/* Largest DATA frame payload we send (nghttp2's default would be 16 KiB whatever the peer allows). */
#define HB_DATA_FRAME_MAX (256 * 1024)
/* nghttp2's own frame buffer payload (NGHTTP2_MAX_PAYLOADLEN): a DATA frame up to this size needs no larger buffer. */
#define HB_DATA_FRAME_SMALL 16384

int hb_set_nonblock(int fd);
void hb_set_nodelay(int fd);
/* Closes a TCP socket so the peer sees a reset (RST), not a clean FIN. */
void hb_close_reset(int fd);
int hb_addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, uint32_t *port);
/* A literal IPv4/IPv6 address and port as a sockaddr; returns its length, 0 if not literal. */
socklen_t hb_addr_parse(const char *ip, uint32_t port, struct sockaddr_storage *ss);
const char *hb_errno_name(int e);
/* Calls a JS callback with a callback scope (promise jobs run afterwards); NULL on exception. */
/* An exception a callback left pending is fatal: Node reports it as uncaught, as it would a throw
 * from an event handler. */
void hb_rethrow_fatal(napi_env env);
/* o[name] = v as a JS number (stats objects). */
void hb_set_num(napi_env env, napi_value o, const char *name, double v);
napi_value hb_call_js(napi_env env, napi_async_context actx, napi_ref ref, size_t argc, napi_value *argv);
/* options[name] as a uint32; throws (EINVAL, naming `what` and the field) and returns -1 otherwise. */
int hb_opt_u32(napi_env env, napi_value o, const char *what, const char *name, uint32_t *out);
/* The DATA length for nghttp2's length callback: as large as both windows and the peer's
 * MAX_FRAME_SIZE allow, at most HB_DATA_FRAME_MAX, but HB_DATA_FRAME_SMALL when no more than that
 * is `readable` from the source (so an interactive connection's frame buffer stays nghttp2's
 * default 16 KiB and only a bulk one grows to HB_DATA_FRAME_MAX). */
ssize_t hb_data_length(int32_t session_window, int32_t stream_window, uint32_t remote_max_frame_size, size_t readable);
/* A tunnel's byte source: the socket nghttp2's DATA source reads straight into its frames (the
 * client's application fd, the server's upstream fd). The stream's uv_poll has UV_READABLE while,
 * and only while, `waiting` (the DATA source deferred because the socket had nothing): the poll
 * callback resumes the stream and leaves UV_READABLE on when the source defers again in the same
 * flush, so a ping-pong tunnel costs no epoll_ctl per message (libuv's uv_poll_start is a
 * DEL + ADD; docs/hbone.md "Round-trip latency"). A short read marks the socket `drained`: the
 * next read callback defers without the read(2) that would only say EAGAIN (the poll is
 * level-triggered: bytes that came in since wake it up at once). `bulk`: the last read filled its
 * frame, so more is likely waiting (hb_src_readable), where a FIONREAD per frame was asked before. */
struct hb_src {
	unsigned waiting : 1;
	unsigned drained : 1;
	unsigned bulk : 1;
};
#define HB_SRC_WAIT (-2)
/* Reads at most `length` bytes from `fd`: n > 0 bytes, 0 at EOF, HB_SRC_WAIT when the DATA source
 * is to defer until the socket is readable (`waiting` set; the caller asks for UV_READABLE), -1 on
 * a read error (errno set). */
ssize_t hb_src_read(struct hb_src *r, int fd, uint8_t *buf, size_t length);
/* The poll reported the socket readable: clears `waiting` and `drained`; true when the DATA source
 * was waiting for it (the caller resumes it: nghttp2_session_resume_data). */
int hb_src_ready(struct hb_src *r);
/* What hb_data_length may take as readable from the socket: more than a small frame when the
 * last read filled its frame, else 0. */
size_t hb_src_readable(const struct hb_src *r);
/* The peer's chain as an array of DER Buffers (leaf first), at most 10. */
napi_value hb_peer_chain(napi_env env, SSL *ssl);

/* One connection's TLS + HTTP/2 byte plumbing. */
struct hb_wire {
	int fd;
	SSL *ssl;
	nghttp2_session *h2;
	uint8_t *out; /* HB_WIRE_OUT_CAP coalescing buffer, held only while it has unwritten bytes */
	size_t out_len, out_off;
	const uint8_t *ext; /* a large frame written without the copy */
	size_t ext_len;
	int write_blocked;  /* SSL_write waits for the socket writable */
	int tls_want_write; /* SSL_read needs the socket writable */
	int fatal;
	char close_reason[128];
	/* Optional: sees every frame copied into `out` (whole, `n` bytes, before encryption) and may
	 * rewrite it in place without changing its length; the server's SETTINGS rewrite. */
	void (*frame_hook)(void *arg, uint8_t *frame, size_t n);
	void *hook_arg;
};

void hb_wire_fatal(struct hb_wire *w, const char *why);
/* Gives the coalescing buffer back (connection end); the wire takes one again when it needs it. */
void hb_wire_release_out(struct hb_wire *w);
/* Connection end: frees the HTTP/2 session and the SSL and gives the coalescing buffer back (a
 * large frame not yet written is dropped with the session); the fd is its owner's to close. */
void hb_wire_free(struct hb_wire *w);
/* Writes what nghttp2 has queued through TLS until it would block; sets fatal on errors and when
 * the session wants neither to read nor to write. */
void hb_wire_flush(struct hb_wire *w);
/* Reads TLS records into nghttp2 until OpenSSL wants more bytes. */
void hb_wire_read(struct hb_wire *w);
/* The uv_poll events the wire needs now (UV_READABLE / UV_WRITABLE). */
int hb_wire_events(struct hb_wire *w);

/* A byte buffer with a read offset, bounded (pending bytes for a slow reader). */
struct hb_buf {
	uint8_t *p;
	size_t len, off, cap;
};
int hb_buf_append(struct hb_buf *b, const uint8_t *data, size_t n, size_t limit);
void hb_buf_free(struct hb_buf *b);
static inline size_t hb_buf_live(const struct hb_buf *b)
{
	return b->len - b->off;
}
#endif
