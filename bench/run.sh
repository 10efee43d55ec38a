#!/usr/bin/env bash
# bench/run.sh BUILD_DIR - Jobnik's end-to-end benchmark (`make bench`).
#
# Starts a private, durable PostgreSQL (tests/harness/pg-harness.sh, fsync on), runs
# the PostgreSQL baseline (bench/baseline/run-baseline.sh), then for every run of
# every scenario a fresh jobnikd from BUILD_DIR on a fresh schema, seeds it, drives
# it with BUILD_DIR/bench/jobnik-loadgen, stops it and records its peak RSS.
#
#   a  one job, one stage of A tasks; 1, 4, 16, 64 workers
#   b  16 jobs of one stage each (types bench-0..15), B tasks per stage; 1, 4, 16, 64 workers
#      At 16 workers, a and b each run AB_PAIRS times, each run paired with pgbench's
#      claim+done at 16 clients measured beside it (alternating order): their targets take
#      the median of the pairs' ratios, so that a drift of the shared host's speed between
#      the baseline at the start and the run minutes later does not count as jobnikd's.
#      (The other worker counts, informational, compare with the baseline at the start.)
#   c  submission of one job with C tasks in one atomic POST /v1/jobs (and jobnikd's peak
#      RSS while it parses and stores them: the body is streamed, never a whole JSON tree)
#   d  b at 16 workers without and with a large history: D_COMPLETED COMPLETED tasks and
#      D_PENDING PENDING tasks of other stage types (bench/seed-history.sql), in D_PAIRS
#      alternating pairs (the ratio is the median of the pairs')
#   e  claims with E_DELAYED RETRIED tasks of the same stage type waiting for their retry
#      delay (bench/seed-delayed.sql) against none: one stage of E tasks, 16 workers, in
#      E_PAIRS alternating pairs of runs (the ratio is the median of the pairs')
#   f  long poll: F_WAITERS workers wait in dequeues with wait_seconds; F tasks are submitted
#      one at a time (each once every worker waits again): submit returns -> claim returns
#      latency p50/p99, with the submission through the same jobnikd and through a second one
#   g  batch claims and reports (POST /v1/tasks/claim + POST /v1/tasks/status, up to
#      G_BATCH tasks per request), 16 workers: one stage of G tasks, and 16 stages of
#      G/16 tasks (one claim over all 16 types); against pgbench single claim+done at 16
#      clients measured just before g's runs (with AB_PAIRS > 0; else the baseline at the
#      start), and the pgbench baseline that claims 10 rows per transaction
#   j  jobs waiting: one stage of J tasks, 16 workers, on a history of J_HISTORY COMPLETED jobs
#      (analyzed), without and with J_WAITING PENDING jobs of another type submitted through
#      the API just before (a burst far below autovacuum's analyze threshold: the statistics
#      still count no PENDING job), in J_PAIRS alternating pairs (the ratio is the median of
#      the pairs'): claims must not read the waiting jobs
#   i  idempotency keys: I_JOBS small jobs (10 tasks each) submitted one POST /v1/jobs at a
#      time without and with an Idempotency-Key each, in I_PAIRS alternating pairs (the
#      overhead is the median of the pairs' time ratios)
#   l  concurrency limits: one stage of L tasks, 16 workers, without and with a limit
#      of L_LIMIT on its type (PUT /v1/stage-types/{type}/limits; every claim then takes
#      the limit's lock and counts the tasks in progress), in L_PAIRS alternating pairs
#      (the ratio is the median of the pairs'); L_LIMIT >= 16 measures the cost of the
#      check, a smaller one the throughput at the limit
#   p  retention: one stage of P tasks, 16 workers, on a history of P_HISTORY COMPLETED tasks
#      (P_PER_JOB per job: a million finished jobs by default, finished a day ago), without
#      and with `jobnikd prune --once --retain-completed 1h` deleting that history while
#      the workers run, in P_PAIRS alternating pairs (the ratios, of p99 dequeue latency and
#      of tasks/s, are the medians of the pairs'); also the prune's rate and the task table's
#      and indexes' sizes before, after it and after a VACUUM
#   s  starvation: jobnikd with its DEFAULT settings; jobnik-siege holds S_IDLE idle
#      keep-alive connections (a request, then silence, another request every 4 s) and
#      S_SLOWLORIS slowloris ones (a header line every 20 s, the head never ends), opening
#      again whatever jobnikd closes, while two probes time GET /v1/jobs every 20 ms for
#      S_SECONDS (a fresh connection each, and one keep-alive connection): p50/p99/max,
#      errors, jobnikd's peak RSS, threads and CPU; the same without the hostile
#      connections first (s_baseline)
#
# With BENCH_PEER=1 a peer runs first on the same PostgreSQL (bench/peer/run-peer.sh):
# graphile-worker 0.17.3 from npm, with its defaults and with its documented batching,
# through BENCH_PEER_JOBS no-op jobs at 16 workers; g's batch runs are compared with it.
#
# Prints a table and writes bench/results/latest.json (+ logs in bench/results/logs/).
# Targets are informational: a miss does not fail the run. Exit status: 0 ok; 1 when a
# request failed, a task was lost or handed out twice, a verification failed, or a
# daemon/baseline failed; 2 usage.
#
# Environment (defaults: full run / BENCH_QUICK=1):
#   BENCH_QUICK=1             a ~1-2 minute smoke run with small sizes
#   BENCH_WORKERS             worker counts of a and b          "1 4 16 64"
#   BENCH_A_TASKS             tasks of a's stage                 20000 / 1000
#   BENCH_B_TASKS_PER_STAGE   tasks of each of b's 16 stages     1250 / 50
#   BENCH_TASKS_PER_WORKER    cap for a and b: a run of W workers does at most
#                             W x this many tasks (keeps the slow 1-worker runs
#                             short; 0: no cap)                  5000 / 250
#   BENCH_C_TASKS             tasks of c's job                   100000 / 10000
#   BENCH_D_COMPLETED         d's COMPLETED history tasks        1000000 / 200000
#   BENCH_D_PENDING           d's PENDING other-type tasks       1000000 / 200000
#   BENCH_SECONDS             seconds per pgbench run of the baseline  10 / 2
#   BENCH_WORK_TIMEOUT        seconds before a work run gives up 120
#   BENCH_BASELINE_JSON       reuse this baseline result instead of running pgbench
#   BENCH_AB_PAIRS            a's and b's runs at W = 16, each with pgbench beside it
#                             (0: one run each, against the baseline at the start)
#                                                                3 / 1 (0 with BENCH_BASELINE_JSON)
#   BENCH_E_TASKS             tasks of e's stage                 20000 / 2000
#   BENCH_E_DELAYED           e's waiting RETRIED tasks          100000 / 100000
#   BENCH_E_PAIRS             e's pairs of runs (none, delayed)  3 / 1
#   BENCH_F_TASKS             f's tasks (one at a time)          500 / 100
#   BENCH_F_WAITERS           f's waiting workers                64
#   BENCH_G_TASKS             tasks of each of g's runs          20000 / 2000
#   BENCH_G_BATCH             g's tasks per claim and per report  10
#   BENCH_J_TASKS             tasks of j's stage                 20000 / 2000
#   BENCH_J_HISTORY           j's COMPLETED history jobs         200000 / 20000
#   BENCH_J_WAITING           j's waiting PENDING jobs           5000 / 1000
#   BENCH_J_PAIRS             j's pairs of runs (none, waiting)  3 / 1
#   BENCH_I_JOBS              i's jobs per run                   2000 / 200
#   BENCH_I_PAIRS             i's pairs of runs (plain, keyed)   3 / 1
#   BENCH_L_TASKS             tasks of l's stage                 20000 / 2000
#   BENCH_L_LIMIT             l's limit (maxInProgress)          32
#   BENCH_L_PAIRS             l's pairs of runs (none, limited)  3 / 1
#   BENCH_P_TASKS             tasks of p's stage                 20000 / 2000
#   BENCH_P_HISTORY           p's COMPLETED history tasks        1000000 / 100000
#   BENCH_P_PER_JOB           p's history tasks per job          1
#   BENCH_P_PAIRS             p's pairs of runs (none, pruning)  2 / 1
#   BENCH_S_IDLE              s's idle keep-alive connections    1000
#   BENCH_S_SLOWLORIS         s's slowloris connections          200
#   BENCH_S_SECONDS           s's seconds of probing             30 / 10
#   BENCH_PEER                1: run the peer baseline (needs node, npm; 0)
#   BENCH_PEER_JOBS           the peer's jobs per run            20000 / 5000
#   BENCH_SCENARIOS           which scenarios to run             "a b c d e f g i l p s"
#   BENCH_RESULTS             results directory                  bench/results
set -euo pipefail
shopt -s inherit_errexit

usage() {
  echo "usage: $0 BUILD_DIR   (a Release build; see bench/README.md)" >&2
  exit 2
}
[[ $# -eq 1 ]] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no such build directory: $1" >&2; exit 2; }
jobnikd=$build/src/jobnikd
loadgen=$build/bench/jobnik-loadgen
siege=$build/bench/jobnik-siege
harness=$root/tests/harness/pg-harness.sh
baseline=$here/baseline/run-baseline.sh
for f in "$jobnikd" "$loadgen" "$siege"; do
  [[ -x $f ]] || { echo "$0: $f not found: build first (make bench)" >&2; exit 2; }
done
[[ -x $harness ]] || { echo "$0: $harness not found" >&2; exit 2; }
command -v jq >/dev/null || { echo "$0: jq not found (apt-get install jq)" >&2; exit 2; }

is_true() { [[ ${1,,} =~ ^(1|true|yes|on)$ ]]; }
quick=false
if is_true "${BENCH_QUICK:-0}"; then quick=true; fi
pick() { if [[ $quick == true ]]; then echo "$2"; else echo "$1"; fi; }

read -r -a workers_list <<<"${BENCH_WORKERS:-1 4 16 64}"
a_tasks=${BENCH_A_TASKS:-$(pick 20000 1000)}
b_types=16
b_per_stage=${BENCH_B_TASKS_PER_STAGE:-$(pick 1250 50)}
per_worker=${BENCH_TASKS_PER_WORKER:-$(pick 5000 250)}
c_tasks=${BENCH_C_TASKS:-$(pick 100000 10000)}
d_completed=${BENCH_D_COMPLETED:-$(pick 1000000 200000)}
d_pending=${BENCH_D_PENDING:-$(pick 1000000 200000)}
d_workers=16
d_pairs=${BENCH_D_PAIRS:-$(pick 3 1)}
e_tasks=${BENCH_E_TASKS:-$(pick 20000 2000)}
e_delayed=${BENCH_E_DELAYED:-100000}
e_workers=16
e_pairs=${BENCH_E_PAIRS:-$(pick 3 1)}
f_tasks=${BENCH_F_TASKS:-$(pick 500 100)}
f_waiters=${BENCH_F_WAITERS:-64}
g_tasks=${BENCH_G_TASKS:-$(pick 20000 2000)}
g_batch=${BENCH_G_BATCH:-10}
g_workers=16
j_tasks=${BENCH_J_TASKS:-$(pick 20000 2000)}
j_history=${BENCH_J_HISTORY:-$(pick 200000 20000)}
j_waiting=${BENCH_J_WAITING:-$(pick 5000 1000)}
j_pairs=${BENCH_J_PAIRS:-$(pick 3 1)}
j_workers=16
i_jobs=${BENCH_I_JOBS:-$(pick 2000 200)}
i_pairs=${BENCH_I_PAIRS:-$(pick 3 1)}
l_tasks=${BENCH_L_TASKS:-$(pick 20000 2000)}
l_limit=${BENCH_L_LIMIT:-32}
l_pairs=${BENCH_L_PAIRS:-$(pick 3 1)}
l_workers=16
p_tasks=${BENCH_P_TASKS:-$(pick 20000 2000)}
p_history=${BENCH_P_HISTORY:-$(pick 1000000 100000)}
p_per_job=${BENCH_P_PER_JOB:-1}
p_pairs=${BENCH_P_PAIRS:-$(pick 2 1)}
p_workers=16
s_idle=${BENCH_S_IDLE:-1000}
s_slowloris=${BENCH_S_SLOWLORIS:-200}
s_seconds=${BENCH_S_SECONDS:-$(pick 30 10)}
peer=false
if is_true "${BENCH_PEER:-0}"; then peer=true; fi
peer_jobs=${BENCH_PEER_JOBS:-$(pick 20000 5000)}
baseline_seconds=${BENCH_SECONDS:-$(pick 10 2)}
if [[ -n ${BENCH_BASELINE_JSON:-} ]]; then ab_pairs=${BENCH_AB_PAIRS:-0}; else ab_pairs=${BENCH_AB_PAIRS:-$(pick 3 1)}; fi
work_timeout=${BENCH_WORK_TIMEOUT:-120}
read -r -a scenarios <<<"${BENCH_SCENARIOS:-a b c d e f g i j l p s}"
results=${BENCH_RESULTS:-$root/bench/results}

for v in a_tasks b_per_stage per_worker c_tasks d_completed d_pending d_pairs e_tasks e_delayed e_pairs f_tasks f_waiters \
  g_tasks g_batch i_jobs i_pairs ab_pairs j_tasks j_history j_waiting j_pairs l_tasks l_limit l_pairs p_tasks p_history p_per_job p_pairs peer_jobs baseline_seconds \
  work_timeout s_idle s_slowloris s_seconds; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$0: $v must be a non-negative integer, got '${!v}'" >&2; exit 2; }
done
for w in "${workers_list[@]}"; do
  [[ $w =~ ^[1-9][0-9]*$ ]] || { echo "$0: BENCH_WORKERS: '$w' is not a positive integer" >&2; exit 2; }
done
for s in "${scenarios[@]}"; do
  [[ $s =~ ^[abcdefgijlps]$ ]] || { echo "$0: BENCH_SCENARIOS: unknown scenario '$s'" >&2; exit 2; }
done

# jobnikd's flags for every run (the database URL and schema are added per run).
jobnikd_flags=(--access-log false --log-level warn --http-threads 96 --pool-size 32
  --body-limit 67108864 --sweeper false)

find_bin() {
  if command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  elif [[ -x /usr/lib/postgresql/15/bin/$1 ]]; then
    echo "/usr/lib/postgresql/15/bin/$1"
  else
    echo "$0: $1 not found" >&2
    exit 2
  fi
}
psql_bin=$(find_bin psql)

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---------------------------------------------------------------- state and cleanup

work=$(mktemp -d "${TMPDIR:-/tmp}/jobnik-bench.XXXXXXXX")
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/jobnik-bench-pg.XXXXXXXX")
pg_started=false
jd_pid=
jd_url=
jd_schema=
jd_log=
jd_rss_kb=0
failures=()
mkdir -p "$work/runs" "$work/logs"

stop_pid() {  # PID SECONDS: SIGTERM, wait (bounded), SIGKILL. Prints nothing.
  local pid=$1 budget=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < budget * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "jobnikd $pid did not stop within ${budget}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $jd_pid ]]; then
    stop_pid "$jd_pid" 15
    jd_pid=
  fi
  if [[ $pg_started == true ]] || [[ -e $pgdir ]]; then
    "$harness" stop "$pgdir" >/dev/null 2>&1 || log "warning: stopping PostgreSQL in $pgdir failed"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {  # records a failure; the run goes on, the exit status will be 1
  log "FAILURE: $*"
  failures+=("$*")
}

psql_run() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$pg_url" "$@"; }

# ---------------------------------------------------------------- jobnikd

port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

free_port() {
  local i p
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + ((RANDOM << 15) | RANDOM) % 40000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# start_jobnikd NAME: a fresh schema bench_NAME, jobnikd serve --migrate on a free port.
# Sets jd_pid, jd_url, jd_schema, jd_log. Returns 1 (logged) when it does not come up.
start_jobnikd() {
  local name=$1 attempt port
  jd_schema="bench_$name"
  jd_log="$work/logs/$name.jobnikd.log"
  psql_run -c 'SET client_min_messages = warning' -c "DROP SCHEMA IF EXISTS $jd_schema CASCADE" >/dev/null
  for attempt in 1 2 3 4 5; do
    port=$(free_port) || { fail "$name: no free port"; return 1; }
    "$jobnikd" serve --migrate --listen "127.0.0.1:$port" --database-url "$pg_url" \
      --database-schema "$jd_schema" "${jobnikd_flags[@]}" >>"$jd_log" 2>&1 &
    jd_pid=$!
    jd_url="http://127.0.0.1:$port"
    if "$loadgen" ready --url "$jd_url" --timeout-s 30 2>>"$jd_log"; then
      if kill -0 "$jd_pid" 2>/dev/null; then return 0; fi
    fi
    stop_pid "$jd_pid" 5
    jd_pid=
    if ! grep -q 'cannot listen' "$jd_log"; then break; fi
    log "$name: port $port taken, retrying (attempt $attempt)"
  done
  fail "$name: jobnikd did not start (see its log below)"
  tail -n 20 "$jd_log" >&2 || true
  return 1
}

# stop_jobnikd NAME: records VmHWM (kB) in jd_rss_kb, SIGTERM, waits; drops the schema.
stop_jobnikd() {
  local name=$1 rc=0 i
  jd_rss_kb=0
  [[ -n $jd_pid ]] || return 0
  if ! kill -0 "$jd_pid" 2>/dev/null; then
    wait "$jd_pid" || rc=$?
    fail "$name: jobnikd exited during the run (status $rc)"
    jd_pid=
    return 0
  fi
  jd_rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$jd_pid/status" 2>/dev/null || echo 0)
  kill -TERM "$jd_pid"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$jd_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$jd_pid" 2>/dev/null; then
    kill -KILL "$jd_pid" 2>/dev/null || true
    fail "$name: jobnikd did not stop within 30 s of SIGTERM"
  fi
  wait "$jd_pid" || rc=$?
  [[ $rc == 0 ]] || fail "$name: jobnikd exited with status $rc after SIGTERM"
  jd_pid=
  psql_run -c 'SET client_min_messages = warning' -c "DROP SCHEMA IF EXISTS $jd_schema CASCADE" >/dev/null ||
    log "warning: could not drop schema $jd_schema"
}

checkpoint() { psql_run -c 'CHECKPOINT' >/dev/null; }

clk_tck=$(getconf CLK_TCK)

# CPU time so far, in clock ticks, of jobnikd and of our PostgreSQL (the postmaster
# and its children: backends, walwriter, checkpointer...): prints "JOBNIKD POSTGRES".
cpu_snapshot() {
  local f pid stat pm jd=0 pg=0
  local -a fields
  pm=$(head -n 1 "$pgdir/data/postmaster.pid" 2>/dev/null) || pm=
  for f in /proc/[0-9]*/stat; do
    # (not stat=$(<"$f"): in bash 5.2 a vanished file makes that fatal under set -e)
    read -r stat 2>/dev/null <"$f" || continue
    [[ $stat == *') '* ]] || continue
    pid=${f#/proc/}
    pid=${pid%/stat}
    read -r -a fields <<<"${stat##*) }"
    [[ ${fields[11]:-} =~ ^[0-9]+$ && ${fields[12]:-} =~ ^[0-9]+$ ]] || continue
    if [[ $pid == "$jd_pid" ]]; then
      jd=$((fields[11] + fields[12]))
    elif [[ -n $pm && ($pid == "$pm" || ${fields[1]} == "$pm") ]]; then
      pg=$((pg + fields[11] + fields[12]))
    fi
  done
  echo "$jd $pg"
}

# cpu_json PHASE BEFORE_JD BEFORE_PG: {"cpu_PHASE": {jobnikd_s, postgres_s}} since BEFORE.
cpu_json() {
  local phase=$1 jd0=$2 pg0=$3 jd1 pg1
  read -r jd1 pg1 < <(cpu_snapshot) || { jd1=0 pg1=0; }
  jq -n --arg p "$phase" --argjson jd $((jd1 - jd0)) --argjson pg $((pg1 - pg0)) --argjson t "$clk_tck" \
    '{("cpu_" + $p): {jobnikd_s: ($jd / $t), postgres_s: ($pg / $t)}}'
}

# The statements' own cost, from pg_stat_statements (loaded into the benchmark's PostgreSQL
# when it starts): executor time and WAL are steadier measures of the SQL than rates on a
# shared host. sql_reset forgets the counts; sql_json PHASE prints {"sql_PHASE": {exec_ms,
# wal_bytes, calls, top}} over every statement since (nothing else runs on the cluster
# meanwhile); top: the 8 statements that took most executor time (the start of their text,
# calls, rows, exec_ms, wal_bytes), to tell which statement a change made dearer.
sql_reset() {
  [[ $pgss == true ]] || return 0
  psql_run -c 'SELECT pg_stat_statements_reset()' >/dev/null 2>&1 || true
}
sql_json() {
  local phase=$1 totals
  if [[ $pgss == true ]] && totals=$(psql_run -At -c "SELECT json_build_object(
      'exec_ms', round(coalesce(sum(total_exec_time), 0)::numeric, 1),
      'wal_bytes', coalesce(sum(wal_bytes), 0), 'calls', coalesce(sum(calls), 0),
      'top', (SELECT coalesce(json_agg(t ORDER BY t.exec_ms DESC), '[]') FROM (
        SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 80) AS query, calls, rows,
               round(total_exec_time::numeric, 1) AS exec_ms, wal_bytes
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY total_exec_time DESC LIMIT 8) t))
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())" 2>/dev/null); then
    jq -n --arg p "$phase" --argjson t "$totals" '{("sql_" + $p): $t}'
  else
    printf '{}'
  fi
}

# record NAME JSON...: merges the JSON objects (later keys win) into runs/NAME.json.
record() {
  local name=$1
  shift
  jq -s 'add' "$@" >"$work/runs/$name.json"
}

# ---------------------------------------------------------------- one run

# run_work NAME SCENARIO WORKERS SUBMIT_ARGS... -- WORK_ARGS...
# Fresh jobnikd, submission, checkpoint, workers, stop; optional seeding via SEED_ARGS
# (jobnik-loadgen seed-history) or SEED_DELAYED (bench/seed-delayed.sql: that many waiting
# RETRIED tasks of SEED_TYPE, 0 for none; either way the tables are analyzed, so the two
# runs of e differ only by the waiting rows).
seed_args=()
seed_delayed=
seed_type=
limit_type=  # with LIMIT_MAX: the concurrency limit set before submission (scenario l)
limit_max=
prune_during=  # a retention (e.g. 1h): `jobnikd prune --once` runs while the workers do (scenario p)
waiting_jobs=  # PENDING jobs of one task each (type bench-waiting) submitted before the work (scenario j)
run_work() {
  local name=$1 scenario=$2 workers=$3
  shift 3
  local submit_args=() work_args=()
  while (($#)) && [[ $1 != -- ]]; do submit_args+=("$1"); shift; done
  (($#)) && shift
  work_args=("$@")
  local meta="$work/$name.meta.json" seedj="$work/$name.seed.json" subj="$work/$name.submit.json"
  local workj="$work/$name.work.json" rssj="$work/$name.rss.json" ok=true
  local cpusj="$work/$name.cpus.json" cpuwj="$work/$name.cpuw.json" out rc jd0 pg0
  local prunej="$work/$name.prune.json" prune_pid= sqlwj="$work/$name.sqlw.json"
  printf '{}' >"$prunej"
  printf '{}' >"$sqlwj"
  printf '{}' >"$cpusj"
  printf '{}' >"$cpuwj"
  printf '{}' >"$seedj"
  printf '{}' >"$subj"
  printf '{}' >"$workj"
  jq -n --arg name "$name" --arg s "$scenario" --argjson w "$workers" \
    '{name: $name, scenario: $s, workers: $w}' >"$meta"

  log "$name: starting jobnikd"
  if ! start_jobnikd "$name"; then
    jq -n '{ok: false, error: "jobnikd did not start"}' >"$workj"
    record "$name" "$meta" "$workj"
    return 0
  fi
  if [[ -n $limit_type ]]; then
    log "$name: limit of $limit_type: $limit_max in progress"
    if ! curl -sf -X PUT -H 'Content-Type: application/json' --data "{\"maxInProgress\":$limit_max}" \
      "$jd_url/v1/stage-types/$limit_type/limits" >/dev/null 2>>"$jd_log"; then
      fail "$name: setting the limit failed"
      ok=false
    fi
  fi
  if ((${#seed_args[@]})); then
    log "$name: seeding history (${seed_args[*]})"
    local sj
    if sj=$("$loadgen" seed-history --database-url "$pg_url" --schema "$jd_schema" --psql "$psql_bin" \
      "${seed_args[@]}" 2>>"$jd_log"); then
      jq '{seed: .}' <<<"$sj" >"$seedj" || printf '{}' >"$seedj"
    else
      fail "$name: seeding failed (see $name.jobnikd.log)"
      ok=false
    fi
  fi
  if [[ -n $seed_delayed ]]; then
    log "$name: seeding $seed_delayed delayed RETRIED tasks of type $seed_type"
    local t0 t1
    t0=$(date +%s.%N)
    if psql_run -At -v schema="$jd_schema" -v delayed="$seed_delayed" -v type="$seed_type" \
      -f "$here/seed-delayed.sql" >"$work/$name.seed.txt" 2>>"$jd_log"; then
      t1=$(date +%s.%N)
      jq -n --argjson n "$(tail -n 1 "$work/$name.seed.txt")" --arg s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" \
        '{seed: {delayed_tasks: $n, wall_s: ($s | tonumber)}}' >"$seedj" || printf '{}' >"$seedj"
    else
      fail "$name: seeding delayed tasks failed (see $name.jobnikd.log)"
      ok=false
    fi
  fi
  if [[ $ok == true && -n $waiting_jobs ]]; then
    log "$name: submitting $waiting_jobs PENDING jobs of type bench-waiting"
    local wj
    if wj=$("$loadgen" submit --url "$jd_url" --tasks "$waiting_jobs" --jobs "$waiting_jobs" --type bench-waiting \
      2>>"$jd_log"); then
      jq --argjson w "$(jq -c '{waiting_jobs: .jobs, waiting_wall_s: .wall_s}' <<<"$wj")" '.seed = ((.seed // {}) + $w)' \
        "$seedj" >"$seedj.new" && mv "$seedj.new" "$seedj"
    else
      fail "$name: submitting the waiting jobs failed (see $name.jobnikd.log)"
      ok=false
    fi
  fi
  if [[ $ok == true ]]; then
    log "$name: submitting (${submit_args[*]})"
    rc=0
    read -r jd0 pg0 < <(cpu_snapshot) || { jd0=0 pg0=0; }
    out=$("$loadgen" submit --url "$jd_url" "${submit_args[@]}") || rc=$?
    if [[ -n $out ]]; then jq '{submit: .}' <<<"$out" >"$subj" || printf '{}' >"$subj"; fi
    cpu_json submit "$jd0" "$pg0" >"$cpusj"
    if ((rc != 0)); then
      fail "$name: submission failed (loadgen exit $rc)"
      ok=false
    fi
  fi
  if [[ $ok == true ]] && ((${#work_args[@]})); then
    checkpoint
    log "$name: working (${work_args[*]})"
    rc=0
    sql_reset
    read -r jd0 pg0 < <(cpu_snapshot) || { jd0=0 pg0=0; }
    local sizes_before=
    if [[ -n $prune_during ]]; then
      sizes_before=$(table_sizes)
      log "$name: pruning COMPLETED jobs older than $prune_during while working"
      prune_concurrently "$prunej" &
      prune_pid=$!
    fi
    out=$("$loadgen" work --url "$jd_url" --workers "$workers" --timeout-s "$work_timeout" "${work_args[@]}") || rc=$?
    if [[ -n $prune_pid ]] && ! wait "$prune_pid"; then
      fail "$name: jobnikd prune --once failed (see $name.jobnikd.log)"
    fi
    cpu_json work "$jd0" "$pg0" >"$cpuwj"
    sql_json work >"$sqlwj"
    if [[ -n $prune_during ]]; then
      # What the prune left behind in the task table and its indexes, and what VACUUM
      # makes of it (autovacuum would, later).
      local sizes_pruned t0 t1
      sizes_pruned=$(table_sizes)
      t0=$(date +%s.%N)
      psql_run -c "VACUUM (ANALYZE) \"$jd_schema\".task, \"$jd_schema\".stage, \"$jd_schema\".job, \"$jd_schema\".job_event" >/dev/null
      t1=$(date +%s.%N)
      jq --argjson b "$sizes_before" --argjson p "$sizes_pruned" --argjson v "$(table_sizes)" \
        --arg vs "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
        '.prune += {sizes: {before: $b, pruned: $p, vacuumed: $v}, vacuum_s: ($vs | tonumber)}' \
        "$prunej" >"$prunej.tmp" && mv "$prunej.tmp" "$prunej"
    fi
    if [[ -n $out ]]; then jq '{work: .}' <<<"$out" >"$workj" || printf '{}' >"$workj"; fi
    if ((rc != 0)); then fail "$name: work failed (loadgen exit $rc): $(jq -c '.work | {completed, expected, errors, conflicts_409, timed_out, error_samples, problems: .verify.problems}' "$workj" 2>/dev/null)"; fi
  fi
  stop_jobnikd "$name"
  [[ $jd_rss_kb =~ ^[0-9]+$ ]] || jd_rss_kb=0
  jq -n --argjson kb "$jd_rss_kb" --argjson w "$(grep -ciE '\b(warn|warning|error|critical)\b' "$jd_log" || true)" \
    '{peak_rss_kb: $kb, peak_rss_mb: ($kb / 1024 * 10 | round / 10), jobnikd_log_problem_lines: $w}' >"$rssj"
  record "$name" "$meta" "$seedj" "$subj" "$workj" "$rssj" "$cpusj" "$cpuwj" "$sqlwj" "$prunej"
  log "$name: $(jq -r '[(if .work.tasks_per_s then "\(.work.tasks_per_s) tasks/s" else empty end),
      (if .submit.tasks_per_s and (.work.tasks_per_s | not) then "submit \(.submit.tasks_per_s) tasks/s" else empty end),
      "peak RSS \(.peak_rss_mb) MB"] | join(", ")' "$work/runs/$name.json")"
}

# table_sizes: the task table's live and dead rows and sizes (MB): the table, the hot claim
# indexes (task_claim, task_active) and all its indexes, as JSON.
table_sizes() {
  psql_run -At -c "SELECT json_build_object(
      'live', n_live_tup, 'dead', n_dead_tup,
      'table_mb', round(pg_table_size(relid) / 1048576.0, 1),
      'hot_indexes_mb', round((pg_relation_size('\"$jd_schema\".task_claim')
                               + pg_relation_size('\"$jd_schema\".task_active')) / 1048576.0, 2),
      'indexes_mb', round(pg_indexes_size(relid) / 1048576.0, 1))
    FROM pg_stat_user_tables WHERE schemaname = '$jd_schema' AND relname = 'task'"
}

# prune_concurrently JSON: `jobnikd prune --once --retain-completed $prune_during` on the
# run's schema; writes {prune: {jobs, stages, tasks, events, wall_s, tasks_per_s}} to JSON.
prune_concurrently() {
  local json=$1 t0 t1 out wall
  t0=$(date +%s.%N)
  out=$("$jobnikd" --database-url "$pg_url" --database-schema "$jd_schema" --log-level warn \
    --retain-completed "$prune_during" prune --once 2>>"$jd_log") || return 1
  t1=$(date +%s.%N)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  # "deleted J finished job(s): S stage(s), T task(s), E event(s)"
  read -r -a n <<<"$(sed -E 's/[^0-9]+/ /g' <<<"$out")"
  jq -n --argjson j "${n[0]}" --argjson s "${n[1]}" --argjson t "${n[2]}" --argjson e "${n[3]}" --argjson w "$wall" \
    '{prune: {jobs: $j, stages: $s, tasks: $t, events: $e, wall_s: $w,
              tasks_per_s: (if $w > 0 then ($t / $w | round) else null end)}}' >"$json"
}

# run_longpoll NAME ACROSS: scenario f on a fresh jobnikd (ACROSS=true: submissions go
# through a second jobnikd on the same schema, started after the first).
run_longpoll() {
  local name=$1 across=$2 meta="$work/$1.meta.json" workj="$work/$1.work.json" rssj="$work/$1.rss.json"
  local out rc submit_url pid2=
  jq -n --arg name "$name" --argjson w "$f_waiters" '{name: $name, scenario: "f", workers: $w}' >"$meta"
  printf '{}' >"$workj"
  log "$name: starting jobnikd"
  if ! start_jobnikd "$name"; then
    jq -n '{ok: false, error: "jobnikd did not start"}' >"$workj"
    record "$name" "$meta" "$workj"
    return 0
  fi
  submit_url=$jd_url
  if [[ $across == true ]]; then
    local port2
    port2=$(free_port)
    "$jobnikd" serve --listen "127.0.0.1:$port2" --database-url "$pg_url" --database-schema "$jd_schema" \
      "${jobnikd_flags[@]}" >>"$work/logs/$name.second.jobnikd.log" 2>&1 &
    pid2=$!
    submit_url="http://127.0.0.1:$port2"
    "$loadgen" ready --url "$submit_url" --timeout-s 30 2>>"$jd_log" || fail "$name: the second jobnikd did not start"
  fi
  log "$name: $f_waiters waiters, $f_tasks tasks one at a time$([[ $across == true ]] && echo ', submitted through a second jobnikd')"
  rc=0
  out=$("$loadgen" longpoll --url "$jd_url" --submit-url "$submit_url" --workers "$f_waiters" --tasks "$f_tasks" \
    --wait-s 5 --timeout-s "$work_timeout") || rc=$?
  if [[ -n $out ]]; then jq '{work: .}' <<<"$out" >"$workj" || printf '{}' >"$workj"; fi
  ((rc == 0)) || fail "$name: long poll failed (loadgen exit $rc): $(jq -c '.work | {error, errors}' "$workj" 2>/dev/null)"
  if [[ -n $pid2 ]]; then kill -TERM "$pid2" 2>/dev/null; wait "$pid2" 2>/dev/null || true; fi
  stop_jobnikd "$name"
  [[ $jd_rss_kb =~ ^[0-9]+$ ]] || jd_rss_kb=0
  jq -n --argjson kb "$jd_rss_kb" '{peak_rss_kb: $kb, peak_rss_mb: ($kb / 1024 * 10 | round / 10)}' >"$rssj"
  record "$name" "$meta" "$workj" "$rssj"
  log "$name: submit -> claim p50/p99 $(jq -r '"\(.work.submit_to_claim_ms.p50) / \(.work.submit_to_claim_ms.p99) ms"' "$work/runs/$name.json")"
}

# run_siege NAME IDLE SLOWLORIS: a jobnikd with its default settings (only the database,
# schema and port given); jobnik-siege holds IDLE idle keep-alive and SLOWLORIS slowloris
# connections and probes for s_seconds; jobnikd's threads and RSS sampled every 0.5 s.
run_siege() {
  local name=$1 idle=$2 slow=$3 meta="$work/$1.meta.json" workj="$work/$1.work.json" rssj="$work/$1.rss.json"
  local samples="$work/$1.samples" out rc sampler jd0 pg0
  local -a saved_flags=("${jobnikd_flags[@]}")
  jq -n --arg name "$name" --argjson i "$idle" --argjson s "$slow" \
    '{name: $name, scenario: "s", idle: $i, slowloris: $s}' >"$meta"
  printf '{}' >"$workj"
  jobnikd_flags=()
  log "$name: starting jobnikd (default settings)"
  if ! start_jobnikd "$name"; then
    jobnikd_flags=("${saved_flags[@]}")
    record "$name" "$meta" "$workj"
    return 0
  fi
  jobnikd_flags=("${saved_flags[@]}")
  (while kill -0 "$jd_pid" 2>/dev/null; do
    awk '/^Threads:/ {t = $2} /^VmRSS:/ {r = $2} END {print t, r}' "/proc/$jd_pid/status" 2>/dev/null || true
    sleep 0.5
  done) >"$samples" &
  sampler=$!
  read -r jd0 pg0 < <(cpu_snapshot)
  log "$name: $idle idle + $slow slowloris connections, probing for ${s_seconds}s"
  rc=0
  out=$("$siege" --url "$jd_url" --idle "$idle" --slowloris "$slow" --seconds "$s_seconds" \
    --ramp-s "$( ((idle + slow > 0)) && echo 10 || echo 0)") || rc=$?
  if [[ -n $out ]]; then jq '{work: .}' <<<"$out" >"$workj" || printf '{}' >"$workj"; fi
  ((rc == 0)) || fail "$name: jobnik-siege failed (exit $rc)"
  cpu_json work "$jd0" "$pg0" >"$work/$name.cpu.json"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  stop_jobnikd "$name"
  [[ $jd_rss_kb =~ ^[0-9]+$ ]] || jd_rss_kb=0
  jq -n --argjson kb "$jd_rss_kb" --argjson threads "$(awk 'BEGIN {m = 0} $1 > m {m = $1} END {print m}' "$samples")" \
    '{peak_rss_kb: $kb, peak_rss_mb: ($kb / 1024 * 10 | round / 10), peak_threads: $threads}' >"$rssj"
  record "$name" "$meta" "$workj" "$rssj" "$work/$name.cpu.json"
  log "$name: p50/p99 fresh $(jq -r '"\(.work.fresh.p50)/\(.work.fresh.p99) ms, keep-alive \(.work.keep_alive.p50)/\(.work.keep_alive.p99) ms, errors \(.work.fresh.errors + .work.keep_alive.errors)"' "$work/runs/$name.json")"
}

# capped TOTAL W M: min(TOTAL, per_worker x W) (TOTAL when per_worker is 0), rounded
# down to a multiple of M, at least M.
capped() {
  local total=$1 w=$2 m=$3 n
  n=$total
  if ((per_worker > 0 && per_worker * w < n)); then n=$((per_worker * w)); fi
  n=$((n / m * m))
  if ((n < m)); then n=$m; fi
  echo "$n"
}

# ---------------------------------------------------------------- main

log "build $build, quick=$quick, scenarios: ${scenarios[*]}, workers: ${workers_list[*]}"
log "starting PostgreSQL (durable: fsync on) in $pgdir"
pg_url=$(PG_HARNESS_DURABLE=1 PG_HARNESS_SETTINGS="shared_preload_libraries=pg_stat_statements ${PG_HARNESS_SETTINGS:-}" \
  "$harness" start --owner "$$" "$pgdir")
pg_started=true
pg_version=$(psql_run -At -c 'SHOW server_version')
pgss=false
if psql_run -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null 2>&1; then
  pgss=true
else
  log "pg_stat_statements is not available: no SQL time and WAL per task"
fi
log "PostgreSQL $pg_version at $pg_url"

# The scenarios that compare two variants of the same work (d, e, i, l, p) run them in pairs
# on fresh schemas, and the ratio is the median of the pairs'. in_pair_order K SIDE A B
# runs `SIDE A K` then `SIDE B K` in odd pairs and B first in even ones (A B B A ...): a
# drift of the host's speed while the pairs run weighs on both variants alike, where a
# fixed order would hand it all to the second.
in_pair_order() {
  if (($1 % 2)); then "$2" "$3" "$1"; "$2" "$4" "$1"; else "$2" "$4" "$1"; "$2" "$3" "$1"; fi
}
# d_side fresh|history K: scenario d's run of pair K, b's work at W = 16 on a fresh schema or
# on top of the seeded history.
# shellcheck disable=SC2317  # called through in_pair_order
d_side() {
  local n=$((b_per_stage * b_types))
  [[ $1 == history ]] && seed_args=(--completed "$d_completed" --pending "$d_pending")
  run_work "d_$1_p$2" d "$d_workers" --tasks "$n" --stages 1 --type bench --types "$b_types" -- \
    --type bench --types "$b_types" --expect "$n"
  seed_args=()
}
# e_side none|delayed K: scenario e's run of pair K, without or with E_DELAYED waiting tasks.
# shellcheck disable=SC2317  # called through in_pair_order
e_side() {
  seed_type=bench-e seed_delayed=0
  [[ $1 == delayed ]] && seed_delayed=$e_delayed
  run_work "e_$1_p$2" e "$e_workers" --tasks "$e_tasks" --stages 1 --type bench-e -- \
    --type bench-e --expect "$e_tasks"
  seed_delayed= seed_type=
}
# i_side plain|keyed K: scenario i's run of pair K, without or with Idempotency-Keys.
# shellcheck disable=SC2317  # called through in_pair_order
i_side() {
  local keyed=()
  [[ $1 == keyed ]] && keyed=(--idempotent)
  run_work "i_$1_p$2" i null --tasks $((i_jobs * 10)) --stages 1 --type bench-i --types "$i_jobs" \
    ${keyed[@]+"${keyed[@]}"} --
}
# l_side none|limited K: scenario l's run of pair K, without or with the limit on its type.
# shellcheck disable=SC2317  # called through in_pair_order
l_side() {
  [[ $1 == limited ]] && limit_type=bench-l limit_max=$l_limit
  run_work "l_$1_p$2" l "$l_workers" --tasks "$l_tasks" --stages 1 --type bench-l -- \
    --type bench-l --expect "$l_tasks"
  limit_type= limit_max=
}
# j_side none|waiting K: scenario j's run of pair K on its seeded history, without or with
# J_WAITING PENDING jobs of another type submitted just before the work.
# shellcheck disable=SC2317  # called through in_pair_order
j_side() {
  seed_args=(--completed "$j_history" --pending 0 --tasks-per-stage 1)
  [[ $1 == waiting ]] && waiting_jobs=$j_waiting
  run_work "j_$1_p$2" j "$j_workers" --tasks "$j_tasks" --stages 1 --type bench-j -- \
    --type bench-j --expect "$j_tasks"
  waiting_jobs='' seed_args=()
}
# p_side none|pruning K: scenario p's run of pair K on its seeded history, without or with
# a prune of that history running alongside.
# shellcheck disable=SC2317  # called through in_pair_order
p_side() {
  seed_args=(--completed "$p_history" --pending 0 --tasks-per-stage "$p_per_job")
  [[ $1 == pruning ]] && prune_during=1h
  run_work "p_$1_p$2" p "$p_workers" --tasks "$p_tasks" --stages 1 --type bench-p -- \
    --type bench-p --expect "$p_tasks"
  prune_during= seed_args=()
}

# pgbench_beside NAME: pgbench's claim+done at 16 clients now (run-baseline.sh --claim16),
# for a run beside it; its pairs/s in $work/beside/NAME.json. A failure is recorded (the
# ratio is then missing), the benchmark goes on.
pgbench_beside() {
  mkdir -p "$work/beside"
  log "$1: pgbench claim+done at 16 clients, ${baseline_seconds}s"
  if ! BENCH_SECONDS=$baseline_seconds "$baseline" --claim16 "$pg_url" "$work/beside/$1.json" \
    >>"$work/logs/baseline.txt" 2>>"$work/logs/baseline.log"; then
    tail -n 20 "$work/logs/baseline.log" >&2 || true
    fail "$1: pgbench beside the run failed"
    rm -f "$work/beside/$1.json"
    return 0
  fi
  log "$1: $(jq -r '.claim_done_pairs_per_s["16"]' "$work/beside/$1.json") pairs/s"
}
# ab_run a|b NAME W: one run of scenario a or b with W workers.
ab_run() {
  local n
  if [[ $1 == a ]]; then
    n=$(capped "$a_tasks" "$3" 1)
    run_work "$2" a "$3" --tasks "$n" --stages 1 --type bench -- --type bench --expect "$n"
  else
    n=$(capped $((b_per_stage * b_types)) "$3" "$b_types")
    run_work "$2" b "$3" --tasks "$n" --stages 1 --type bench --types "$b_types" -- \
      --type bench --types "$b_types" --expect "$n"
  fi
}
# w16_side pgbench|jobnik K: pair K of a's or b's run at W = 16 ($w16_scenario); the runs
# are named a_w16, a_w16_p2, ... and the pgbench measurements a_p1, a_p2, ...
# shellcheck disable=SC2317  # called through in_pair_order
w16_side() {
  local s=$w16_scenario name
  if [[ $1 == pgbench ]]; then
    pgbench_beside "${s}_p$2"
    return 0
  fi
  name=${s}_w16
  (($2 > 1)) && name+=_p$2
  ab_run "$s" "$name" 16
}

baseline_json=$work/baseline.json
if [[ -n ${BENCH_BASELINE_JSON:-} ]]; then
  log "baseline: reusing $BENCH_BASELINE_JSON"
  cp -- "$BENCH_BASELINE_JSON" "$baseline_json"
elif [[ -x $baseline ]]; then
  log "baseline: pgbench, ${baseline_seconds}s per run"
  if ! BENCH_SECONDS=$baseline_seconds "$baseline" "$pg_url" "$baseline_json" >"$work/logs/baseline.txt" \
    2>"$work/logs/baseline.log"; then
    tail -n 20 "$work/logs/baseline.log" >&2 || true
    fail "baseline: $baseline failed"
    printf '{}' >"$baseline_json"
  fi
else
  fail "baseline: $baseline not found"
  printf '{}' >"$baseline_json"
fi

peer_json=$work/peer.json
printf '{}' >"$peer_json"
if [[ $peer == true ]]; then
  log "peer: graphile-worker, $peer_jobs no-op jobs at 16 workers, default and batched"
  if ! "$here/peer/run-peer.sh" "$pg_url" "$peer_json" "$peer_jobs" 16 2>>"$work/logs/peer.log"; then
    tail -n 20 "$work/logs/peer.log" >&2 || true
    fail "peer: bench/peer/run-peer.sh failed (see logs/peer.log)"
    [[ -s $peer_json ]] || printf '{}' >"$peer_json"
  fi
  log "peer: $(jq -r 'to_entries | map("\(.key) \(.value.jobs_per_s // "-") jobs/s") | join(", ")' "$peer_json")"
fi

for s in "${scenarios[@]}"; do
  case $s in
    a | b)
      for w in "${workers_list[@]}"; do
        if ((w == 16 && ab_pairs > 0)); then
          w16_scenario=$s
          for ((k = 1; k <= ab_pairs; k++)); do in_pair_order "$k" w16_side pgbench jobnik; done
        else
          ab_run "$s" "${s}_w$w" "$w"
        fi
      done
      ;;
    c)
      run_work c c null --tasks "$c_tasks" --stages 1 --type bench --timeout-s 600 --
      ;;
    i)
      for ((k = 1; k <= i_pairs; k++)); do in_pair_order "$k" i_side plain keyed; done
      ;;
    j)
      # The same work on the same history, without and with jobs waiting; J_PAIRS times.
      for ((k = 1; k <= j_pairs; k++)); do in_pair_order "$k" j_side none waiting; done
      ;;
    d)
      # b's work at W = 16 on fresh schemas without and with the history; D_PAIRS times.
      for ((k = 1; k <= d_pairs; k++)); do in_pair_order "$k" d_side fresh history; done
      ;;
    e)
      # The same work on fresh schemas without and with the waiting tasks; E_PAIRS times.
      for ((k = 1; k <= e_pairs; k++)); do in_pair_order "$k" e_side none delayed; done
      ;;
    l)
      # The same work on fresh schemas without and with a limit on its type; L_PAIRS times.
      for ((k = 1; k <= l_pairs; k++)); do in_pair_order "$k" l_side none limited; done
      ;;
    p)
      # The same work on a large finished history, without and with a prune of it running
      # alongside; P_PAIRS times.
      for ((k = 1; k <= p_pairs; k++)); do in_pair_order "$k" p_side none pruning; done
      ;;
    f)
      run_longpoll f_same false
      run_longpoll f_across true
      ;;
    s)
      run_siege s_baseline 0 0
      run_siege s_attack "$s_idle" "$s_slowloris"
      ;;
    g)
      ((ab_pairs > 0)) && pgbench_beside g
      n=$(( (g_tasks / b_types) * b_types ))
      run_work "g_one_w$g_workers" g "$g_workers" --tasks "$n" --stages 1 --type bench -- \
        --type bench --expect "$n" --batch "$g_batch"
      run_work "g_16_w$g_workers" g "$g_workers" --tasks "$n" --stages 1 --type bench --types "$b_types" -- \
        --type bench --types "$b_types" --expect "$n" --batch "$g_batch"
      # The size the peer's batching is compared at.
      run_work "g_one_b100_w$g_workers" g "$g_workers" --tasks "$n" --stages 1 --type bench -- \
        --type bench --expect "$n" --batch 100
      ;;
  esac
done

# ---------------------------------------------------------------- results

mkdir -p "$results"
rm -rf "$results/logs"
cp -r "$work/logs" "$results/logs"
failures_json=$(printf '%s\n' "${failures[@]+"${failures[@]}"}" | jq -R 'select(length > 0)' | jq -s .)
out=$results/latest.json
# The runs' records in a file, not an argument: with per-request figures they outgrow the
# kernel's limit on one argument (128 KiB).
jq -s 'map({(.name): .}) | add // {}' "$work"/runs/*.json >"$work/runs.json" 2>/dev/null || echo '{}' >"$work/runs.json"
# pgbench beside the runs (pgbench_beside): name -> claim+done pairs/s at 16 clients.
echo '{}' >"$work/beside.json"
for f in "$work"/beside/*.json; do
  [[ -e $f ]] || continue
  jq --arg k "$(basename "$f" .json)" --slurpfile v "$f" '. + {($k): $v[0].claim_done_pairs_per_s["16"]}' \
    "$work/beside.json" >"$work/beside.json.new" && mv "$work/beside.json.new" "$work/beside.json"
done
jq -n \
  --slurpfile baseline "$baseline_json" \
  --slurpfile peer "$peer_json" \
  --slurpfile runs_file "$work/runs.json" \
  --slurpfile beside "$work/beside.json" \
  --argjson failures "$failures_json" \
  --arg pg "$pg_version" --arg started "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson quick "$quick" \
  --argjson nproc "$(nproc)" --arg kernel "$(uname -r)" \
  --argjson cfg "$(jq -n --argjson a "$a_tasks" --argjson pw "$per_worker" --argjson b "$b_per_stage" \
    --argjson c "$c_tasks" --argjson dc "$d_completed" --argjson dp "$d_pending" --argjson dpp "$d_pairs" \
    --argjson e "$e_tasks" --argjson ed "$e_delayed" --argjson ep "$e_pairs" \
    --argjson g "$g_tasks" --argjson gb "$g_batch" --argjson ij "$i_jobs" --argjson ip "$i_pairs" \
    --argjson abp "$ab_pairs" --argjson jt "$j_tasks" --argjson jh "$j_history" --argjson jw "$j_waiting" \
    --argjson jp "$j_pairs" --argjson lt "$l_tasks" --argjson ll "$l_limit" --argjson lp "$l_pairs" \
    --argjson pt "$p_tasks" --argjson ph "$p_history" --argjson ppj "$p_per_job" --argjson pp "$p_pairs" \
    --argjson bs "$baseline_seconds" --argjson to "$work_timeout" --arg flags "${jobnikd_flags[*]}" \
    --argjson peer_on "$peer" --argjson pj "$peer_jobs" \
    --argjson si "$s_idle" --argjson ss "$s_slowloris" --argjson ssec "$s_seconds" \
    --arg workers "${workers_list[*]}" \
    '{a_tasks: $a, b_types: 16, b_tasks_per_stage: $b, tasks_per_worker_cap: $pw,
      c_tasks: $c, d_completed: $dc, d_pending: $dp, d_pairs: $dpp, d_workers: 16, e_tasks: $e, e_delayed: $ed, e_pairs: $ep, e_workers: 16,
      g_tasks: $g, g_batch: $gb, g_workers: 16, i_jobs: $ij, i_pairs: $ip, ab_pairs: $abp,
      j_tasks: $jt, j_history: $jh, j_waiting: $jw, j_pairs: $jp, j_workers: 16,
      l_tasks: $lt, l_limit: $ll, l_pairs: $lp, l_workers: 16,
      p_tasks: $pt, p_history: $ph, p_per_job: $ppj, p_pairs: $pp, p_workers: 16,
      baseline_seconds: $bs, peer: $peer_on, peer_jobs: $pj,
      s_idle: $si, s_slowloris: $ss, s_seconds: $ssec,
      work_timeout_s: $to, jobnikd_flags: $flags, workers: ($workers | split(" ") | map(tonumber))}')" \
  -f /dev/stdin >"$out" <<'JQ'
$runs_file[0] as $runs |
def r3: if . == null then null else . * 1000 | round / 1000 end;
def div($a; $b): if $a == null or $b == null or $b == 0 then null else ($a / $b | r3) end;
def tps($name): $runs[$name].work.tasks_per_s;
def median: map(select(. != null)) | sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
($beside[0] // {}) as $bs
# a's or b's runs at W = 16 paired with pgbench beside them (w16_side): [{k, run}]
| def w16_runs($s): [range(1; $cfg.ab_pairs + 1) | {k: ., run: (if . == 1 then "\($s)_w16" else "\($s)_w16_p\(.)" end)}];
  def w16_pairs($s): w16_runs($s) | map(div(tps(.run); $bs["\($s)_p\(.k)"]));
  def w16_p99($s): if $cfg.ab_pairs > 0 then w16_runs($s) | map($runs[.run].work.dequeue_ms.p99) | median
                   else $runs["\($s)_w16"].work.dequeue_ms.p99 end;
def target($name; $value; $op; $threshold; $unit):
  {name: $name, value: $value, op: $op, threshold: $threshold, unit: $unit,
   met: (if $value == null then null
         elif $op == ">=" then $value >= $threshold
         else $value < $threshold end)};
($baseline[0] // {}) as $b
| ($cfg.workers | map(tostring)) as $ws
# g's pgbench: measured just before its runs, else the baseline at the start
| ($bs.g // $b.claim_done_pairs_per_s["16"]) as $g_base
| {
    # At W = 16 with AB_PAIRS > 0: the median of the pairs' ratios, each to pgbench beside it.
    one_stage_vs_pgbench: ($ws | map({(.): (if . == "16" and $cfg.ab_pairs > 0 then w16_pairs("a") | median
                                            else div(tps("a_w" + .); $b.claim_done_pairs_per_s[.]) end)}) | add // {}),
    one_stage_pairs_16: w16_pairs("a"),
    sixteen_stages_vs_pgbench_16types: {"16": div(tps("b_w16"); $b.claim_done_16types_pairs_per_s)},
    sixteen_stages_vs_pgbench_one_type: ($ws | map({(.): (if . == "16" and $cfg.ab_pairs > 0 then w16_pairs("b") | median
                                                         else div(tps("b_w" + .); $b.claim_done_pairs_per_s[.]) end)}) | add // {}),
    sixteen_stages_pairs_16: w16_pairs("b"),
    large_history_pairs: ([range(1; $cfg.d_pairs + 1) | tostring]
      | map(div(tps("d_history_p" + .); tps("d_fresh_p" + .))) | map(select(. != null))),
    large_history_vs_fresh: ([range(1; $cfg.d_pairs + 1) | tostring]
      | map(div(tps("d_history_p" + .); tps("d_fresh_p" + .))) | map(select(. != null)) | sort
      | if length == 0 then null else .[(length - 1) / 2 | floor] end),
    delayed_retries_pairs: ([range(1; $cfg.e_pairs + 1) | tostring]
      | map(div(tps("e_delayed_p" + .); tps("e_none_p" + .))) | map(select(. != null))),
    delayed_retries_vs_none: ([range(1; $cfg.e_pairs + 1) | tostring]
      | map(div(tps("e_delayed_p" + .); tps("e_none_p" + .))) | map(select(. != null)) | sort
      | if length == 0 then null else .[(length - 1) / 2 | floor] end),
    submission_vs_bulk_insert: div($runs.c.submit.tasks_per_s; $b.bulk_insert_rows_per_s),
    batch_one_stage_vs_pgbench: div(tps("g_one_w16"); $g_base),
    batch_16_stages_vs_pgbench: div(tps("g_16_w16"); $g_base),
    batch_one_stage_vs_pgbench_claim10: div(tps("g_one_w16"); $b.claim10_done_tasks_per_s),
    batch_16_stages_vs_pgbench_claim10: div(tps("g_16_w16"); $b.claim10_done_tasks_per_s),
    idempotent_submission_pairs: ([range(1; $cfg.i_pairs + 1) | tostring]
      | map(div($runs["i_keyed_p" + .].submit.wall_s; $runs["i_plain_p" + .].submit.wall_s)) | map(select(. != null))),
    idempotent_submission_time: ([range(1; $cfg.i_pairs + 1) | tostring]
      | map(div($runs["i_keyed_p" + .].submit.wall_s; $runs["i_plain_p" + .].submit.wall_s)) | map(select(. != null))
      | sort | if length == 0 then null else .[(length - 1) / 2 | floor] end),
    limited_pairs: ([range(1; $cfg.l_pairs + 1) | tostring]
      | map(div(tps("l_limited_p" + .); tps("l_none_p" + .))) | map(select(. != null))),
    waiting_jobs_pairs: ([range(1; $cfg.j_pairs + 1) | tostring]
      | map(div(tps("j_waiting_p" + .); tps("j_none_p" + .))) | map(select(. != null))),
    waiting_jobs_vs_none: ([range(1; $cfg.j_pairs + 1) | tostring]
      | map(div(tps("j_waiting_p" + .); tps("j_none_p" + .))) | median),
    batch100_one_stage_vs_graphile_batched: div(tps("g_one_b100_w16"); $peer[0].graphile_batched.jobs_per_s),
    batch10_one_stage_vs_graphile_batched: div(tps("g_one_w16"); $peer[0].graphile_batched.jobs_per_s),
    one_stage_vs_graphile_default: div(tps("a_w16"); $peer[0].graphile_default.jobs_per_s),
    limited_vs_unlimited: ([range(1; $cfg.l_pairs + 1) | tostring]
      | map(div(tps("l_limited_p" + .); tps("l_none_p" + .))) | map(select(. != null)) | sort
      | if length == 0 then null else .[(length - 1) / 2 | floor] end),
    pruning_pairs: ([range(1; $cfg.p_pairs + 1) | tostring]
      | map(div(tps("p_pruning_p" + .); tps("p_none_p" + .))) | map(select(. != null))),
    pruning_vs_none: ([range(1; $cfg.p_pairs + 1) | tostring]
      | map(div(tps("p_pruning_p" + .); tps("p_none_p" + .))) | map(select(. != null)) | sort
      | if length == 0 then null else .[(length - 1) / 2 | floor] end),
    pruning_p99_pairs: ([range(1; $cfg.p_pairs + 1) | tostring]
      | map(div($runs["p_pruning_p" + .].work.dequeue_ms.p99; $runs["p_none_p" + .].work.dequeue_ms.p99))
      | map(select(. != null))),
    pruning_p99_vs_none: ([range(1; $cfg.p_pairs + 1) | tostring]
      | map(div($runs["p_pruning_p" + .].work.dequeue_ms.p99; $runs["p_none_p" + .].work.dequeue_ms.p99))
      | map(select(. != null)) | sort | if length == 0 then null else .[(length - 1) / 2 | floor] end)
  } as $ratios
| [ target("e2e/pgbench claim+done at 16, 16 stages, W=16"; $ratios.sixteen_stages_vs_pgbench_one_type["16"]; ">="; 0.5; "ratio"),
    target("e2e/pgbench claim+done at 16, one stage, W=16"; $ratios.one_stage_vs_pgbench["16"]; ">="; 0.35; "ratio"),
    target("large history / fresh, 16 stages, W=16"; $ratios.large_history_vs_fresh; ">="; 0.8; "ratio"),
    target("100k delayed retries / none, one type, W=16"; $ratios.delayed_retries_vs_none; ">="; 0.9; "ratio"),
    target("\($cfg.j_waiting) jobs waiting / none, one type, W=16"; $ratios.waiting_jobs_vs_none; ">="; 0.9; "ratio"),
    target("batch(\($cfg.g_batch)) e2e/pgbench claim+done at 16, one stage, W=16"; $ratios.batch_one_stage_vs_pgbench; ">="; 1.0; "ratio"),
    target("batch(\($cfg.g_batch)) e2e/pgbench claim+done at 16, 16 stages, W=16"; $ratios.batch_16_stages_vs_pgbench; ">="; 1.0; "ratio"),
    target("submission throughput, one job of C tasks"; $runs.c.submit.tasks_per_s; ">="; 20000; "tasks/s"),
    target("p99 dequeue, one stage, W=16"; w16_p99("a"); "<"; 20; "ms"),
    target("p99 long poll submit -> claim, 64 waiters"; $runs.f_same.work.submit_to_claim_ms.p99; "<"; 20; "ms"),
    target("p99 long poll submit -> claim, 64 waiters, second jobnikd"; $runs.f_across.work.submit_to_claim_ms.p99; "<"; 20; "ms"),
    target("p99 dequeue, 16 stages, W=16"; w16_p99("b"); "<"; 20; "ms"),
    target("peak RSS, one stage, W=64"; $runs.a_w64.peak_rss_mb; "<"; 100; "MB"),
    target("peak RSS, 16 stages, W=64"; $runs.b_w64.peak_rss_mb; "<"; 100; "MB"),
    target("peak RSS, \($cfg.c_tasks / 1000)k-task submission"; $runs.c.peak_rss_mb; "<"; 64; "MB"),
    target("submission time with / without Idempotency-Key, small jobs"; $ratios.idempotent_submission_time; "<"; 1.1; "ratio"),
    target("batch(100) one stage, W=16 / graphile-worker batched"; $ratios.batch100_one_stage_vs_graphile_batched; ">="; 0.5; "ratio"),
    target("limited (\($cfg.l_limit)) / unlimited claim+done, one type, W=16"; $ratios.limited_vs_unlimited; ">="; 0.8; "ratio"),
    target("p99 dequeue while pruning / not, one type, W=16"; $ratios.pruning_p99_vs_none; "<"; 2.0; "ratio"),
    target("p99 request, fresh connections, \($cfg.s_idle) idle + \($cfg.s_slowloris) slowloris held"; $runs.s_attack.work.fresh.p99; "<"; 50; "ms"),
    target("p99 request, keep-alive, \($cfg.s_idle) idle + \($cfg.s_slowloris) slowloris held"; $runs.s_attack.work.keep_alive.p99; "<"; 50; "ms"),
    target("peak RSS, \($cfg.s_idle) idle + \($cfg.s_slowloris) slowloris held"; $runs.s_attack.peak_rss_mb; "<"; 128; "MB")
  ] as $targets
| ($runs | map_values(. + (if .work.completed > 0 and .cpu_work then
      {cpu_ms_per_task: {jobnikd: (.cpu_work.jobnikd_s * 1000 / .work.completed | r3),
                         postgres: (.cpu_work.postgres_s * 1000 / .work.completed | r3),
                         loadgen: ((.work.loadgen_cpu_s // 0) * 1000 / .work.completed | r3)}}
      + (if .sql_work then
           {sql_per_task: {exec_us: (.sql_work.exec_ms * 1000 / .work.completed | round),
                           wal_bytes: (.sql_work.wal_bytes / .work.completed | round),
                           statements: (.sql_work.calls / .work.completed | r3)}}
         else {} end)
    else {} end))) as $runs
| {
    generated_at: $started, quick: $quick, ok: ($failures | length == 0), failures: $failures,
    host: {nproc: $nproc, kernel: $kernel, postgres: $pg},
    config: $cfg,
    baseline: ($b + {beside: $bs}),
    peer: ($peer[0] // {}),
    runs: $runs,
    ratios: $ratios,
    targets: $targets,
    targets_met: ($targets | map(select(.met == true)) | length),
    targets_missed: ($targets | map(select(.met == false)) | length)
  }
JQ

# The table.
jq -r '
  def f($x): if $x == null then "-" else ($x | tostring) end;
  def pad($n): tostring | if length >= $n then . else . + (" " * ($n - length)) end;
  def lpad($n): tostring | if length >= $n then . else (" " * ($n - length)) + . end;
  def row($r; $lbl; $base; $ratio):
    [($lbl | pad(26)), (f($r.workers) | lpad(4)), (f($r.work.completed // $r.submit.tasks) | lpad(8)),
     (f($r.work.tasks_per_s // $r.submit.tasks_per_s) | lpad(10)), (f($base) | lpad(10)), (f($ratio) | lpad(6)),
     ((f($r.work.dequeue_ms.p50) + "/" + f($r.work.dequeue_ms.p99)) | lpad(14)),
     ((f($r.work.complete_ms.p50) + "/" + f($r.work.complete_ms.p99)) | lpad(14)),
     (f($r.work.conflicts_409) | lpad(4)), (f($r.work.errors) | lpad(4)), (f($r.peak_rss_mb) | lpad(7))]
    + (if ($r.work.ok // $r.submit.ok) == false then ["FAIL"] else [] end) | join(" ");
  . as $all
  # a run of a or b: at W = 16 with pgbench beside it, that pgbench and the ratio of the pair
  | def w16_row($s; $lbl; $ratios; $pairs):
      (if .key == "\($s)_w16" then 1 elif (.key | startswith("\($s)_w16_p")) then (.key | split("_p") | last | tonumber)
       else null end) as $k
      | if $k != null and $all.config.ab_pairs > 0 then row(.value; $lbl; $all.baseline.beside["\($s)_p\($k)"]; $pairs[$k - 1])
        else row(.value; $lbl; $all.baseline.claim_done_pairs_per_s[.value.workers | tostring]; $ratios[.value.workers | tostring]) end;
  "",
    "Jobnik end-to-end benchmark\(if .quick then " (BENCH_QUICK: small sizes)" else "" end), \(.generated_at), \(.host.nproc) CPUs, PostgreSQL \(.host.postgres) (fsync on)",
    "",
    "pgbench baseline: claim+done pairs/s 1/4/16/64 clients: \(f(.baseline.claim_done_pairs_per_s["1"]))/\(f(.baseline.claim_done_pairs_per_s["4"]))/\(f(.baseline.claim_done_pairs_per_s["16"]))/\(f(.baseline.claim_done_pairs_per_s["64"])); 16 types @16: \(f(.baseline.claim_done_16types_pairs_per_s)); bulk insert rows/s: \(f(.baseline.bulk_insert_rows_per_s))",
    "",
    ([("scenario" | pad(26)), ("W" | lpad(4)), ("tasks" | lpad(8)), ("tasks/s" | lpad(10)), ("pgbench" | lpad(10)),
      ("ratio" | lpad(6)), ("deq p50/p99ms" | lpad(14)), ("done p50/p99ms" | lpad(14)), ("409" | lpad(4)),
      ("err" | lpad(4)), ("RSS MB" | lpad(7))] | join(" ")),
    (.runs | to_entries | map(select(.key | startswith("a_"))) | sort_by(.value.workers, .key) | .[]
      | w16_row("a"; "a  one stage"; $all.ratios.one_stage_vs_pgbench; $all.ratios.one_stage_pairs_16)),
    (.runs | to_entries | map(select(.key | startswith("b_"))) | sort_by(.value.workers, .key) | .[]
      | w16_row("b"; "b  16 stages"; $all.ratios.sixteen_stages_vs_pgbench_one_type; $all.ratios.sixteen_stages_pairs_16)),
    (if .config.ab_pairs > 0 and (.runs.a_w16 or .runs.b_w16) then "   (a and b at 16 workers: \(.config.ab_pairs) run(s) each, with pgbench claim+done at 16 clients measured beside each; targets take the median ratio: a \(f(.ratios.one_stage_vs_pgbench["16"])), b \(f(.ratios.sixteen_stages_vs_pgbench_one_type["16"])))" else empty end),
    (if .runs.b_w16 then "   (b at 16 workers vs the pgbench 16-type claim+done at 16 clients, \(f(.baseline.claim_done_16types_pairs_per_s)) pairs/s: \(f(.ratios.sixteen_stages_vs_pgbench_16types["16"])))" else empty end),
    (if .runs.c then row(.runs.c; "c  submit one job"; .baseline.bulk_insert_rows_per_s; .ratios.submission_vs_bulk_insert) else empty end),
    (.runs | to_entries | map(select(.key | startswith("d_"))) | sort_by((.key | split("_p")[1] | tonumber), (.key | startswith("d_history"))) | .[]
      | if (.key | startswith("d_fresh")) then row(.value; "d  16 stages, fresh"; null; null)
        else row(.value; "d  16 stages + history"; $all.runs["d_fresh_p" + (.key | split("_p")[1])].work.tasks_per_s;
                 $all.ratios.large_history_pairs[(.key | split("_p")[1] | tonumber) - 1]) end),
    (if .runs.d_history_p1.seed then "   (d: seeded \(.runs.d_history_p1.seed.completed_tasks) COMPLETED + \(.runs.d_history_p1.seed.pending_tasks) PENDING tasks in \(.runs.d_history_p1.seed.wall_s) s; ratio = history / fresh per pair, median \(f(.ratios.large_history_vs_fresh)))" else empty end),
    (.runs | to_entries | map(select(.key | startswith("e_"))) | sort_by((.key | split("_p")[1] | tonumber), (.key | startswith("e_delayed"))) | .[]
      | if (.key | startswith("e_none")) then row(.value; "e  one type, none waiting"; null; null)
        else row(.value; "e  one type, delayed ones"; $all.runs["e_none_p" + (.key | split("_p")[1])].work.tasks_per_s;
                 $all.ratios.delayed_retries_pairs[(.key | split("_p")[1] | tonumber) - 1]) end),
    (if .runs.e_delayed_p1.seed then "   (e: \(.runs.e_delayed_p1.seed.delayed_tasks) delayed RETRIED tasks of the same type seeded in \(.runs.e_delayed_p1.seed.wall_s) s; ratio = waiting / none per pair, median \(f(.ratios.delayed_retries_vs_none)))" else empty end),
    (.runs | to_entries | map(select(.key | startswith("j_"))) | sort_by((.key | split("_p") | last | tonumber), (.key | startswith("j_waiting"))) | .[]
      | if (.key | startswith("j_none")) then row(.value; "j  history, none waiting"; null; null)
        else row(.value; "j  history, jobs waiting"; $all.runs["j_none_p" + (.key | split("_p") | last)].work.tasks_per_s;
                 $all.ratios.waiting_jobs_pairs[(.key | split("_p") | last | tonumber) - 1]) end),
    (if .runs.j_waiting_p1.seed then "   (j: \(.runs.j_waiting_p1.seed.completed_tasks) COMPLETED jobs seeded in \(.runs.j_waiting_p1.seed.wall_s) s, then \(.runs.j_waiting_p1.seed.waiting_jobs) PENDING jobs of another type submitted in \(.runs.j_waiting_p1.seed.waiting_wall_s) s; ratio = waiting / none per pair, median \(f(.ratios.waiting_jobs_vs_none)))" else empty end),
    (.runs | to_entries | map(select(.key | startswith("f_"))) | .[]
      | "f  long poll \(if .value.work.across_instances then "(2nd jobnikd)" else "(same)" end | pad(13)) \(f(.value.workers) | lpad(4)) \(f(.value.work.tasks) | lpad(8))   submit -> claim p50/p99 \(f(.value.work.submit_to_claim_ms.p50))/\(f(.value.work.submit_to_claim_ms.p99)) ms\(if .value.work.ok == false then " FAIL" else "" end)"),
    (if .runs.g_one_w16 then row(.runs.g_one_w16; "g  batch, one stage"; $all.baseline.beside.g // $all.baseline.claim_done_pairs_per_s["16"]; $all.ratios.batch_one_stage_vs_pgbench) else empty end),
    (if .runs.g_16_w16 then row(.runs.g_16_w16; "g  batch, 16 stages"; $all.baseline.beside.g // $all.baseline.claim_done_pairs_per_s["16"]; $all.ratios.batch_16_stages_vs_pgbench) else empty end),
    (if .runs.g_one_b100_w16 then row(.runs.g_one_b100_w16; "g  batch(100), one stage"; $all.peer.graphile_batched.jobs_per_s; $all.ratios.batch100_one_stage_vs_graphile_batched) else empty end),
    (if .peer.graphile_default then "   (peer graphile-worker \(.peer.graphile_default.version), \(.peer.graphile_default.jobs) no-op jobs at 16: default \(f(.peer.graphile_default.jobs_per_s)) jobs/s, batched \(f(.peer.graphile_batched.jobs_per_s)) jobs/s; g batch(100) ratio is to the batched peer; a at W=16 / default peer \(f(.ratios.one_stage_vs_graphile_default)))" else empty end),
    (.runs | to_entries | map(select(.key | startswith("i_"))) | sort_by((.key | split("_p") | last | tonumber), (.key | startswith("i_keyed"))) | .[]
      | "i  \(if (.key | startswith("i_keyed")) then "keyed" else "plain" end) \(.value.submit.jobs) jobs" + "   submit \(f(.value.submit.tasks_per_s)) tasks/s, \(f(.value.submit.wall_s)) s, request p50/p99 \(f(.value.submit.request_ms.p50))/\(f(.value.submit.request_ms.p99)) ms"),
    (if .runs.i_keyed_p1 then "   (i: time with an Idempotency-Key per submission / without, per pair \(.ratios.idempotent_submission_pairs | map(f(.)) | join(", ")), median \(f(.ratios.idempotent_submission_time)))" else empty end),
    (if .runs.g_one_w16 or .runs.g_16_w16 then "   (g: up to \(.config.g_batch) tasks per claim and per report; ratio vs pgbench single claim+done at 16 clients; vs pgbench claiming 10 rows per transaction, \(f(.baseline.claim10_done_tasks_per_s)) tasks/s: one stage \(f(.ratios.batch_one_stage_vs_pgbench_claim10)), 16 stages \(f(.ratios.batch_16_stages_vs_pgbench_claim10)); deq/done latencies are per request)" else empty end),
    (.runs | to_entries | map(select(.key | startswith("p_"))) | sort_by((.key | split("_p") | last | tonumber), (.key | startswith("p_pruning"))) | .[]
      | if (.key | startswith("p_none")) then row(.value; "p  history, no prune"; null; null)
        else row(.value; "p  history, pruning"; $all.runs["p_none_p" + (.key | split("_p") | last)].work.tasks_per_s;
                 $all.ratios.pruning_pairs[(.key | split("_p") | last | tonumber) - 1]) end),
    (.runs | to_entries | map(select(.value.prune.tasks)) | .[]
      | "   (\(.key): pruned \(.value.prune.jobs) jobs, \(.value.prune.tasks) tasks, \(.value.prune.events) events in \(.value.prune.wall_s) s, \(f(.value.prune.tasks_per_s)) tasks/s; task table/hot indexes/all indexes MB before \(.value.prune.sizes.before.table_mb)/\(.value.prune.sizes.before.hot_indexes_mb)/\(.value.prune.sizes.before.indexes_mb), after \(.value.prune.sizes.pruned.table_mb)/\(.value.prune.sizes.pruned.hot_indexes_mb)/\(.value.prune.sizes.pruned.indexes_mb) with \(.value.prune.sizes.pruned.dead) dead rows, after VACUUM (\(.value.prune.vacuum_s) s) \(.value.prune.sizes.vacuumed.dead) dead)"),
    (.runs | to_entries | map(select(.value.scenario == "s")) | sort_by(.value.idle) | .[]
      | "s  \(.value.idle) idle + \(.value.slowloris) slowloris" + "   fresh p50/p99/max \(f(.value.work.fresh.p50))/\(f(.value.work.fresh.p99))/\(f(.value.work.fresh.max)) ms, keep-alive \(f(.value.work.keep_alive.p50))/\(f(.value.work.keep_alive.p99))/\(f(.value.work.keep_alive.max)) ms, errors \(f((.value.work.fresh.errors // 0) + (.value.work.keep_alive.errors // 0))), RSS \(f(.value.peak_rss_mb)) MB, threads \(f(.value.peak_threads)), jobnikd CPU \(f(.value.cpu_work.jobnikd_s)) s, closed by jobnikd idle/slowloris \(f(.value.work.closed_by_server.idle))/\(f(.value.work.closed_by_server.slowloris))"),
    (if .runs.p_pruning_p1 then "   (p: ratios per pair: tasks/s \(.ratios.pruning_pairs | map(f(.)) | join(", ")), p99 dequeue \(.ratios.pruning_p99_pairs | map(f(.)) | join(", ")))" else empty end),
    "",
    "CPU per completed task (ms): jobnikd / PostgreSQL / loadgen; SQL per task: executor time, WAL, statements",
    (.runs | to_entries | map(select(.value.cpu_ms_per_task)) | sort_by(.value.scenario, .value.workers) | .[]
      | "  \(.key | pad(8)) \(.value.cpu_ms_per_task.jobnikd) / \(.value.cpu_ms_per_task.postgres) / \(.value.cpu_ms_per_task.loadgen)"
        + (if .value.sql_per_task then "; \(.value.sql_per_task.exec_us) us, \(.value.sql_per_task.wal_bytes) B, \(.value.sql_per_task.statements)" else "" end)),
    (if .runs.c.cpu_submit then "  c        submission: jobnikd \(.runs.c.cpu_submit.jobnikd_s) s, PostgreSQL \(.runs.c.cpu_submit.postgres_s) s CPU for \(.runs.c.submit.tasks) tasks (\(.runs.c.submit.body_bytes) bytes)" else empty end),
    "",
    "Targets (informational):",
    (.targets[] | "  [\(if .met == true then "met" elif .met == false then "MISSED" else "n/a" end)]"
      + (" " * (if .met == true then 4 elif .met == false then 1 else 4 end))
      + "\(.name): \(f(.value)) \(.unit) (target \(.op) \(.threshold))"),
    "",
    (if .ok then "OK: no errors, no lost or duplicated tasks." else "FAILED:", (.failures[] | "  " + .) end),
    "Results: \($out)"
' --arg out "$out" "$out"

if ((${#failures[@]})); then exit 1; fi
exit 0
