{
  "targets": [
    {
      "target_name": "weft_native",
      "sources": ["weft_native.c", "hbone_server.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-std=gnu11", "-Wno-deprecated-declarations"]
    }
  ]
}
