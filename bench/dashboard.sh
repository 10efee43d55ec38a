#!/usr/bin/env bash
# bench/dashboard.sh: how fast the web dashboard's API calls answer on a large database
# (docs/performance.md, "The dashboard").
#
#   bench/dashboard.sh [JOBS] [TASKS]      defaults 10000 and 1000000
#
# Starts a private PostgreSQL (tests/harness/pg-harness.sh), seeds JOBS jobs of one stage
# each holding TASKS tasks in all with bench/seed-history.sql (half finished history, half
# PENDING work of 16 stage types), adds some in-flight, retried and failed tasks, starts
# build/src/jobnikd (JOBNIK_BIN_DIR to use another) on it and times every request each
# dashboard view makes (curl's time_total, the median and the worst of RUNS=20 after one
# warm-up). Prints one line per request; exits 1 when a median is 100 ms or more.
# Everything is removed at exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${JOBNIK_BIN_DIR:-$root/build/src}
jobs=${1:-10000}
tasks=${2:-1000000}
runs=${RUNS:-20}
per_stage=$((tasks / jobs))
work=$(mktemp -d /tmp/jobnik-dashboard.XXXXXX)
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
schema=dashboard
"$bin/jobnikd" --database-url "$url" --database-schema "$schema" migrate >/dev/null 2>&1
t0=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -d "$url" -v schema="$schema" -v completed=$((tasks / 2)) \
  -v pending=$((tasks / 2)) -v per_stage="$per_stage" -v history_types=16 -v pending_types=16 \
  -f "$root/bench/seed-history.sql" >/dev/null
t1=$(date +%s.%N)
echo "seeded $jobs jobs, $tasks tasks ($per_stage a stage) in $(echo "$t1 - $t0" | bc) s"

: >"$work/jobnikd.log" # before the first look (the background process opens it only once it runs)
"$bin/jobnikd" --listen 127.0.0.1:0 --sweeper false --access-log false --database-url "$url" \
  --database-schema "$schema" serve >>"$work/jobnikd.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/jobnikd.log" | head -n1)
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$work/jobnikd.log" >&2; exit 1; }
base="http://127.0.0.1:$port"

# Some live work: 200 tasks in flight, 50 of them then failed with a retry left.
for _ in $(seq 1 4); do
  curl -sf -X POST "$base/v1/tasks/claim" -H 'Content-Type: application/json' \
    -d '{"stageTypes":["other-1"],"limit":50}' -o /dev/null
done
psql -X -q -d "$url" -c "SET search_path TO $schema" \
  -c "UPDATE task SET status = 'RETRIED', attempts = 1, max_attempts = 3 WHERE id IN
        (SELECT id FROM task WHERE status = 'IN_PROGRESS' LIMIT 50)" >/dev/null

job=$(curl -sf "$base/v1/jobs?status=PENDING&limit=1" | jq -r '.[0].id')
stage=$(curl -sf "$base/v1/jobs/$job/stages" | jq -r '.[0].id')
last_page=$((jobs / 25))

measure() {  # measure VIEW PATH: median and worst of $runs GETs, in ms
  local view=$1 path=$2 times median worst
  curl -sf "$base$path" -o /dev/null || { echo "GET $path failed" >&2; exit 1; }
  times=$(for _ in $(seq 1 "$runs"); do curl -sf -o /dev/null -w '%{time_total}\n' "$base$path"; done | sort -n)
  median=$(sed -n "$(((runs + 1) / 2))p" <<<"$times")
  worst=$(tail -n1 <<<"$times")
  printf '%-9s %-80s median %6.1f ms  worst %6.1f ms\n' "$view" "GET $path" \
    "$(echo "$median * 1000" | bc)" "$(echo "$worst * 1000" | bc)"
  if (($(echo "$median >= 0.1" | bc))); then failed=1; fi
}
failed=0
measure overview "/v1/queues"
measure jobs "/v1/jobs?page=1&page_size=25"
measure jobs "/v1/jobs?page=$last_page&page_size=25"
measure jobs "/v1/jobs?status=PENDING&priority=MEDIUM&page=100&page_size=25"
measure jobs "/v1/jobs?job_name=seed-pending-77&page=1&page_size=25"
measure jobs "/v1/jobs?status=FAILED&page=1&page_size=25"
measure jobs "/v1/jobs?from_date=2000-01-01&end_date=2100-01-01&page=1&page_size=25"
measure job "/v1/jobs/$job?should_return_stages=true&should_return_task_summary=true"
measure job "/v1/jobs/$job/events?limit=50"
measure tasks "/v1/stages/$stage"
measure tasks "/v1/tasks?stage_id=$stage&page=1&page_size=50"
measure tasks "/v1/tasks?stage_id=$stage&page=2&page_size=50"
measure tasks "/v1/tasks?stage_id=$stage&status=COMPLETED&page=1&page_size=50"
exit "$failed"
