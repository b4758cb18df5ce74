{
  "variables": {
    "weft_asan%": "<!(echo ${WEFT_NATIVE_ASAN:-0})"
  },
  "targets": [
    {
      "target_name": "weft_native",
      "sources": ["weft_native.c", "hbone_server.c", "hbone_client.c", "hbone_common.c", "upstream_dial.c", "tcp_accept.c", "tls_keylog.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-std=gnu11", "-Wno-deprecated-declarations"],
      "conditions": [
        ["weft_asan==1", {
          "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-g", "-O1"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
