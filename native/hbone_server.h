/* The native HBONE server (hbone_server.c): registers its functions on the addon's exports. */
#ifndef WEFT_HBONE_SERVER_H
#define WEFT_HBONE_SERVER_H
#include <node_api.h>
void hbone_server_init(napi_env env, napi_value exports);
#endif
