# shellcheck shell=bash
# Sourced by scripts that need a private jobnikd for a while (scripts/demo.sh,
# bench/worker-bench.sh): a state directory, a cleanup on exit that stops every process in
# `pids`, and start_local_jobnikd, which starts jobnikd with its embedded database there and
# sets `url` once it is ready.
#   BIN=BUILD_DIR/src STATE_PREFIX=/tmp/jobnik-x . scripts/local-jobnikd.sh
state=$(mktemp -d "${STATE_PREFIX:-/tmp/jobnik-local}.XXXXXX")
chmod 755 "$state"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$state"
}
trap cleanup EXIT

start_local_jobnikd() {
  # Created here: the background process opens its redirection only once it runs, which
  # can be after the first look below.
  : >"$state/jobnikd.log"
  "$BIN/jobnikd" --listen 127.0.0.1:0 --data-dir "$state/data" >>"$state/jobnikd.log" 2>&1 &
  pids+=($!)
  local port="" i
  for ((i = 0; i < 600; i++)); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$state/jobnikd.log" | head -n1)
    [[ -n "$port" ]] && curl -sf "http://127.0.0.1:$port/readiness" -o /dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || break
    port=""
    sleep 0.1
  done
  [[ -n "$port" ]] || { echo "jobnikd did not start:" >&2; cat "$state/jobnikd.log" >&2; exit 1; }
  # shellcheck disable=SC2034 # read by the sourcing script
  url="http://127.0.0.1:$port"
}
