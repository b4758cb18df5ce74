#!/usr/bin/env bash
# The native addon with AddressSanitizer + UBSan (docs/hbone.md "Native engine"), built in a
# temporary copy of native/ so the normal build stays as it is. Prints the environment to run
# a test with it, e.g.:
#   eval "$(bash scripts/native-asan.sh)"
#   WEFT_HBONE_ENGINE=native node --test dist/test/hbone/native-edge.test.js
# Node itself is not instrumented: libasan is preloaded, leak detection is off (Node's own
# allocations at exit are not ours), and V8's SEGV handler is left to V8.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node-env.sh
out="${WEFT_ASAN_DIR:-/tmp/weft-native-asan}"
rm -rf "$out" && mkdir -p "$out"
cp native/*.c native/*.h native/binding.gyp "$out/"
(cd "$out" && WEFT_NATIVE_ASAN=1 "$OLDPWD/node_modules/.bin/node-gyp" rebuild --nodedir="$WEFT_NODE_DIR" --silent >&2)
lib="$(gcc -print-file-name=libasan.so)"
ubsan="$(gcc -print-file-name=libubsan.so)"
echo "export WEFT_NATIVE_ADDON='$out/build/Release/weft_native.node'"
echo "export LD_PRELOAD='$lib $ubsan'"
echo "export ASAN_OPTIONS='detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:abort_on_error=1'"
echo "export UBSAN_OPTIONS='print_stacktrace=1:halt_on_error=1'"
