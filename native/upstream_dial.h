/* Upstream dials of the native HBONE engine (upstream_dial.c): registers its functions on the addon's exports. */
#ifndef WEFT_UPSTREAM_DIAL_H
#define WEFT_UPSTREAM_DIAL_H
#include <node_api.h>
void upstream_dial_init(napi_env env, napi_value exports);
#endif
