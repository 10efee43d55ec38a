#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] - the libFuzzer targets of tests/fuzz (`make fuzz`; CI runs it
# with 30 s). Builds them with clang, AddressSanitizer and UndefinedBehaviorSanitizer in
# build-fuzz (FUZZ_BUILD_DIR), then runs each for SECONDS (default: FUZZ_SECONDS, else 60)
# from its seed corpus tests/fuzz/corpus/TARGET (new inputs go to a scratch directory, the
# committed corpus is only read). Fails on the first crash, leak, timeout or sanitizer
# report; the input that caused it is kept as build-fuzz/artifacts/TARGET-*.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-60}}
build=${FUZZ_BUILD_DIR:-build-fuzz}
targets=(fuzz_request fuzz_query fuzz_config fuzz_spec)

cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOBNIK_FUZZ=ON \
  -DJOBNIK_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_all
mkdir -p "$build/artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  echo "== $t: ${seconds}s"
  if ! "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" "$scratch/$t" "tests/fuzz/corpus/$t" >"$scratch/$t.log" 2>&1; then
    tail -n 60 "$scratch/$t.log" >&2
    echo "fuzz: $t failed; the input is in $build/artifacts/" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$scratch/$t.log" | tr '\n' ' '
  echo
done
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each, no crash, leak or sanitizer report"
