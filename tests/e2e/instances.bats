#!/usr/bin/env bats
# Several jobnikd on one database: concurrent migration, racing workers across
# instances, sweeper leadership and its hand-over, and `jobnikd sweep --once`.
# Each test works in a fresh schema of the shared test cluster.

load helpers

# The race_worker test tool (tests/tools); CTest builds it next to the programs.
: "${JOBNIK_RACE_WORKER:=$JOBNIK_BIN_DIR/../tests/tools/race_worker}"

LEADER_LINE="this instance is now the sweeping leader"
STALE_LINE="was IN_PROGRESS too long"

setup() {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  declare -gA PIDS=() URLS=()
}

teardown() {
  local name pid
  for name in "${!PIDS[@]}"; do
    pid=${PIDS[$name]}
    [[ -n "$pid" ]] || continue
    { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
  done
  # On failure, show the end of every daemon's log.
  if [[ "${BATS_TEST_COMPLETED:-}" != 1 ]]; then
    for name in "${!PIDS[@]}"; do
      echo "---- tail of $name.log" >&2
      tail -n 40 "$BATS_TEST_TMPDIR/$name.log" >&2 || true
    done
  fi
  if [[ -n "${URL:-}" && -n "${SCHEMA:-}" ]]; then
    psql "$URL" -qAtc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  fi
}

# sql QUERY: runs QUERY against the test database (unaligned, tuples only).
sql() { psql "$URL" -X -v ON_ERROR_STOP=1 -qAtc "$1"; }


log_of() { echo "$BATS_TEST_TMPDIR/$1.log"; }

# launch_jobnikd NAME ARGS...: starts jobnikd NAME in the background on this test's
# schema without waiting (its log: $(log_of NAME)); ARGS come after the defaults, so a
# later --sweeper true wins. With GATE set, it starts only once the file $GATE exists.
launch_jobnikd() {
  local name=$1
  shift
  local args=(--listen 127.0.0.1:0 --sweeper false --database-url "$URL" --database-schema "$SCHEMA" "$@")
  if [[ -n "${GATE:-}" ]]; then
    (
      while [[ ! -e "$GATE" ]]; do sleep 0.005; done
      exec "$JOBNIKD" "${args[@]}"
    ) >"$(log_of "$name")" 2>&1 3>&- &
  else
    "$JOBNIKD" "${args[@]}" >"$(log_of "$name")" 2>&1 3>&- &
  fi
  PIDS[$name]=$!
}

# wait_ready NAME: waits (bounded) until jobnikd NAME listens and is ready; sets URLS[NAME].
wait_ready() {
  URLS[$1]=$(wait_for_jobnikd "$(log_of "$1")" "${PIDS[$1]}")
}

# start_instance NAME ARGS...: launch_jobnikd and wait_ready.
start_instance() {
  launch_jobnikd "$@"
  wait_ready "$1"
}

# on NAME: points the api helper at instance NAME.
on() { JOBNIK_URL=${URLS[$1]}; }

# post_file PATH FILE: POSTs the JSON in FILE (too large for an argument) to the
# current instance; prints the body, status via last_status.
post_file() {
  local out status
  out=$(mktemp)
  status=$(curl -s -o "$out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "@$2" "$JOBNIK_URL$1")
  echo "$status" >"$BATS_TEST_TMPDIR/last_status"
  cat "$out"
  rm -f "$out"
}

# new_job TYPE MAX_ATTEMPTS TASKS: creates a one-stage job on the current instance;
# prints the job JSON (with its stage).
new_job() {
  local body="$BATS_TEST_TMPDIR/job-$1.json"
  jq -nc --arg t "$1" --argjson m "$2" --argjson n "$3" \
    '{name:"e2e",data:{},stages:[{type:$t,data:{},tasks:[range($n)|{data:{i:.},maxAttempts:$m}]}]}' >"$body"
  post_file /v1/jobs "$body"
}

task_status() { api GET "/v1/tasks/$1" | jq -r .status; }
status_is_not() { [[ "$(task_status "$1")" != "$2" ]]; }
log_has() { grep -qF -- "$2" "$(log_of "$1")"; }

# The leader among the given instances: prints its name when exactly one has logged
# that it leads; fails otherwise.
single_leader() {
  local name leaders=()
  for name in "$@"; do
    log_has "$name" "$LEADER_LINE" && leaders+=("$name")
  done
  [[ ${#leaders[@]} -eq 1 ]] || return 1
  echo "${leaders[0]}"
}

backdate() { sql "UPDATE $SCHEMA.task SET start_time = now() - interval '1 hour' WHERE id = '$1'"; }

@test "three instances started at the same moment migrate safely and serve" {
  GATE="$BATS_TEST_TMPDIR/go"
  for name in a b c; do launch_jobnikd "$name" serve --migrate; done
  touch "$GATE"
  for name in a b c; do wait_ready "$name"; done
  for name in a b c; do kill -0 "${PIDS[$name]}"; done

  # Exactly one row per migration, each applied by exactly one instance.
  migrations=("$BATS_TEST_DIRNAME"/../../schema/[0-9]*.sql)
  n=${#migrations[@]}
  [[ $n -ge 1 ]]
  last=$(basename "${migrations[-1]}")
  last=$((10#${last%%_*}))  # the versions need not be contiguous (one may be merged later)
  run sql "SELECT count(*), count(DISTINCT version), min(version), max(version) FROM $SCHEMA.schema_migrations"
  assert_success
  assert_output "$n|$n|1|$last"
  for f in "${migrations[@]}"; do
    m=$(basename "$f")
    assert_equal "$(sql "SELECT count(*) FROM $SCHEMA.schema_migrations WHERE name = '$m'")" 1
    run grep -lF "migration applied: $m" "$(log_of a)" "$(log_of b)" "$(log_of c)"
    assert_success
    assert_equal "${#lines[@]}" 1
  done

  # Every instance serves the same data.
  for name in a b c; do
    on "$name"
    api POST /v1/jobs "{\"name\":\"from-$name\",\"data\":{}}" >/dev/null
    assert_equal "$(last_status)" 201
  done
  for name in a b c; do
    on "$name"
    jobs=$(api GET /v1/jobs)
    assert_equal "$(last_status)" 200
    assert_equal "$(jq -c '[.[].name] | sort' <<<"$jobs")" '["from-a","from-b","from-c"]'
  done
}

# race TASKS MAX_ATTEMPTS FAIL_EVERY: one job of TASKS tasks created on instance a, then
# one race_worker (8 threads) per instance; checks every task was claimed exactly once
# (or exactly twice when a worker failed it once) and the job completed.
race() {
  local n=$1 max=$2 every=$3 type=race name i
  [[ -x "$JOBNIK_RACE_WORKER" ]] || fail "race_worker not built: $JOBNIK_RACE_WORKER"
  for name in a b c; do launch_jobnikd "$name" --access-log false serve --migrate; done
  for name in a b c; do wait_ready "$name"; done

  on a
  job=$(new_job "$type" "$max" "$n")
  assert_equal "$(last_status)" 201
  job_id=$(jq -r .id <<<"$job")
  stage_id=$(jq -r '.stages[0].id' <<<"$job")
  assert_equal "$(jq -r '.stages[0].summary.total' <<<"$job")" "$n"

  local pids=() names=(a b c)
  for name in "${names[@]}"; do
    timeout 300 "$JOBNIK_RACE_WORKER" --url "${URLS[$name]}" --type "$type" --threads 8 --fail-every "$every" \
      --claims "$BATS_TEST_TMPDIR/claims.$name" >"$BATS_TEST_TMPDIR/worker.$name.json" \
      2>"$BATS_TEST_TMPDIR/worker.$name.err" 3>&- &
    pids+=($!)
  done
  local rc
  for i in 0 1 2; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    name=${names[$i]}
    [[ $rc -eq 0 ]] || {
      cat "$BATS_TEST_TMPDIR/worker.$name.json" "$BATS_TEST_TMPDIR/worker.$name.err" >&2
      fail "race_worker on instance $name exited $rc"
    }
  done
  cat "$BATS_TEST_TMPDIR"/worker.*.json

  # The workers' own counts.
  totals=$(jq -sc '{claims: (map(.claims)|add), completed: (map(.completed)|add),
                    failed: (map(.failed_reports)|add), conflicts: (map(.conflicts)|add),
                    errors: (map(.errors)|add), idle: (map(select(.claims == 0))|length)}' \
    "$BATS_TEST_TMPDIR"/worker.{a,b,c}.json)
  echo "totals: $totals"
  failed=$(jq .failed <<<"$totals")
  assert_equal "$(jq .completed <<<"$totals")" "$n"
  assert_equal "$(jq .errors <<<"$totals")" 0
  assert_equal "$(jq .conflicts <<<"$totals")" 0
  assert_equal "$(jq .claims <<<"$totals")" $((n + failed))
  assert_equal "$(jq .idle <<<"$totals")" 0  # every instance took part
  if [[ $every -gt 0 ]]; then
    [[ $failed -gt 0 ]] || fail "no task was failed by the workers"
  else
    assert_equal "$failed" 0
  fi

  # The claims: one line "ID ATTEMPT" each.
  cat "$BATS_TEST_TMPDIR"/claims.{a,b,c} >"$BATS_TEST_TMPDIR/claims"
  assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/claims")" $((n + failed))
  # No (task, attempt) twice.
  assert_equal "$(sort "$BATS_TEST_TMPDIR/claims" | uniq -d | head -n5)" ""
  # Attempts within 1..max; tasks claimed once or (failed once) twice.
  assert_equal "$(awk -v m="$max" '$2 < 1 || $2 > m' "$BATS_TEST_TMPDIR/claims" | head -n5)" ""
  cut -d' ' -f1 "$BATS_TEST_TMPDIR/claims" | sort | uniq -c | awk '{print $1}' | sort | uniq -c \
    | awk '{print $2 ":" $1}' | paste -sd' ' >"$BATS_TEST_TMPDIR/multiplicity"
  if [[ $failed -gt 0 ]]; then
    assert_equal "$(cat "$BATS_TEST_TMPDIR/multiplicity")" "1:$((n - failed)) 2:$failed"
  else
    assert_equal "$(cat "$BATS_TEST_TMPDIR/multiplicity")" "1:$n"
  fi
  # Exactly the stage's tasks were claimed.
  on b
  api GET "/v1/stages/$stage_id/tasks" | jq -r '.[].id' | sort >"$BATS_TEST_TMPDIR/stage_ids"
  assert_equal "$(last_status)" 200
  cut -d' ' -f1 "$BATS_TEST_TMPDIR/claims" | sort -u >"$BATS_TEST_TMPDIR/claimed_ids"
  run diff "$BATS_TEST_TMPDIR/stage_ids" "$BATS_TEST_TMPDIR/claimed_ids"
  assert_success
  # The tasks that were failed once record it.
  assert_equal "$(sql "SELECT count(*) FROM $SCHEMA.task WHERE stage_id = '$stage_id' AND attempts = 1")" "$failed"

  # The server's view, from every instance.
  for name in a b c; do
    on "$name"
    summary=$(api GET "/v1/stages/$stage_id/summary")
    assert_equal "$(last_status)" 200
    assert_equal "$(jq -c . <<<"$summary")" \
      "{\"pending\":0,\"inProgress\":0,\"completed\":$n,\"failed\":0,\"created\":0,\"retried\":0,\"total\":$n}"
    stage=$(api GET "/v1/stages/$stage_id")
    assert_equal "$(jq -r '.status + " " + (.percentage|tostring)' <<<"$stage")" "COMPLETED 100"
    job=$(api GET "/v1/jobs/$job_id")
    assert_equal "$(jq -r '.status + " " + (.percentage|tostring)' <<<"$job")" "COMPLETED 100"
  done
}

@test "racing workers across three instances claim every task exactly once" {
  race 3000 1 0
}

@test "racing workers across three instances, some tasks failed once: each claimed once or exactly twice" {
  race 3000 2 10
}

@test "one sweeper at a time, and leadership moves when the leader dies" {
  for name in a b; do
    start_instance "$name" --sweeper true --sweeper-interval 1 --stale-after 60 serve --migrate
  done
  poll 30 single_leader a b
  leader=$(single_leader a b)
  if [[ $leader == a ]]; then other=b; else other=a; fi

  # A task in progress for an hour is failed by the leader (one attempt: for good).
  on "$other"
  job1=$(new_job sweep1 1 1)
  assert_equal "$(last_status)" 201
  job1_id=$(jq -r .id <<<"$job1")
  stage1_id=$(jq -r '.stages[0].id' <<<"$job1")
  task1=$(api PATCH /v1/stages/sweep1/tasks/dequeue | jq -r .id)
  assert_equal "$(last_status)" 200
  # A second job's task, in progress across the leader's death.
  job2=$(new_job sweep2 1 1)
  assert_equal "$(last_status)" 201
  job2_id=$(jq -r .id <<<"$job2")
  task2=$(api PATCH /v1/stages/sweep2/tasks/dequeue | jq -r .id)
  assert_equal "$(last_status)" 200

  backdate "$task1"
  poll 30 status_is_not "$task1" IN_PROGRESS
  assert_equal "$(task_status "$task1")" FAILED
  assert_equal "$(api GET "/v1/stages/$stage1_id" | jq -r .status)" FAILED
  assert_equal "$(api GET "/v1/jobs/$job1_id" | jq -r .status)" FAILED
  # Only the leader swept it; the fresh task was left alone; still a single leader.
  log_has "$leader" "task $task1 of stage $stage1_id (job $job1_id) $STALE_LINE"
  run grep -cF "$STALE_LINE" "$(log_of "$other")"
  assert_output 0
  run grep -cF "$STALE_LINE" "$(log_of "$leader")"
  assert_output 1
  assert_equal "$(task_status "$task2")" IN_PROGRESS
  assert_equal "$(single_leader a b)" "$leader"

  # The leader dies without a word: the other instance takes over and sweeps.
  { kill -KILL "${PIDS[$leader]}" && wait "${PIDS[$leader]}"; } 2>/dev/null || true
  PIDS[$leader]=""
  poll 60 log_has "$other" "$LEADER_LINE"
  backdate "$task2"
  poll 30 status_is_not "$task2" IN_PROGRESS
  assert_equal "$(task_status "$task2")" FAILED
  assert_equal "$(api GET "/v1/jobs/$job2_id" | jq -r .status)" FAILED
  log_has "$other" "task $task2 of stage"
  run grep -cF "$STALE_LINE" "$(log_of "$other")"
  assert_output 1
}

# instances_json: GET /v1/instances on the current instance.
instances_json() { api GET /v1/instances; }
# instance_count N: the current instance lists N instances, none gone.
instance_count() { [[ "$(instances_json | jq '[.instances[] | select(.gone | not)] | length')" == "$1" ]]; }
# leader_sweep_after TIME: the leader's last sweep is later than TIME (RFC 3339).
leader_sweep_after() {
  local at
  at=$(instances_json | jq -r '.instances[] | select(.sweeperLeader) | .lastSweep.at // empty')
  [[ -n "$at" && "$at" > "$1" ]]
}
# completed_of TYPE N: GET /v1/throughput counts N tasks of TYPE completed.
completed_of() { [[ "$(api GET /v1/throughput | jq --arg t "$1" '[.stageTypes[] | select(.stageType == $t) | .completed] | add // 0')" == "$2" ]]; }

@test "two instances list each other, the sweeper's leader and its last sweep, and sum their completions" {
  for name in a b; do
    start_instance "$name" --sweeper true --sweeper-interval 1 --instance-heartbeat-interval 1 serve --migrate
  done
  on a
  poll 30 instance_count 2
  on b
  instance_count 2
  run instances_json
  assert_equal "$(jq -r '[.instances[].pid] | sort | join(" ")' <<<"$output")" \
    "$(printf '%s\n' "${PIDS[a]}" "${PIDS[b]}" | sort -n | paste -sd' ')"
  assert_equal "$(jq '[.instances[] | select(.listen == "")] | length' <<<"$output")" 0

  # Exactly one leader, the one that logged it; its last sweep moves on.
  poll 30 single_leader a b
  leader=$(single_leader a b)
  poll 30 leader_sweep_after 2000-01-01T00:00:00Z
  pid=$(instances_json | jq -r '[.instances[] | select(.sweeperLeader)] | if length == 1 then .[0].pid else "none" end')
  assert_equal "$pid" "${PIDS[$leader]}"
  first=$(instances_json | jq -r '.instances[] | select(.sweeperLeader) | .lastSweep.at')
  poll 30 leader_sweep_after "$first"

  # Two tasks completed through a, one through b: three, summed over both.
  on a
  new_job rate-e2e 1 3 >/dev/null
  assert_equal "$(last_status)" 201
  for via in a a b; do
    on "$via"
    id=$(api PATCH /v1/stages/rate-e2e/tasks/dequeue | jq -r .id)
    assert_equal "$(last_status)" 200
    api PUT "/v1/tasks/$id/status" '{"status":"COMPLETED"}' >/dev/null
    assert_equal "$(last_status)" 200
  done
  poll 30 completed_of rate-e2e 3
  on b
  completed_of rate-e2e 3

  # A clean stop removes the instance's row.
  kill -TERM "${PIDS[b]}"
  wait "${PIDS[b]}"
  PIDS[b]=""
  on a
  poll 30 instance_count 1
  assert_equal "$(instances_json | jq '.instances | length')" 1
}

@test "jobnikd sweep --once fails stale tasks for cron" {
  start_instance a serve --migrate
  on a
  # Three claimed tasks: a retryable one and a last-attempt one to back-date, and a fresh one.
  new_job once_r 2 1 >/dev/null
  assert_equal "$(last_status)" 201
  job_f=$(new_job once_f 1 1)
  assert_equal "$(last_status)" 201
  job_f_id=$(jq -r .id <<<"$job_f")
  new_job once_x 1 1 >/dev/null
  assert_equal "$(last_status)" 201
  task_r=$(api PATCH /v1/stages/once_r/tasks/dequeue | jq -r .id)
  assert_equal "$(last_status)" 200
  task_f=$(api PATCH /v1/stages/once_f/tasks/dequeue | jq -r .id)
  assert_equal "$(last_status)" 200
  task_x=$(api PATCH /v1/stages/once_x/tasks/dequeue | jq -r .id)
  assert_equal "$(last_status)" 200

  sweep() { "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" --stale-after 60 sweep --once; }

  backdate "$task_r"
  run sweep
  assert_success
  assert_output --partial "failed 1 stale task(s)"
  task=$(api GET "/v1/tasks/$task_r")
  assert_equal "$(jq -r '.status + " " + (.attempts|tostring)' <<<"$task")" "RETRIED 1"
  assert_equal "$(task_status "$task_f")" IN_PROGRESS
  assert_equal "$(task_status "$task_x")" IN_PROGRESS
  # Retried: claimable again.
  assert_equal "$(api PATCH /v1/stages/once_r/tasks/dequeue | jq -r .id)" "$task_r"

  backdate "$task_f"
  run sweep
  assert_success
  assert_output --partial "failed 1 stale task(s)"
  assert_equal "$(task_status "$task_f")" FAILED
  assert_equal "$(api GET "/v1/jobs/$job_f_id" | jq -r .status)" FAILED
  assert_equal "$(task_status "$task_x")" IN_PROGRESS

  run sweep
  assert_success
  assert_output --partial "failed 0 stale task(s)"

  # A backlog larger than a batch is swept in several batches.
  new_job once_b 2 3 >/dev/null
  assert_equal "$(last_status)" 201
  batch=()
  for _ in 1 2 3; do
    batch+=("$(api PATCH /v1/stages/once_b/tasks/dequeue | jq -r .id)")
    assert_equal "$(last_status)" 200
  done
  for t in "${batch[@]}"; do backdate "$t"; done
  run "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" --stale-after 60 --sweeper-batch 2 sweep --once
  assert_success
  assert_output --partial "failed 3 stale task(s)"
  for t in "${batch[@]}"; do assert_equal "$(task_status "$t")" RETRIED; done
  assert_equal "$(task_status "$task_x")" IN_PROGRESS
  # The serving instance (sweeper off) never swept anything itself.
  run grep -cF "$STALE_LINE" "$(log_of a)"
  assert_output 0
}
