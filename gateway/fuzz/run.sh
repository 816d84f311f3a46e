#!/usr/bin/env bash
# Builds the gateway's libFuzzer target with clang in its own build directory and runs it.
#   gateway/fuzz/run.sh [SECONDS]      (default 60)
# Needs clang++-14 and libclang-rt-14-dev (libFuzzer, ASan, UBSan). The corpus starts from the
# seeds in gateway/fuzz/corpus and grows in the build directory, so reruns build on earlier
# finds; a crash leaves its input there as crash-<sha1> and fails the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-60}"
build="${LOYALTY_FUZZ_BUILD_DIR:-$root/build-fuzz}"
googleapis="${LOYALTY_GOOGLEAPIS_DIR:-${LOYALTY_BUILD_DIR:-$root/build}/tools/node_modules/google-proto-files}"

command -v clang++-14 >/dev/null || { echo "fuzz: clang++-14 not installed, skipped" >&2; exit 0; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DLOYALTY_FUZZ=ON \
  -DLOYALTY_GOOGLEAPIS_DIR="$googleapis" >/dev/null
ninja -C "$build" gateway_transcode_fuzzer
corpus="$build/gateway-fuzz-corpus"
mkdir -p "$corpus"
cp -n "$root"/gateway/fuzz/corpus/* "$corpus"/
cd "$build"
./gateway/gateway_transcode_fuzzer -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 "$corpus"
