#!/usr/bin/env bash
# bench/list-memory.sh: jobnikd's peak memory and time while serving one whole v1 task
# list (GET /v1/tasks, no paging parameter) of N tasks (docs/performance.md, "Lists").
#
#   bench/list-memory.sh [N]        N defaults to 1000000
#
# Starts a private PostgreSQL (tests/harness/pg-harness.sh), seeds N COMPLETED tasks with
# bench/seed-history.sql, starts build/src/jobnikd (JOBNIK_BIN_DIR to use another) on
# it, warms it up with one page, then downloads the list with curl and reads jobnikd's
# VmHWM (peak resident set) from /proc before and after. Everything is removed at exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${JOBNIK_BIN_DIR:-$root/build/src}
n=${1:-1000000}
work=$(mktemp -d /tmp/jobnik-listmem.XXXXXX)
chmod 755 "$work"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  bash "$root/tests/harness/pg-harness.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$root/tests/harness/pg-harness.sh" start "$work/pg" >/dev/null
url=$(cat "$work/pg/url")
"$bin/jobnikd" --database-url "$url" --database-schema listmem migrate >/dev/null 2>&1
t0=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -d "$url" -v schema=listmem -v completed="$n" -v pending=0 \
  -v per_stage=10000 -v history_types=16 -v pending_types=1 -f "$root/bench/seed-history.sql" >/dev/null
t1=$(date +%s.%N)
echo "seeded $n tasks in $(echo "$t1 - $t0" | bc) s"

: >"$work/jobnikd.log" # before the first look (the background process opens it only once it runs)
"$bin/jobnikd" --listen 127.0.0.1:0 --sweeper false --access-log false --database-url "$url" \
  --database-schema listmem serve >>"$work/jobnikd.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/jobnikd.log" | head -n1)
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$work/jobnikd.log" >&2; exit 1; }
base="http://127.0.0.1:$port"
curl -sf "$base/v1/tasks?limit=1000" -o /dev/null
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"; }
before=$(hwm)
read -r bytes seconds < <(curl -sf -o /dev/null -w '%{size_download} %{time_total}\n' "$base/v1/tasks")
after=$(hwm)
echo "GET /v1/tasks: $n tasks, $bytes bytes in $seconds s"
echo "jobnikd VmHWM: $before kB after warm-up, $after kB after the list"
