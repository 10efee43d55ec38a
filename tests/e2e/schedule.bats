#!/usr/bin/env bats
# Delayed start (notBefore) and re-running failed work (POST /v1/jobs/{id}/retry,
# /v1/tasks/{id}/retry) through the real binaries: a jobnikd whose scheduler looks every
# 50 ms, driven by curl and jobnikctl (docs/design.md, "Delayed start", "Re-running failed
# work").

load helpers
bats_require_minimum_version 1.5.0

setup() {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
  : >"$LOG"
  export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config" HOME="$BATS_TEST_TMPDIR"
  unset JOBNIK_TOKEN JOBNIK_TIMEOUT JOBNIK_OUTPUT
}
teardown() { stop_jobnikd_on_own_schema; }

start_daemon() {
  start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" --scheduler-interval-ms 50 serve --migrate
  export JOBNIK_URL
}
ctl() { "$JOBNIKCTL" --url "$JOBNIK_URL" "$@"; }

claim() { api PATCH "/v1/stages/$1/tasks/dequeue"; }
claimable() { [[ "$(claim "$1" | jq -r .id)" != null ]]; }
report() { api PUT "/v1/tasks/$1/status" "{\"status\":\"$2\"}" >/dev/null; }
job_status() { api GET "/v1/jobs/$1" | jq -r .status; }
# An RFC 3339 time SECONDS from now (UTC, milliseconds).
from_now() { date -u -d "@$(awk -v s="$1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.3f", n + s }')" +%Y-%m-%dT%H:%M:%S.%3NZ; }
now() { date +%s.%N; }
# waiting N: jobnikd has N claims waiting (long poll).
waiting() { curl -sf "$JOBNIK_URL/metrics" | grep -qx "jobnik_claim_waiting_requests $1"; }
# elapsed_between SINCE MIN MAX: MIN <= now - SINCE <= MAX (seconds).
elapsed_between() { awk -v s="$1" -v n="$(now)" -v lo="$2" -v hi="$3" 'BEGIN { d = n - s; exit !(d >= lo && d <= hi) }'; }

@test "notBefore: a delayed task is not claimable early, and claimable on time within tolerance" {
  start_daemon
  since=$(now)
  due=$(from_now 6)
  job=$(api POST /v1/jobs "{\"name\":\"later\",\"data\":{},\"stages\":[{\"type\":\"later\",\"data\":{},\"tasks\":[{\"data\":{},\"notBefore\":\"$due\"}]}]}")
  assert_equal "$(last_status)" 201
  id=$(jq -r .id <<<"$job")
  assert_equal "$(claim later | jq -r .code)" TASK_NOT_FOUND
  task=$(api GET "/v1/tasks?stage_type=later" | jq '.[0]')
  assert_equal "$(jq -r .notBefore <<<"$task")" "$due"
  assert_equal "$(job_status "$id")" PENDING
  claimed() { claim later >"$BATS_TEST_TMPDIR/claimed" && [[ "$(jq -r .id "$BATS_TEST_TMPDIR/claimed")" != null ]]; }
  poll 20 claimed
  # Claimed by the server at or after its notBefore, and within 1.5 s of it.
  start=$(jq -r .startTime "$BATS_TEST_TMPDIR/claimed")
  [[ ! "$start" < "$due" ]] || { echo "claimed at $start, before $due" >&2; false; }
  elapsed_between "$since" 6 7.5
  assert_equal "$(job_status "$id")" IN_PROGRESS
}

@test "notBefore of a job and a stage applies to their tasks, also those added later, and is shown" {
  start_daemon
  due=$(from_now 3600)
  job=$(api POST /v1/jobs "{\"name\":\"later\",\"data\":{},\"notBefore\":\"$due\"}")
  assert_equal "$(jq -r .notBefore <<<"$job")" "$due"
  id=$(jq -r .id <<<"$job")
  stage=$(api POST "/v1/jobs/$id/stage" "{\"type\":\"held\",\"data\":{},\"notBefore\":\"$(from_now -60)\"}")
  [[ "$(jq -r .notBefore <<<"$stage")" == 20* ]]
  tasks=$(api POST "/v1/stages/$(jq -r .id <<<"$stage")/tasks" '[{"data":{}},{"data":{}}]')
  assert_equal "$(jq -r '.[].notBefore' <<<"$tasks" | sort -u)" "$due"
  assert_equal "$(claim held | jq -r .code)" TASK_NOT_FOUND
  assert_equal "$(api GET "/v1/jobs/$id?should_return_stages=true" | jq -r '.notBefore, (.stages[0].notBefore | startswith("20"))' | tr '\n' ' ')" "$due true "
}

@test "notBefore is validated: a clear 400 naming the field" {
  start_daemon
  api POST /v1/jobs '{"name":"bad","data":{},"notBefore":"tomorrow"}' >"$BATS_TEST_TMPDIR/body"
  assert_equal "$(last_status)" 400
  assert_equal "$(jq -r .code "$BATS_TEST_TMPDIR/body")" VALIDATION_ERROR
  [[ "$(jq -r .message "$BATS_TEST_TMPDIR/body")" == *"request/body/notBefore"*"RFC 3339"* ]]
  body=$(api POST /v1/jobs '{"name":"bad","data":{},"stages":[{"type":"x","data":{},"tasks":[{"data":{},"notBefore":5}]}]}')
  assert_equal "$(last_status)" 400
  [[ "$(jq -r .message <<<"$body")" == *"request/body/stages/0/tasks/0/notBefore"* ]]
  assert_equal "$(api GET /v1/jobs | jq length)" 0  # nothing was created
}

@test "jobnikctl submit --in and --not-before delay the job; bad values are usage errors" {
  start_daemon
  printf 'name: later\nstages:\n  - type: ctl-later\n    tasks:\n      - data: {}\n' >"$BATS_TEST_TMPDIR/job.yaml"
  id=$(ctl submit "$BATS_TEST_TMPDIR/job.yaml" --in 1h)
  job=$(api GET "/v1/jobs/$id")
  [[ "$(jq -r .notBefore <<<"$job")" > "$(from_now 3500)" ]]
  assert_equal "$(claim ctl-later | jq -r .code)" TASK_NOT_FOUND
  due=$(from_now 1)
  id=$(ctl submit "$BATS_TEST_TMPDIR/job.yaml" --not-before "$due")
  assert_equal "$(api GET "/v1/jobs/$id" | jq -r .notBefore)" "$due"
  poll 10 claimable ctl-later
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/job.yaml" --in soon
  assert_equal "$status" 2
  [[ "$stderr" == *"--in"* ]]
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/job.yaml" --not-before yesterday
  assert_equal "$status" 2
  [[ "$stderr" == *"--not-before"*"RFC 3339"* ]]
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/job.yaml" --in 1m --not-before "$due"
  assert_equal "$status" 2
}

@test "a failed job is retried to completion: failed tasks with fresh attempts, recorded in its events" {
  start_daemon
  job=$(api POST /v1/jobs '{"name":"rerun","data":{},"stages":[{"type":"rr-a","data":{},"tasks":[{"data":{}},{"data":{}}]},{"type":"rr-b","data":{},"tasks":[{"data":{}}]}]}')
  id=$(jq -r .id <<<"$job")
  a=$(claim rr-a | jq -r .id)
  b=$(claim rr-a | jq -r .id)
  report "$a" COMPLETED
  report "$b" FAILED
  assert_equal "$(job_status "$id")" FAILED
  retried=$(api POST "/v1/jobs/$id/retry")
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -r .status <<<"$retried")" IN_PROGRESS
  assert_equal "$(api GET "/v1/tasks/$b" | jq -r '.status, .attempts' | tr '\n' ' ')" "PENDING 0 "
  assert_equal "$(api GET "/v1/jobs/$id/stages" | jq -r '.[].status' | tr '\n' ' ')" "IN_PROGRESS CREATED "
  assert_equal "$(claim rr-a | jq -r .id)" "$b"
  report "$b" COMPLETED
  report "$(claim rr-b | jq -r .id)" COMPLETED
  assert_equal "$(job_status "$id")" COMPLETED
  events=$(api GET "/v1/jobs/$id/events" | jq -r '.[] | "\(.entity) \(.oldValue)->\(.newValue)"')
  [[ "$events" == *"job FAILED->IN_PROGRESS"* ]]
  [[ "$events" == *"stage FAILED->IN_PROGRESS"* ]]
  [[ "$events" == *"task FAILED->PENDING"* ]]
}

@test "a retry wakes a long-poll dequeue waiting for the type" {
  start_daemon
  job=$(api POST /v1/jobs '{"name":"rerun","data":{},"stages":[{"type":"rr-wake","data":{},"tasks":[{"data":{}}]}]}')
  id=$(jq -r .id <<<"$job")
  t=$(claim rr-wake | jq -r .id)
  report "$t" FAILED
  curl -s "$JOBNIK_URL/v1/stages/rr-wake/tasks/dequeue?wait_seconds=30" -X PATCH >"$BATS_TEST_TMPDIR/waited" &
  waiter=$!
  poll 10 waiting 1
  since=$(now)
  api POST "/v1/jobs/$id/retry" >/dev/null
  wait "$waiter"
  assert_equal "$(jq -r .id "$BATS_TEST_TMPDIR/waited")" "$t"
  elapsed_between "$since" 0 5
}

@test "one failed task is retried; refusals are 409 NOT_RETRYABLE; jobnikctl retry does both" {
  start_daemon
  job=$(api POST /v1/jobs '{"name":"rerun","data":{},"stages":[{"type":"rr-one","data":{},"tasks":[{"data":{}},{"data":{}}]}]}')
  id=$(jq -r .id <<<"$job")
  a=$(claim rr-one | jq -r .id)
  b=$(claim rr-one | jq -r .id)
  body=$(api POST "/v1/jobs/$id/retry")
  assert_equal "$(last_status)" 409
  assert_equal "$(jq -r .code <<<"$body")" NOT_RETRYABLE
  [[ "$(jq -r .message <<<"$body")" == *"IN_PROGRESS"* ]]
  body=$(api POST "/v1/tasks/$a/retry")
  assert_equal "$(last_status)" 409
  assert_equal "$(jq -r .code <<<"$body")" NOT_RETRYABLE
  report "$a" FAILED
  report "$b" FAILED  # in flight when the stage failed: it only counts
  assert_equal "$(job_status "$id")" FAILED
  run --separate-stderr ctl retry --task "$a"
  assert_success
  assert_equal "$(job_status "$id")" IN_PROGRESS
  assert_equal "$(api GET "/v1/tasks/$b" | jq -r .status)" FAILED
  report "$(claim rr-one | jq -r .id)" COMPLETED
  assert_equal "$(job_status "$id")" FAILED  # b is still FAILED
  run --separate-stderr ctl retry "$id"
  assert_success
  report "$(claim rr-one | jq -r .id)" COMPLETED
  assert_equal "$(job_status "$id")" COMPLETED
  run --separate-stderr ctl retry "$id"
  assert_equal "$status" 1
  [[ "$stderr" == *"NOT_RETRYABLE"* ]]
  body=$(api POST "/v1/jobs/not-a-uuid/retry")
  assert_equal "$(last_status)" 400
  api POST "/v1/jobs/00000000-0000-0000-0000-000000000000/retry" >/dev/null
  assert_equal "$(last_status)" 404
}
