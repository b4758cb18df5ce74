/* The TLS key log of the native HBONE engine (docs/hbone.md "Native engine", TLS settings): what
 * Node's `--tls-keylog=FILE` does for Node's own TLS sockets, for the SSL_CTXs the addon builds
 * (hboneContext; the native server and client both handshake from them), so a packet capture
 * decrypts with one key log (NSS format, as Wireshark and tshark read it) whichever HBONE engine
 * ran. Off unless the process was started with that flag (src/proxy/hbone/native-keylog.ts
 * finds it and calls hboneContextKeylog on each new context).
 *
 * One file per process, opened once (O_APPEND: each line is one write(2), so lines from Node's
 * own TLS sockets appending to the same file are not interleaved mid-line); a later call with
 * another path is refused. Lines are written from OpenSSL's callback, on Node's loop thread.
 */
#define _GNU_SOURCE
#include "tls_keylog.h"
#include "hbone_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static int keylog_fd = -1;
static char keylog_path[4096];

static void keylog_line(const SSL *ssl, const char *line)
{
	struct iovec v[2] = { { (void *)line, strlen(line) }, { "\n", 1 } };
	(void)ssl;
	if (keylog_fd >= 0 && writev(keylog_fd, v, 2) < 0) {
		/* A full disk or a removed file must not break TLS: the key log is a debugging aid. */
	}
}

static void throw_code(napi_env env, const char *code, const char *msg)
{
	napi_value c, m, e;
	napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
	napi_create_error(env, c, m, &e);
	napi_throw(env, e);
}

/* hboneContextKeylog(ctx, path): lines of every handshake made from ctx appended to path. */
static napi_value ctx_keylog(napi_env env, napi_callback_info info)
{
	size_t argc = 2, len = 0;
	napi_value argv[2];
	void *p = NULL;
	char path[sizeof(keylog_path)];
	char msg[sizeof(keylog_path) + 96];

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p ||
	    napi_get_value_string_utf8(env, argv[1], path, sizeof(path), &len) != napi_ok || len == 0 ||
	    len >= sizeof(path) - 1) {
		throw_code(env, "EINVAL", "weft_native: hboneContextKeylog(ctx, path): a context and a file path");
		return NULL;
	}
	if (keylog_fd < 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0) {
			snprintf(msg, sizeof(msg), "open %s %s", hb_errno_name(errno), path);
			throw_code(env, hb_errno_name(errno), msg);
			return NULL;
		}
		keylog_fd = fd;
		memcpy(keylog_path, path, len + 1);
	} else if (strcmp(keylog_path, path) != 0) {
		snprintf(msg, sizeof(msg), "weft_native: the TLS key log is %s already", keylog_path);
		throw_code(env, "EEXIST", msg);
		return NULL;
	}
	SSL_CTX_set_keylog_callback((SSL_CTX *)p, keylog_line);
	return NULL;
}

void tls_keylog_init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "hboneContextKeylog", NULL, ctx_keylog, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
