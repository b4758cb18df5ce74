/* TLS key log of the native HBONE engine (tls_keylog.c): registers its function on the addon's exports. */
#ifndef WEFT_TLS_KEYLOG_H
#define WEFT_TLS_KEYLOG_H
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
void tls_keylog_init(napi_env env, napi_value exports);
#endif
