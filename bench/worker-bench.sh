#!/usr/bin/env bash
# bench/worker-bench.sh BUILD_DIR - jobnik-worker's throughput (`make bench-worker`).
#
# Starts jobnikd (embedded database in a temporary directory), then:
#   baseline  a plain shell loop spawning /bin/true N times: the machine's spawn rate
#   command   WORKERS jobnik-worker processes x CONCURRENCY slots running /bin/true for N tasks
#             (the slots of each process share their claims and reports, the default), and
#             the same with --no-combine-requests (each slot its own requests; for comparison)
#   plugin    the same with the no-op example plugin (libjobnik_noop_plugin.so) in-process
#   sdk       the SDK's worker loop (client::Worker in jobnik-loadgen) with an empty handler and
#             WORKERS x CONCURRENCY slots sharing their requests like jobnik-worker's: the
#             rate the plugin is compared with
# and prints tasks/s of each, the ratios and the targets (command >= 1,000 tasks/s; plugin
# >= 0.8 x sdk), [met] or [MISSED] like bench/run.sh.
#
# Each run is timed from its start to its job's updateTime (when it became COMPLETED), so
# that the watching loop, which looks only every half second, adds neither CPU nor delay.
#
# Environment: BENCH_WORKER_TASKS (N for the command runs and the shell loop, default 10000),
# BENCH_WORKER_FAST_TASKS (N for the plugin and SDK runs, default 20000; at ~2,000 tasks/s a
# few thousand tasks would mostly time the start of the processes), BENCH_WORKERS (4),
# BENCH_CONCURRENCY (8).
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
n=${BENCH_WORKER_TASKS:-10000}
fast_n=${BENCH_WORKER_FAST_TASKS:-20000}
workers=${BENCH_WORKERS:-4}
conc=${BENCH_CONCURRENCY:-8}
bin="$build/src"
BIN=$bin STATE_PREFIX=/tmp/jobnik-wbench
# shellcheck source=scripts/local-jobnikd.sh
. "$(dirname "$0")/../scripts/local-jobnikd.sh"
start_local_jobnikd

now() { date +%s.%N; }
# done_at STAGE: waits until the stage is COMPLETED, then prints when it became so (epoch s):
# its job's updateTime (the job, of that one stage, completed with it).
done_at() {
  local body
  until body=$(curl -sf "$url/v1/stages/$1") && [[ $(jq -r .status <<<"$body") == COMPLETED ]]; do sleep 0.5; done
  date -d "$(curl -sf "$url/v1/jobs/$(jq -r .jobId <<<"$body")" | jq -r .updateTime)" +%s.%N
}
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

# stage TYPE N: a job with one stage of TYPE holding N tasks; prints the stage id.
stage() {
  local n=$2
  local job st i
  job=$(curl -sf -XPOST "$url/v1/jobs" -H 'Content-Type: application/json' -d '{"name":"bench","data":{}}' | jq -r .id)
  st=$(curl -sf -XPOST "$url/v1/jobs/$job/stage" -H 'Content-Type: application/json' -d "{\"type\":\"$1\",\"data\":{}}" | jq -r .id)
  for ((i = 0; i < n; i += 1000)); do
    jq -cn --argjson k "$((n - i < 1000 ? n - i : 1000))" '[range($k) | {data: {}}]' |
      curl -sf -XPOST "$url/v1/stages/$st/tasks" -H 'Content-Type: application/json' --data @- -o /dev/null
  done
  echo "$st"
}

# run TYPE N ARGS...: WORKERS workers on TYPE until its stage of N tasks completes; prints tasks/s.
run() {
  local type=$1 n=$2 st t0 t1 i
  shift 2
  st=$(stage "$type" "$n")
  local mine=()
  t0=$(now)
  for ((i = 0; i < workers; i++)); do
    "$bin/jobnik-worker" --url "$url" --stage-type "$type" --concurrency "$conc" "$@" 2>/dev/null &
    mine+=($!)
    pids+=($!)
  done
  t1=$(done_at "$st")
  kill -TERM "${mine[@]}"
  wait "${mine[@]}" 2>/dev/null || true
  rate "$n" "$t0" "$t1"
}

t0=$(now)
for ((i = 0; i < n; i++)); do /bin/true; done
t1=$(now)
baseline=$(rate "$n" "$t0" "$t1")
# sdk: the SDK loop alone, as many slots in one process, timed like run().
sdk() {
  local st t0 t1
  st=$(stage bench-sdk "$fast_n")
  t0=$(now)
  "$build/bench/jobnik-loadgen" work --url "$url" --type bench-sdk --workers $((workers * conc)) --expect "$fast_n" \
    --combine --no-verify >/dev/null
  t1=$(done_at "$st")
  rate "$fast_n" "$t0" "$t1"
}

command=$(run bench-true "$n" -- /bin/true)
separate=$(run bench-true-separate "$n" --no-combine-requests -- /bin/true)
plugin=$(run bench-plugin "$fast_n" --plugin "$build/examples/plugins/libjobnik_noop_plugin.so")
sdk=$(sdk)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "[met]   " : "[MISSED]") }'; }
echo "tasks: $n (command), $fast_n (plugin, SDK loop); workers: $workers x concurrency $conc"
echo "baseline (shell loop spawning /bin/true): $baseline spawns/s"
echo "jobnik-worker, command /bin/true:         $command tasks/s ($(ratio "$command" "$baseline") x baseline)"
echo "  the same, --no-combine-requests:        $separate tasks/s (the default does $(ratio "$command" "$separate") x this)"
echo "jobnik-worker, no-op plugin:              $plugin tasks/s ($(ratio "$plugin" "$sdk") x sdk)"
echo "SDK worker loop, empty handler:           $sdk tasks/s"
echo "  $(verdict "$command" 1000) command /bin/true, $workers x $conc: $command tasks/s (target >= 1000)"
echo "  $(verdict "$(ratio "$plugin" "$sdk")" 0.8) no-op plugin / SDK loop: $(ratio "$plugin" "$sdk") (target >= 0.8)"
