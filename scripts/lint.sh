#!/usr/bin/env bash
# The gates CI applies besides the tests: clang-format (every C++ file formatted as
# .clang-format says) and clang-tidy (.clang-tidy's checks over lib/ and src/).
#   scripts/lint.sh [BUILD_DIR]    BUILD_DIR holds compile_commands.json (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

mapfile -t sources < <(git ls-files 'lib/*.h' 'lib/*.cc' 'src/*.h' 'src/*.cc' 'tests/*.h' 'tests/*.cc' \
  'bench/*.h' 'bench/*.cc' 'examples/*.h' 'examples/*.cc')
if ! clang-format --dry-run --Werror "${sources[@]}" 2>/tmp/jobnik-format.$$; then
  grep 'error:' /tmp/jobnik-format.$$ | head -20 >&2
  rm -f /tmp/jobnik-format.$$
  echo "lint: files not formatted as .clang-format says (fix with: make format)" >&2
  exit 1
fi
rm -f /tmp/jobnik-format.$$
echo "lint: clang-format clean (${#sources[@]} files)"

[[ -f "$build/compile_commands.json" ]] || { echo "lint: no $build/compile_commands.json (build first)" >&2; exit 1; }
mapfile -t units < <(git ls-files 'lib/*.cc' 'src/*.cc')
# GCC-only warning flags are unknown to clang: not a finding.
printf '%s\n' "${units[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option 2>/dev/null |
  tee /tmp/jobnik-tidy.$$ || true
if grep -q 'error:' /tmp/jobnik-tidy.$$; then
  rm -f /tmp/jobnik-tidy.$$
  echo "lint: clang-tidy findings above" >&2
  exit 1
fi
rm -f /tmp/jobnik-tidy.$$
echo "lint: clang-tidy clean (${#units[@]} files)"
