#!/usr/bin/env bats
# Idempotency-Key on POSTs and claims through curl against a real jobnikd (docs/design.md,
# "Idempotency keys").

load helpers

setup() { start_jobnikd_on_own_schema; }
teardown() { stop_jobnikd_on_own_schema; }

# keyed KEY METHOD PATH [BODY]: as `api`, with an Idempotency-Key header; the response's
# headers go to $BATS_TEST_TMPDIR/headers.
keyed() {
  local key="$1" method="$2" path="$3" body="${4:-}" out status
  out=$(mktemp)
  local args=(-s -o "$out" -D "$BATS_TEST_TMPDIR/headers" -w '%{http_code}' -X "$method" -H "Idempotency-Key: $key")
  if [[ -n "$body" ]]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
  status=$(curl "${args[@]}" "$JOBNIK_URL$path")
  echo "$status" >"$BATS_TEST_TMPDIR/last_status"
  cat "$out"
  rm -f "$out"
}
replayed() { grep -i '^Idempotent-Replayed:' "$BATS_TEST_TMPDIR/headers" | tr -d '\r' | awk '{print $2}'; }
jobs_named() { api GET "/v1/jobs?job_name=$1" | jq length; }

@test "a create sent twice with one key creates one job and replays the first answer" {
  body='{"name":"idem-once","data":{"a":1},"stages":[{"type":"idem","data":{},"tasks":[{"data":{"i":1}}]}]}'
  first=$(keyed create-1 POST /v1/jobs "$body")
  assert_equal "$(last_status)" 201
  assert_equal "$(replayed)" ""
  second=$(keyed create-1 POST /v1/jobs "$body")
  assert_equal "$(last_status)" 201
  assert_equal "$(replayed)" true
  assert_equal "$second" "$first"
  assert_equal "$(jobs_named idem-once)" 1
  # Another key is another request.
  keyed create-2 POST /v1/jobs "$body" >/dev/null
  assert_equal "$(last_status)" 201
  assert_equal "$(jobs_named idem-once)" 2
}

@test "the same key with another body or path is refused 422 and changes nothing" {
  keyed reuse POST /v1/jobs '{"name":"idem-reuse","data":{}}' >/dev/null
  assert_equal "$(last_status)" 201
  run keyed reuse POST /v1/jobs '{"name":"idem-reuse","data":{"other":true}}'
  assert_equal "$(last_status)" 422
  assert_equal "$(jq -r .code <<<"$output")" IDEMPOTENCY_KEY_REUSED
  assert_output --partial "reuse"
  run keyed reuse POST /v1/tasks/claim '{"stageTypes":["x"],"limit":1}'
  assert_equal "$(last_status)" 422
  assert_equal "$(jobs_named idem-reuse)" 1
}

@test "a bad key is a 400 naming the header; GET ignores the header" {
  run keyed $'a\tb' POST /v1/jobs '{"name":"idem-bad","data":{}}'
  assert_equal "$(last_status)" 400
  assert_output --partial "Idempotency-Key: must be printable ASCII"
  long=$(printf 'k%.0s' {1..256})
  run keyed "$long" POST /v1/jobs '{"name":"idem-bad","data":{}}'
  assert_equal "$(last_status)" 400
  assert_output --partial "1 to 255"
  assert_equal "$(jobs_named idem-bad)" 0
  keyed any GET /v1/jobs >/dev/null
  assert_equal "$(last_status)" 200
  assert_equal "$(replayed)" ""
}

@test "an error answer is stored and replayed too; a validation error does nothing" {
  run keyed err-1 POST /v1/jobs/00000000-0000-4000-8000-000000000000/stage '{"type":"x","data":{}}'
  assert_equal "$(last_status)" 404
  run keyed err-1 POST /v1/jobs/00000000-0000-4000-8000-000000000000/stage '{"type":"x","data":{}}'
  assert_equal "$(last_status)" 404
  assert_equal "$(replayed)" true
  assert_equal "$(jq -r .code <<<"$output")" JOB_NOT_FOUND
}

@test "a dequeue retried with its key gets the same task back, not a second one" {
  api POST /v1/jobs '{"name":"idem-claim","data":{},"stages":[{"type":"idem-c","data":{},
    "tasks":[{"data":{"i":0}},{"data":{"i":1}}]}]}' >/dev/null
  first=$(keyed claim-1 PATCH /v1/stages/idem-c/tasks/dequeue)
  assert_equal "$(last_status)" 200
  again=$(keyed claim-1 PATCH /v1/stages/idem-c/tasks/dequeue)
  assert_equal "$(replayed)" true
  assert_equal "$(jq -r .id <<<"$again")" "$(jq -r .id <<<"$first")"
  # The other task is still there for a new key.
  other=$(keyed claim-2 PATCH /v1/stages/idem-c/tasks/dequeue)
  assert_equal "$(last_status)" 200
  [[ "$(jq -r .id <<<"$other")" != "$(jq -r .id <<<"$first")" ]]
  keyed claim-3 PATCH /v1/stages/idem-c/tasks/dequeue >/dev/null
  assert_equal "$(last_status)" 404
}

@test "a batch claim retried with its key returns the same tasks" {
  api POST /v1/jobs '{"name":"idem-batch","data":{},"stages":[{"type":"idem-b","data":{},
    "tasks":[{"data":{"i":0}},{"data":{"i":1}},{"data":{"i":2}}]}]}' >/dev/null
  first=$(keyed batch-1 POST /v1/tasks/claim '{"stageTypes":["idem-b"],"limit":2}')
  again=$(keyed batch-1 POST /v1/tasks/claim '{"stageTypes":["idem-b"],"limit":2}')
  assert_equal "$(jq -c '[.tasks[].id]' <<<"$again")" "$(jq -c '[.tasks[].id]' <<<"$first")"
  rest=$(keyed batch-2 POST /v1/tasks/claim '{"stageTypes":["idem-b"],"limit":2}')
  assert_equal "$(jq '.tasks | length' <<<"$rest")" 1
}

@test "20 concurrent creates with one key make exactly one job" {
  body='{"name":"idem-race","data":{},"stages":[{"type":"idem-r","data":{},"tasks":[{"data":{}}]}]}'
  local pids=()
  for i in $(seq 20); do
    curl -s -o "$BATS_TEST_TMPDIR/race.$i" -w '%{http_code}\n' -X POST -H 'Idempotency-Key: race' \
      -H 'Content-Type: application/json' --data "$body" "$JOBNIK_URL/v1/jobs" >"$BATS_TEST_TMPDIR/code.$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  assert_equal "$(jobs_named idem-race)" 1
  # Every answer is the job (201) or "still running" (409); all 201s name the same job.
  assert_equal "$(cat "$BATS_TEST_TMPDIR"/code.* | grep -cv -e '^201$' -e '^409$')" 0
  ids=$(for i in $(seq 20); do
    if [[ "$(cat "$BATS_TEST_TMPDIR/code.$i")" == 201 ]]; then jq -r .id "$BATS_TEST_TMPDIR/race.$i"; fi
  done | sort -u | wc -l)
  assert_equal "$ids" 1
}

@test "expired keys are deleted by the sweeper and can be used again" {
  stop_jobnikd KILL
  start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" --idempotency-retention 60 serve
  keyed old POST /v1/jobs '{"name":"idem-old","data":{}}' >/dev/null
  keyed young POST /v1/jobs '{"name":"idem-young","data":{}}' >/dev/null
  psql "$URL" -qAtc "UPDATE $SCHEMA.idempotency_key SET created_at = now() - interval '2 minutes' WHERE key = 'old'"
  run "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" --idempotency-retention 60 sweep --once
  assert_success
  assert_output --partial "deleted 1 expired idempotency key(s)"
  assert_equal "$(psql "$URL" -qAtc "SELECT string_agg(key, ',') FROM $SCHEMA.idempotency_key")" young
  keyed old POST /v1/jobs '{"name":"idem-old","data":{"again":1}}' >/dev/null
  assert_equal "$(last_status)" 201
  assert_equal "$(jobs_named idem-old)" 2
}

@test "idempotent requests are counted in the metrics" {
  keyed m-1 POST /v1/jobs '{"name":"idem-m","data":{}}' >/dev/null
  keyed m-1 POST /v1/jobs '{"name":"idem-m","data":{}}' >/dev/null
  run api GET /metrics
  assert_output --partial 'jobnik_idempotent_requests_total{outcome="started"} 1'
  assert_output --partial 'jobnik_idempotent_requests_total{outcome="replayed"} 1'
}

@test "a claim whose answer was lost is answered to its retry with the task it claimed" {
  # A long-poll dequeue with a key, from a client that will never read its answer: it is
  # frozen while jobnikd waits, and killed once the answer has been sent.
  curl -s -o /dev/null --max-time 30 -X PATCH -H 'Idempotency-Key: cut-1' \
    "$JOBNIK_URL/v1/stages/idem-cut/tasks/dequeue?wait_seconds=20" &
  local client=$!
  waiting_one() { curl -sf "$JOBNIK_URL/metrics" | grep -qx "jobnik_claim_waiting_requests 1"; }
  poll 20 waiting_one
  kill -STOP "$client"
  # A task arrives: the waiting request claims it and sends the answer nobody reads.
  job=$(api POST /v1/jobs '{"name":"idem-cut","data":{},"stages":[{"type":"idem-cut","data":{},
    "tasks":[{"data":{"i":0}},{"data":{"i":1}}]}]}')
  claimed_one() { [[ "$(api GET "/v1/tasks?stage_type=idem-cut&status=IN_PROGRESS" | jq length)" == 1 ]]; }
  poll 20 claimed_one
  kill -KILL "$client"
  wait "$client" || true
  taken=$(api GET "/v1/tasks?stage_type=idem-cut&status=IN_PROGRESS" | jq -r '.[0].id')
  # The retry with the same key gets that task back (once its answer is stored), not the other one.
  replay_ready() {
    keyed cut-1 PATCH "/v1/stages/idem-cut/tasks/dequeue?wait_seconds=20" >"$BATS_TEST_TMPDIR/retry"
    [[ "$(last_status)" == 200 ]]
  }
  poll 20 replay_ready
  assert_equal "$(replayed)" true
  assert_equal "$(jq -r .id "$BATS_TEST_TMPDIR/retry")" "$taken"
  assert_equal "$(api GET "/v1/tasks?stage_type=idem-cut&status=IN_PROGRESS" | jq length)" 1
  assert_equal "$(api GET "/v1/tasks?stage_type=idem-cut&status=PENDING" | jq length)" 1
  [[ -n "$job" ]]
}
