#!/usr/bin/env bats
# Claim tokens, leases and heartbeats, failure reasons, and jobs that finish while paused
# (docs/design.md, "Claims, leases and heartbeats"), against a real jobnikd whose sweeper
# runs every second.

load helpers

setup() {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
  : >"$LOG"
}
teardown() { stop_jobnikd_on_own_schema; }

# start_daemon STALE_AFTER: jobnikd sweeping every second, leases from 1 s.
start_daemon() {
  start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" --sweeper true --sweeper-interval 1 \
    --stale-after "$1" --lease-min 1 serve --migrate
}

# new_work TYPE N MAX_ATTEMPTS: a job with one stage of TYPE and N tasks; prints the job id.
new_work() {
  local job stage tasks i
  job=$(api POST /v1/jobs '{"name":"leases","data":{}}' | jq -r .id)
  stage=$(api POST "/v1/jobs/$job/stage" "{\"type\":\"$1\",\"data\":{}}" | jq -r .id)
  tasks="["
  for ((i = 0; i < $2; i++)); do
    if ((i > 0)); then tasks+=","; fi
    tasks+="{\"data\":{\"i\":$i},\"maxAttempts\":$3}"
  done
  api POST "/v1/stages/$stage/tasks" "$tasks]" >/dev/null
  assert_equal "$(last_status)" 201
  echo "$job"
}

task_field() { api GET "/v1/tasks/$1" | jq -r "$2"; }
task_is() { [[ "$(task_field "$1" .status)" == "$2" ]]; }
job_is() { [[ "$(api GET "/v1/jobs/$1" | jq -r .status)" == "$2" ]]; }

@test "v1: a dequeue and report without the new fields look as in v1, plus the claim's id" {
  start_daemon 600
  new_work v1 1 1 >/dev/null
  task=$(api PATCH /v1/stages/v1/tasks/dequeue)
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -r '.claimId | test("^[0-9a-f-]{36}$")' <<<"$task")" true
  assert_equal "$(jq -r 'has("leaseExpiresAt"), has("workerId"), has("errors")' <<<"$task" | tr '\n' ' ')" \
    "false false false "
  id=$(jq -r .id <<<"$task")
  done=$(api PUT "/v1/tasks/$id/status" '{"status":"COMPLETED"}')
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -r '.status, has("claimId")' <<<"$done" | tr '\n' ' ')" "COMPLETED false "
}

@test "a report that prefers a minimal return is answered 204 with no body, and applied" {
  start_daemon 600
  job=$(new_work minimal 1 1)
  task=$(api PATCH /v1/stages/minimal/tasks/dequeue)
  id=$(jq -r .id <<<"$task")
  claim=$(jq -r .claimId <<<"$task")
  run curl -s -D "$BATS_TEST_TMPDIR/head" -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/json' -H 'Prefer: return=minimal' \
    --data "{\"status\":\"COMPLETED\",\"claimId\":\"$claim\"}" "$JOBNIK_URL/v1/tasks/$id/status"
  assert_output 204
  assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/body")" 0
  run grep -i '^preference-applied: return=minimal' "$BATS_TEST_TMPDIR/head"
  assert_success
  assert_equal "$(task_field "$id" .status)" COMPLETED
  assert_equal "$(api GET "/v1/jobs/$job" | jq -r .status)" COMPLETED
}

@test "a stale claimId is refused after the sweeper failed the task and it was claimed again" {
  start_daemon 2
  new_work swept 1 3 >/dev/null
  first=$(api PATCH /v1/stages/swept/tasks/dequeue)
  id=$(jq -r .id <<<"$first")
  old_claim=$(jq -r .claimId <<<"$first")
  # Claimed without a lease: stale after 2 s, swept within the next second.
  poll 10 task_is "$id" RETRIED
  assert_equal "$(task_field "$id" '.errors[0].reason')" stale
  # The second claim has a lease, so stale_after does not apply to it.
  second=$(api PATCH '/v1/stages/swept/tasks/dequeue?lease_seconds=60&worker_id=w-2')
  assert_equal "$(jq -r .id <<<"$second")" "$id"
  new_claim=$(jq -r .claimId <<<"$second")
  [[ "$new_claim" != "$old_claim" ]]

  refused=$(api PUT "/v1/tasks/$id/status" "{\"status\":\"COMPLETED\",\"claimId\":\"$old_claim\"}")
  assert_equal "$(last_status)" 409
  assert_equal "$(jq -r .code <<<"$refused")" TASK_CLAIM_MISMATCH
  assert_equal "$(task_field "$id" .status)" IN_PROGRESS

  api PUT "/v1/tasks/$id/status" "{\"status\":\"COMPLETED\",\"claimId\":\"$new_claim\"}" >/dev/null
  assert_equal "$(last_status)" 200
  assert_equal "$(task_field "$id" '.status + " " + .workerId')" "COMPLETED w-2"
}

@test "a heartbeating task outlives stale_after; when heartbeats stop it fails within a sweep and is retried" {
  start_daemon 2
  new_work beat 1 2 >/dev/null
  task=$(api PATCH '/v1/stages/beat/tasks/dequeue?lease_seconds=2&worker_id=w-1')
  id=$(jq -r .id <<<"$task")
  claim=$(jq -r .claimId <<<"$task")
  [[ -n "$(jq -r .leaseExpiresAt <<<"$task")" ]]
  # A worker heartbeating every half second (its lease: 2 s) for twice stale_after.
  end=$((SECONDS + 5))
  while ((SECONDS < end)); do
    beat=$(api POST "/v1/tasks/$id/heartbeat" "{\"claimId\":\"$claim\",\"leaseSeconds\":2}")
    assert_equal "$(last_status)" 200
    assert_equal "$(jq -r .claimId <<<"$beat")" "$claim"
    sleep 0.5 # the worker's heartbeat period, not a wait for a condition
  done
  assert_equal "$(task_field "$id" .status)" IN_PROGRESS
  expiry=$(date -d "$(jq -r .leaseExpiresAt <<<"$beat")" +%s.%N)

  # The heartbeats stop: failed within one sweep interval (1 s) of the expiry, and retried.
  poll 10 task_is "$id" RETRIED
  failed_at=$(date -d "$(task_field "$id" '.errors[0].at')" +%s.%N)
  echo "lease expired at $expiry, failed at $failed_at" >&3
  awk -v e="$expiry" -v f="$failed_at" 'BEGIN { exit !(f >= e && f <= e + 1.5) }'
  assert_equal "$(task_field "$id" '.errors[0] | .reason + " " + .workerId + " " + (.attempt|tostring)')" \
    "lease expired w-1 1"
  # The late worker: its claim is gone.
  refused=$(api POST "/v1/tasks/$id/heartbeat" "{\"claimId\":\"$claim\"}")
  assert_equal "$(last_status)" 409
  assert_equal "$(jq -r .code <<<"$refused")" TASK_CLAIM_MISMATCH
  again=$(api PATCH /v1/stages/beat/tasks/dequeue)
  assert_equal "$(jq -r .id <<<"$again")" "$id"
}

@test "the heartbeat of a task whose job was paused or aborted answers 409 JOB_NOT_ACTIVE" {
  start_daemon 600
  job=$(new_work stop 1 1)
  task=$(api PATCH '/v1/stages/stop/tasks/dequeue?lease_seconds=60')
  id=$(jq -r .id <<<"$task")
  api PUT "/v1/jobs/$job/status" '{"status":"PAUSED"}' >/dev/null
  assert_equal "$(api POST "/v1/tasks/$id/heartbeat" | jq -r .code)" JOB_NOT_ACTIVE
  assert_equal "$(last_status)" 409
  api PUT "/v1/jobs/$job/status" '{"status":"PENDING"}' >/dev/null
  api POST "/v1/tasks/$id/heartbeat" '{"leaseSeconds":30}' >/dev/null
  assert_equal "$(last_status)" 200
  api PUT "/v1/jobs/$job/status" '{"status":"ABORTED"}' >/dev/null
  assert_equal "$(api POST "/v1/tasks/$id/heartbeat" | jq -r .code)" JOB_NOT_ACTIVE
  assert_equal "$(last_status)" 409
}

@test "bad lease and claim parameters are refused naming the field" {
  start_daemon 600
  new_work bad 1 1 >/dev/null
  assert_equal "$(api PATCH '/v1/stages/bad/tasks/dequeue?lease_seconds=0' | jq -r .message)" \
    "request/query/lease_seconds must be an integer from 1 to 86400"
  assert_equal "$(last_status)" 400
  id=$(api PATCH /v1/stages/bad/tasks/dequeue | jq -r .id)
  api POST "/v1/tasks/$id/heartbeat" '{"leaseSeconds":100000}' | jq -r .message | grep -q leaseSeconds
  assert_equal "$(last_status)" 400
  api PUT "/v1/tasks/$id/status" '{"status":"FAILED","claimId":"nope"}' | jq -r .message | grep -q claimId
  assert_equal "$(last_status)" 400
  assert_equal "$(task_field "$id" .status)" IN_PROGRESS
}

@test "failure reasons are kept in errors, cut at 8 KiB" {
  start_daemon 600
  new_work why 1 3 >/dev/null
  id=$(api PATCH '/v1/stages/why/tasks/dequeue?worker_id=w-7' | jq -r .id)
  long=$(head -c 10000 /dev/zero | tr '\0' x)
  api PUT "/v1/tasks/$id/status" "{\"status\":\"FAILED\",\"reason\":\"$long\"}" >/dev/null
  assert_equal "$(last_status)" 200
  api PATCH /v1/stages/why/tasks/dequeue >/dev/null
  api PUT "/v1/tasks/$id/status" '{"status":"FAILED","reason":"second"}' >/dev/null
  errors=$(task_field "$id" .errors)
  assert_equal "$(jq -r '.[0].reason | length' <<<"$errors")" 8192
  assert_equal "$(jq -r '.[0].workerId, .[0].attempt, .[1].reason, .[1].attempt, (.[1] | has("workerId"))' \
    <<<"$errors" | tr '\n' ' ')" "w-7 1 second 2 false "
}

@test "a paused job whose last task completes is COMPLETED; one whose task fails for good is FAILED" {
  start_daemon 600
  done_job=$(new_work paused-ok 1 1)
  id=$(api PATCH /v1/stages/paused-ok/tasks/dequeue | jq -r .id)
  api PUT "/v1/jobs/$done_job/status" '{"status":"PAUSED"}' >/dev/null
  api PUT "/v1/tasks/$id/status" '{"status":"COMPLETED"}' >/dev/null
  assert_equal "$(api GET "/v1/jobs/$done_job" | jq -r '.status + " " + (.percentage|tostring)')" "COMPLETED 100"
  # Clients cannot ask for these transitions themselves.
  other=$(new_work paused-other 1 1)
  api PUT "/v1/jobs/$other/status" '{"status":"COMPLETED"}' >/dev/null
  assert_equal "$(last_status)" 400

  failed_job=$(new_work paused-bad 1 1)
  id=$(api PATCH /v1/stages/paused-bad/tasks/dequeue | jq -r .id)
  api PUT "/v1/jobs/$failed_job/status" '{"status":"PAUSED"}' >/dev/null
  api PUT "/v1/tasks/$id/status" '{"status":"FAILED","reason":"broken"}' >/dev/null
  job_is "$failed_job" FAILED
}

@test "GET /v1/jobs/{id}/events: controls, a retry and the sweeper's failure newest first, in pages; 404, 400" {
  start_daemon 600
  job=$(new_work ev 1 2)
  stage=$(api GET "/v1/jobs/$job/stages" | jq -r '.[0].id')
  api PATCH "/v1/jobs/$job/priority" '{"priority":"HIGH"}' >/dev/null
  api PUT "/v1/jobs/$job/status" '{"status":"PAUSED"}' >/dev/null
  api PUT "/v1/jobs/$job/status" '{"status":"PENDING"}' >/dev/null
  id=$(api PATCH '/v1/stages/ev/tasks/dequeue?worker_id=w-9' | jq -r .id)
  api PUT "/v1/tasks/$id/status" '{"status":"FAILED","reason":"no space"}' >/dev/null
  assert_equal "$(last_status)" 200
  api PATCH '/v1/stages/ev/tasks/dequeue?lease_seconds=1&worker_id=w-9' >/dev/null
  # No heartbeat: the sweeper fails the task for good (its last attempt), then its stage and job.
  poll 10 job_is "$job" FAILED

  events=$(api GET "/v1/jobs/$job/events")
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -r '.[] | [.entity, .kind, (.oldValue // "-"), .newValue, (.reason // "-"), (.workerId // "-")] | join(" ")' <<<"$events")" \
    "job status IN_PROGRESS FAILED stage $stage failed -
stage status IN_PROGRESS FAILED task $id failed for good -
task status IN_PROGRESS FAILED lease expired w-9
task status IN_PROGRESS RETRIED no space w-9
job status PAUSED PENDING - -
job status PENDING PAUSED - -
job priority MEDIUM HIGH - -"
  assert_equal "$(jq -c '[.[] | .actor] | unique' <<<"$events")" "[null]"

  # Pages: limit, then the cursor of X-Next-Cursor; the pages are the whole list, in order.
  headers="$BATS_TEST_TMPDIR/headers"
  page1=$(curl -s -D "$headers" "$JOBNIK_URL/v1/jobs/$job/events?limit=4")
  cursor=$(awk 'tolower($1) == "x-next-cursor:" { print $2 }' "$headers" | tr -d '\r')
  [[ -n "$cursor" ]]
  grep -qi '^link: </v1/jobs/.*/events?.*cursor=.*rel="next"' "$headers"
  page2=$(curl -s -D "$headers" "$JOBNIK_URL/v1/jobs/$job/events?limit=4&cursor=$cursor")
  ! grep -qi '^x-next-cursor:' "$headers"
  assert_equal "$(jq -c -s 'add | [.[].id]' <<<"$page1$page2")" "$(jq -c '[.[].id]' <<<"$events")"

  missing=$(api GET /v1/jobs/00000000-0000-4000-8000-000000000000/events)
  assert_equal "$(last_status)" 404
  assert_equal "$(jq -r .code <<<"$missing")" JOB_NOT_FOUND
  for q in limit=0 limit=1001 limit=ten cursor=not-a-cursor page=2; do
    bad=$(api GET "/v1/jobs/$job/events?$q")
    assert_equal "$(last_status)" 400
    assert_equal "$(jq -r .code <<<"$bad")" VALIDATION_ERROR
    [[ "$(jq -r .message <<<"$bad")" == *"${q%%=*}"* ]]
  done

  # Deleting the job deletes its events.
  api DELETE "/v1/jobs/$job" >/dev/null
  assert_equal "$(last_status)" 200
  api GET "/v1/jobs/$job/events" >/dev/null
  assert_equal "$(last_status)" 404
  [[ "$(psql "$URL" -qAtc "SELECT count(*) FROM $SCHEMA.job_event")" == 0 ]]
}
