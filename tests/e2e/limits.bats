#!/usr/bin/env bats
# Per-stage-type concurrency limits (PUT/GET/DELETE /v1/stage-types/{type}/limits,
# GET /v1/stage-types) against the real jobnikd: validation, a dequeue refused at the
# limit, and a freed slot waking a long-poll dequeue waiting on another jobnikd.

load helpers

setup() { instances_setup; }
teardown() { instances_teardown; }

# create_tasks BASE TYPE N: a job with one stage of TYPE and N tasks, through BASE.
create_tasks() {
  local tasks
  tasks=$(jq -cn --argjson n "$3" '[range($n) | {data: {n: .}}]')
  JOBNIK_URL=$1 api POST /v1/jobs \
    "{\"name\":\"lim\",\"data\":{},\"stages\":[{\"type\":\"$2\",\"data\":{},\"tasks\":$tasks}]}" >/dev/null
  [[ $(last_status) == 201 ]]
}

# dequeue BASE TYPE [QUERY]: prints the body; the status with last_status.
dequeue() { JOBNIK_URL=$1 api PATCH "/v1/stages/$2/tasks/dequeue${3:-}"; }

waiting() { curl -sf "$1/metrics" | grep -qx "jobnik_claim_waiting_requests $2"; }
woken() { curl -sf "$1/metrics" | grep -q '^jobnik_claim_wakeups_total [1-9]'; }
dequeue_done() { [[ -f "$BATS_TEST_TMPDIR/dq.status" ]]; }

@test "a limit is set, read, listed with the stage types and removed" {
  instance a
  JOBNIK_URL=$URL_a
  api GET /v1/stage-types/render/limits >"$BATS_TEST_TMPDIR/body"
  assert_equal "$(last_status)" 404
  assert_equal "$(jq -r .code "$BATS_TEST_TMPDIR/body")" LIMIT_NOT_FOUND
  body=$(api PUT /v1/stage-types/render/limits '{"maxInProgress":3}')
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -c '{stageType, maxInProgress}' <<<"$body")" '{"stageType":"render","maxInProgress":3}'
  [[ $(jq -r .updateTime <<<"$body") == 20* ]]
  body=$(api GET /v1/stage-types/render/limits)
  assert_equal "$(last_status)" 200
  assert_equal "$(jq .maxInProgress <<<"$body")" 3
  create_tasks "$URL_a" encode 2
  body=$(api GET /v1/stage-types)
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -c '[.[] | {stageType, maxInProgress, pending}]' <<<"$body")" \
    '[{"stageType":"encode","maxInProgress":null,"pending":2},{"stageType":"render","maxInProgress":3,"pending":0}]'
  api DELETE /v1/stage-types/render/limits >/dev/null
  assert_equal "$(last_status)" 204
  api GET /v1/stage-types/render/limits >/dev/null
  assert_equal "$(last_status)" 404
  # Removing a limit that is not there is no error.
  api DELETE /v1/stage-types/render/limits >/dev/null
  assert_equal "$(last_status)" 204
}

@test "a bad limit is refused with a 400 naming the field, and changes nothing" {
  instance a
  JOBNIK_URL=$URL_a
  api PUT /v1/stage-types/render/limits '{"maxInProgress":2}' >/dev/null
  local bad
  for bad in '{"maxInProgress":-1}' '{"maxInProgress":"3"}' '{"maxInProgress":1.5}' '{"maxInProgress":null}' \
    '{}' '{"maxInProgress":3,"max":4}' '[3]' 'not json' '{"maxInProgress":99999999999}'; do
    body=$(api PUT /v1/stage-types/render/limits "$bad")
    assert_equal "$(last_status)" 400
    assert_equal "$(jq -r .code <<<"$body")" VALIDATION_ERROR
  done
  body=$(api PUT /v1/stage-types/render/limits '{"maxInProgress":-1}')
  [[ $(jq -r .message <<<"$body") == *"request/body/maxInProgress"* ]]
  body=$(api PUT /v1/stage-types/render/limits '{"maxInProgress":3,"max":4}')
  [[ $(jq -r .message <<<"$body") == *max* ]]
  long=$(printf 'x%.0s' {1..51})
  api PUT "/v1/stage-types/$long/limits" '{"maxInProgress":1}' >/dev/null
  assert_equal "$(last_status)" 400
  assert_equal "$(api GET /v1/stage-types/render/limits | jq .maxInProgress)" 2
}

@test "a dequeue beyond the limit gets 404, and 0 pauses the type" {
  instance a
  create_tasks "$URL_a" render 5
  JOBNIK_URL=$URL_a api PUT /v1/stage-types/render/limits '{"maxInProgress":2}' >/dev/null
  dequeue "$URL_a" render >/dev/null
  assert_equal "$(last_status)" 200
  dequeue "$URL_a" render >/dev/null
  assert_equal "$(last_status)" 200
  body=$(dequeue "$URL_a" render)
  assert_equal "$(last_status)" 404
  [[ $(jq -r .message <<<"$body") == *"concurrency limit"* ]]
  # A batch claim gets nothing either.
  body=$(JOBNIK_URL=$URL_a api POST /v1/tasks/claim '{"stageTypes":["render"],"limit":3}')
  assert_equal "$(jq '.tasks | length' <<<"$body")" 0
  curl -sf "$URL_a/metrics" | grep -q '^jobnik_claims_limited_total{stage_type="render"} [1-9]'
  # Raised: one more fits.
  JOBNIK_URL=$URL_a api PUT /v1/stage-types/render/limits '{"maxInProgress":3}' >/dev/null
  dequeue "$URL_a" render >/dev/null
  assert_equal "$(last_status)" 200
  # 0: paused, whatever is in progress.
  JOBNIK_URL=$URL_a api PUT /v1/stage-types/render/limits '{"maxInProgress":0}' >/dev/null
  dequeue "$URL_a" render >/dev/null
  assert_equal "$(last_status)" 404
  JOBNIK_URL=$URL_a api DELETE /v1/stage-types/render/limits >/dev/null
  dequeue "$URL_a" render >/dev/null
  assert_equal "$(last_status)" 200
}

@test "a slot freed through one jobnikd wakes a dequeue waiting at the limit on another" {
  instance a
  instance b
  create_tasks "$URL_a" render 3
  # Set through b; a honours it at once.
  JOBNIK_URL=$URL_b api PUT /v1/stage-types/render/limits '{"maxInProgress":1}' >/dev/null
  id=$(dequeue "$URL_a" render | jq -r .id)
  assert_equal "$(last_status)" 200
  dequeue "$URL_a" render >/dev/null
  assert_equal "$(last_status)" 404
  (
    curl -s -o "$BATS_TEST_TMPDIR/dq.body" -w '%{http_code}' -X PATCH \
      "$URL_b/v1/stages/render/tasks/dequeue?wait_seconds=30" >"$BATS_TEST_TMPDIR/dq.status.tmp"
    mv "$BATS_TEST_TMPDIR/dq.status.tmp" "$BATS_TEST_TMPDIR/dq.status"
  ) &
  poll 10 waiting "$URL_b" 1
  # It keeps waiting while the slot is taken: new work of the type does not make room.
  create_tasks "$URL_a" render 1
  poll 10 woken "$URL_b"
  poll 10 waiting "$URL_b" 1
  [[ ! -f "$BATS_TEST_TMPDIR/dq.status" ]]
  JOBNIK_URL=$URL_a api PUT "/v1/tasks/$id/status" '{"status":"COMPLETED"}' >/dev/null
  assert_equal "$(last_status)" 200
  poll 10 dequeue_done
  assert_equal "$(cat "$BATS_TEST_TMPDIR/dq.status")" 200
  assert_equal "$(jq -r .status "$BATS_TEST_TMPDIR/dq.body")" IN_PROGRESS
}

@test "jobnikctl limits sets, gets, lists and clears a limit, with its exit statuses" {
  instance a
  export JOBNIK_URL=$URL_a
  create_tasks "$URL_a" render 2
  run "$JOBNIKCTL" limits get render
  assert_equal "$status" 4
  assert_output --partial LIMIT_NOT_FOUND
  run "$JOBNIKCTL" -q limits set render 3 -o json
  assert_success
  assert_equal "$(jq -c '{stageType, maxInProgress}' <<<"$output")" '{"stageType":"render","maxInProgress":3}'
  run "$JOBNIKCTL" limits get render -o json
  assert_success
  assert_equal "$(jq .maxInProgress <<<"$output")" 3
  run "$JOBNIKCTL" limits list -o json
  assert_success
  assert_equal "$(jq -c '[.[] | {stageType, maxInProgress, pending}]' <<<"$output")" \
    '[{"stageType":"render","maxInProgress":3,"pending":2}]'
  run "$JOBNIKCTL" limits list -o table
  assert_success
  assert_line --regexp '^render +3 +2 +0 +0$'
  run "$JOBNIKCTL" limits set render -1
  assert_failure
  run "$JOBNIKCTL" limits clear render
  assert_success
  run "$JOBNIKCTL" limits get render
  assert_equal "$status" 4
}
