#!/usr/bin/env bash
# check_allocator.sh BINARY LIBRARY: passes when BINARY's calls to malloc and free bind to
# LIBRARY (say jemalloc) rather than to libc. The binary is started once with --help and all its
# symbols bound at load (LD_BIND_NOW), and the dynamic linker reports where each went.
set -euo pipefail
binary="$1"
library="$2"
bindings="$(LD_BIND_NOW=1 LD_DEBUG=bindings "$binary" --help 2>&1 >/dev/null || true)"
for symbol in malloc free; do
  # "binding file <user> [0] to <provider> [0]: normal symbol `malloc' [GLIBC_2.2.5]"
  providers="$(grep -F "symbol \`$symbol'" <<<"$bindings" | sed -n 's/.* to \([^ ]*\) .*/\1/p' | sort -u)"
  if [ -z "$providers" ]; then
    echo "$binary: no binding of $symbol reported" >&2
    exit 1
  fi
  if grep -v -q "lib$library" <<<"$providers"; then
    echo "$binary: $symbol binds to $(tr '\n' ' ' <<<"$providers")not only to lib$library" >&2
    exit 1
  fi
done
echo "$binary: malloc and free from lib$library"
