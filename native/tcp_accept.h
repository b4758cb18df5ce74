/* Native TCP accept (tcp_accept.c): registers its functions on the addon's exports. */
#ifndef WEFT_TCP_ACCEPT_H
#define WEFT_TCP_ACCEPT_H
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
void tcp_accept_init(napi_env env, napi_value exports);
#endif
