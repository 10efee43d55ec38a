#!/usr/bin/env bash
# Installs exactly the Debian packages Jobnik needs to build, run and test.
# A fast no-op when they are all present (one dpkg-query call).
#   scripts/deps.sh          build + run + test packages
#   scripts/deps.sh --bench  also the benchmark tools (with BENCH_PEER=1 also Node.js and npm)
#   scripts/deps.sh --lint   also clang-format and clang-tidy (scripts/lint.sh, CI)
#   scripts/deps.sh --fuzz   also clang and its libFuzzer runtime (scripts/fuzz.sh, CI)
set -euo pipefail

packages=(
  # toolchain
  cmake g++ make pkg-config
  # libraries (see README "Dependencies")
  libcli11-dev libcpp-httplib-dev libpqxx-dev libpq-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev prometheus-cpp-dev libssl-dev
  libgtest-dev libgmock-dev
  # runtime: the embedded database and the test harness use the PostgreSQL 15 server binaries
  postgresql-15 postgresql-client-15
  # test tools
  bats bats-assert bats-support bats-file jq curl bash-completion
  # the dashboard's browser test (tests/browser): headless Chromium driven by Selenium
  chromium chromium-driver python3-selenium
)
for arg in "$@"; do
  case "$arg" in
    --bench)
      packages+=(postgresql-contrib)
      # The optional peer baseline (BENCH_PEER=1, bench/peer): Node.js and npm, unless some
      # Node.js is already there.
      if [[ ${BENCH_PEER:-0} =~ ^(1|true|yes|on)$ ]]; then
        command -v node >/dev/null || packages+=(nodejs)
        command -v npm >/dev/null || packages+=(npm)
      fi
      ;;
    --lint) packages+=(clang-format clang-tidy) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    *) echo "deps: unknown option $arg (use --bench, --lint or --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done

if (( ${#missing[@]} == 0 )); then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
sudo=()
if (( EUID != 0 )); then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-unsafe-io "${missing[@]}"
