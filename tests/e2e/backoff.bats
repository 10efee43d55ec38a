#!/usr/bin/env bats
# Retry backoff (docs/design.md, "Retry backoff") through the real binaries: a jobnikd whose
# retry scheduler looks every 50 ms, driven by curl and jobnikctl.

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
  start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" --sweeper true --sweeper-interval 1 \
    --stale-after "${1:-600}" --scheduler-interval-ms 50 serve --migrate
  export JOBNIK_URL
}

# new_work TYPE MAX_ATTEMPTS [TASK_RETRY_JSON] [STAGE_RETRY_JSON]: a job with one stage of
# TYPE and one task; prints the task's id.
new_work() {
  local job stage task_retry="" stage_retry=""
  [[ -n "${3:-}" ]] && task_retry=",\"retry\":$3"
  [[ -n "${4:-}" ]] && stage_retry=",\"retry\":$4"
  job=$(api POST /v1/jobs '{"name":"backoff","data":{}}' | jq -r .id)
  stage=$(api POST "/v1/jobs/$job/stage" "{\"type\":\"$1\",\"data\":{}$stage_retry}" | jq -r .id)
  api POST "/v1/stages/$stage/tasks" "[{\"data\":{},\"maxAttempts\":$2$task_retry}]" | jq -r '.[0].id'
}

claim() { api PATCH "/v1/stages/$1/tasks/dequeue"; }
claimable() { [[ "$(claim "$1" | jq -r .id)" == "$2" ]]; }
now() { date +%s.%N; }
# elapsed_between SINCE MIN MAX: MIN <= now - SINCE <= MAX (seconds).
elapsed_between() { awk -v s="$1" -v n="$(now)" -v lo="$2" -v hi="$3" 'BEGIN { d = n - s; exit !(d >= lo && d <= hi) }'; }

@test "v1: without retry fields a failed task is retried at once and looks as in v1" {
  start_daemon
  id=$(new_work v1 2)
  task=$(api GET "/v1/tasks/$id")
  assert_equal "$(jq -r 'has("retry"), has("notBefore")' <<<"$task" | tr '\n' ' ')" "false false "
  claim v1 >/dev/null
  failed=$(api PUT "/v1/tasks/$id/status" '{"status":"FAILED"}')
  assert_equal "$(jq -r '.status, has("notBefore")' <<<"$failed" | tr '\n' ' ')" "RETRIED false "
  claimable v1 "$id"
}

@test "a task's delay grows with its attempts, and it is not claimable before its notBefore" {
  start_daemon
  id=$(new_work grow 4 '{"delaySeconds":1.5,"backoff":2,"maxDelaySeconds":3.5}')
  assert_equal "$(api GET "/v1/tasks/$id" | jq -c .retry)" '{"delaySeconds":1.5,"backoff":2,"maxDelaySeconds":3.5}'
  # Attempts 1, 2, 3: 1.5 s, 3 s, then 3.5 s (the cap), each plus up to 10 %.
  for delay in 1.5 3 3.5; do
    claim grow >/dev/null
    since=$(now)
    failed=$(api PUT "/v1/tasks/$id/status" '{"status":"FAILED","reason":"try later"}')
    assert_equal "$(jq -r .status <<<"$failed")" RETRIED
    [[ "$(jq -r .notBefore <<<"$failed")" == 20* ]]
    assert_equal "$(claim grow | jq -r .code)" TASK_NOT_FOUND  # not yet
    poll 10 claimable grow "$id"
    elapsed_between "$since" "$delay" "$(awk -v d="$delay" 'BEGIN { print d * 1.1 + 1.5 }')"
  done
}

@test "retryAfterSeconds overrides the delay; jobnikctl task fail --retry-after sends it" {
  start_daemon
  id=$(new_work after 3 '{"delaySeconds":600}')
  claim after >/dev/null
  failed=$(api PUT "/v1/tasks/$id/status" '{"status":"FAILED","retryAfterSeconds":0.3}')
  assert_equal "$(jq -r .status <<<"$failed")" RETRIED
  poll 5 claimable after "$id"
  since=$(now)
  run "$JOBNIKCTL" --url "$JOBNIK_URL" task fail "$id" --retry-after 2
  assert_success
  assert_equal "$(claim after | jq -r .code)" TASK_NOT_FOUND
  poll 10 claimable after "$id"
  elapsed_between "$since" 2 4
  # Bad values are refused with the field named, and change nothing.
  bad=$(api PUT "/v1/tasks/$id/status" '{"status":"FAILED","retryAfterSeconds":-1}')
  assert_equal "$(last_status)" 400
  [[ "$(jq -r .message <<<"$bad")" == "request/body/retryAfterSeconds must be a number from 0 to 604800"* ]]
  assert_equal "$(api GET "/v1/tasks/$id" | jq -r .status)" IN_PROGRESS
  run "$JOBNIKCTL" --url "$JOBNIK_URL" task fail "$id" --retry-after -5
  assert_failure
}

@test "a stage's retry is the default of its tasks and shows on the stage" {
  start_daemon
  id=$(new_work inherit 2 "" '{"delaySeconds":600,"backoff":1.5}')
  task=$(api GET "/v1/tasks/$id")
  assert_equal "$(jq -c .retry <<<"$task")" '{"delaySeconds":600,"backoff":1.5,"maxDelaySeconds":604800}'
  stage=$(jq -r .stageId <<<"$task")
  assert_equal "$(api GET "/v1/stages/$stage" | jq -r .retry.delaySeconds)" 600
  claim inherit >/dev/null
  api PUT "/v1/tasks/$id/status" '{"status":"FAILED"}' >/dev/null
  assert_equal "$(claim inherit | jq -r .code)" TASK_NOT_FOUND
}

@test "a job spec's retry keys reach the server through jobnikctl submit" {
  start_daemon
  cat >"$BATS_TEST_TMPDIR/job.yaml" <<'YAML'
name: spec-retry
stages:
  - type: spec-retry
    retry: {delaySeconds: 30, backoff: 2}
    tasks:
      - data: {i: 0}
      - data: {i: 1}
        retry: {delaySeconds: 5, maxDelaySeconds: 50}
YAML
  run --separate-stderr "$JOBNIKCTL" --url "$JOBNIK_URL" submit "$BATS_TEST_TMPDIR/job.yaml"
  assert_success
  job=$output
  stage=$(api GET "/v1/jobs/$job/stages" | jq -r '.[0].id')
  assert_equal "$(api GET "/v1/stages/$stage/tasks" | jq -c '[.[].retry.delaySeconds]')" '[30,5]'
  printf 'name: bad\nstages:\n  - type: x\n    retry: {delaySeconds: -1}\n' >"$BATS_TEST_TMPDIR/bad.yaml"
  run --separate-stderr "$JOBNIKCTL" --url "$JOBNIK_URL" submit "$BATS_TEST_TMPDIR/bad.yaml"
  assert_failure
  [[ "$stderr" == *"stages[0].retry: delaySeconds must be a number from 0 to 604800"* ]]
}

@test "invalid retry objects are refused naming the field and the problem" {
  start_daemon
  job=$(api POST /v1/jobs '{"name":"bad","data":{},"stages":[{"type":"b","data":{},"retry":{"delaySeconds":5,"backoff":0}}]}')
  assert_equal "$(last_status)" 400
  assert_equal "$(jq -r .message <<<"$job")" "request/body/stages/0/retry/backoff must be a number from 1 to 100"
  job=$(api POST /v1/jobs '{"name":"bad","data":{}}' | jq -r .id)
  stage=$(api POST "/v1/jobs/$job/stage" '{"type":"b","data":{}}' | jq -r .id)
  bad=$(api POST "/v1/stages/$stage/tasks" '[{"data":{},"retry":{"delaySeconds":10,"maxDelaySeconds":5}}]')
  assert_equal "$(last_status)" 400
  assert_equal "$(jq -r .message <<<"$bad")" \
    "request/body/0/retry/maxDelaySeconds must be a number from delaySeconds (10) to 604800"
  assert_equal "$(api GET "/v1/stages/$stage/tasks" | jq length)" 0
}

@test "a task the sweeper fails waits for its backoff too, and the scheduler counts it in the metrics" {
  start_daemon 1
  id=$(new_work swept 3 '{"delaySeconds":1}')
  claim swept >/dev/null
  # Claimed without a lease: stale after 1 s, swept within the next second, then 1-1.1 s wait.
  poll 10 bash -c "curl -s '$JOBNIK_URL/v1/tasks/$id' | jq -e '.status == \"RETRIED\" and has(\"notBefore\")' >/dev/null"
  assert_equal "$(api GET "/v1/tasks/$id" | jq -r '.errors[0].reason')" stale
  poll 5 claimable swept "$id"
  poll 5 bash -c "curl -s '$JOBNIK_URL/metrics' | grep -q '^jobnik_retries_made_ready_total [1-9]'"
  grep -q "claimable again from" "$LOG"
}
