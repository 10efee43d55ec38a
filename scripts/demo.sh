#!/usr/bin/env bash
# `make demo`: the examples/ pair end to end. Starts jobnikd (embedded database in a
# temporary directory) and a jobnik-worker running examples/worker.yaml, submits
# examples/demo-job.json and waits for it, shows the result, and stops everything.
#   scripts/demo.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$build/src"
BIN=$bin STATE_PREFIX=/tmp/jobnik-demo
# shellcheck source=scripts/local-jobnikd.sh
. "$(dirname "$0")/local-jobnikd.sh"
echo "== starting jobnikd (embedded database in a temporary directory)"
start_local_jobnikd
echo "   jobnikd on $url"

echo "== starting jobnik-worker --config examples/worker.yaml"
"$bin/jobnik-worker" --config "$here/examples/worker.yaml" --url "$url" 2>"$state/worker.log" &
pids+=($!)

echo "== submitting examples/demo-job.json and waiting for it"
if "$bin/jobnikctl" --help 2>/dev/null | grep -qE '^ +submit '; then
  "$bin/jobnikctl" --url "$url" submit --wait "$here/examples/demo-job.json" >"$state/job.json"
  job=$(jq -r '.id // empty' "$state/job.json" 2>/dev/null || true)
else  # a jobnikctl without submit: the same through the API
  job=$(curl -sf -XPOST "$url/v1/jobs" -H 'Content-Type: application/json' \
    --data @"$here/examples/demo-job.json" | jq -r .id)
fi
[[ -n "${job:-}" ]] || job=$(curl -sf "$url/v1/jobs" | jq -r '.[0].id')
for ((i = 0; i < 300; i++)); do
  status=$(curl -sf "$url/v1/jobs/$job" | jq -r .status)
  [[ "$status" == COMPLETED || "$status" == FAILED || "$status" == ABORTED ]] && break
  sleep 0.1
done
echo "   job $job: $status"

echo "== the result: each task's userMetadata came from the command's JOBNIK_RESULT_FILE"
curl -sf "$url/v1/stages/$(curl -sf "$url/v1/jobs/$job?should_return_stages=true" | jq -r '.stages[0].id')?should_return_tasks=true" |
  jq -c '.tasks[] | {data, status, userMetadata}'

echo "== the worker's log"
sed 's/^/   /' "$state/worker.log"
echo "== stopping"
[[ "$status" == COMPLETED ]]
