/* The native HBONE client (hbone_client.c): registers its functions on the addon's exports. */
#ifndef WEFT_HBONE_CLIENT_H
#define WEFT_HBONE_CLIENT_H
#include <node_api.h>
void hbone_client_init(napi_env env, napi_value exports);
#endif
