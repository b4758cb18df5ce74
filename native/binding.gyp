{
  "targets": [
    {
      "target_name": "weft_native",
      "sources": ["weft_native.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-std=gnu11"]
    }
  ]
}
