#!/usr/bin/env bats
# Long-poll dequeue (wait_seconds) against the real jobnikd with curl: woken by a task
# created through the same jobnikd or another one on the same database, the poll fallback
# (--claim-wakeup poll), the empty answer at the deadline, shutdown with a waiter, and a
# waiter whose client gives up.

load helpers

setup() { instances_setup; }
teardown() { instances_teardown; }

# dequeue_bg BASE TYPE QUERY: a dequeue in the background; its status and body go to
# $BATS_TEST_TMPDIR/dq.{status,body}, its time in ms to dq.ms.
dequeue_bg() {
  (
    local start end
    start=$(date +%s%3N)
    curl -s -o "$BATS_TEST_TMPDIR/dq.body" -w '%{http_code}' -X PATCH \
      "$1/v1/stages/$2/tasks/dequeue$3" >"$BATS_TEST_TMPDIR/dq.status.tmp"
    end=$(date +%s%3N)
    echo $((end - start)) >"$BATS_TEST_TMPDIR/dq.ms"
    mv "$BATS_TEST_TMPDIR/dq.status.tmp" "$BATS_TEST_TMPDIR/dq.status"
  ) &
  DQ_PID=$!
}
dequeue_done() { [[ -f "$BATS_TEST_TMPDIR/dq.status" ]]; }

# waiting BASE N: the jobnikd at BASE has N claims waiting.
waiting() { curl -sf "$1/metrics" | grep -qx "jobnik_claim_waiting_requests $2"; }

# create_task BASE TYPE: a job with one stage of TYPE and one task, through BASE.
create_task() {
  JOBNIK_URL=$1 api POST /v1/jobs \
    "{\"name\":\"lp\",\"data\":{},\"stages\":[{\"type\":\"$2\",\"data\":{},\"tasks\":[{\"data\":{\"n\":1}}]}]}" >/dev/null
  [[ $(last_status) == 201 ]]
}

@test "a dequeue with wait_seconds=10 returns the task created while it waits, at once" {
  instance a
  dequeue_bg "$URL_a" lp-type "?wait_seconds=10"
  poll 10 waiting "$URL_a" 1
  create_task "$URL_a" lp-type
  poll 3 dequeue_done
  wait "$DQ_PID"
  assert_equal "$(cat "$BATS_TEST_TMPDIR/dq.status")" 200
  assert_equal "$(jq -r .status "$BATS_TEST_TMPDIR/dq.body")" IN_PROGRESS
  # Woken, not timed out: well before the 10 s.
  (($(cat "$BATS_TEST_TMPDIR/dq.ms") < 5000))
}

@test "a task created through one jobnikd wakes a dequeue waiting on another" {
  instance a
  instance b
  dequeue_bg "$URL_b" lp-across "?wait_seconds=10"
  poll 10 waiting "$URL_b" 1
  create_task "$URL_a" lp-across
  poll 3 dequeue_done
  assert_equal "$(cat "$BATS_TEST_TMPDIR/dq.status")" 200
  run curl -sf "$URL_b/metrics"
  assert_output --regexp $'\njobnik_claim_notifications_total [1-9]'
}

@test "with --claim-wakeup poll a waiting dequeue is woken by the poll" {
  instance a --claim-wakeup poll --claim-poll-interval 200
  dequeue_bg "$URL_a" lp-poll "?wait_seconds=10"
  poll 10 waiting "$URL_a" 1
  create_task "$URL_a" lp-poll
  poll 3 dequeue_done
  assert_equal "$(cat "$BATS_TEST_TMPDIR/dq.status")" 200
  run curl -sf "$URL_a/metrics"
  assert_output --partial $'\njobnik_claim_notifications_total 0'
}

@test "an empty queue answers 404 after wait_seconds; a bad wait_seconds is a 400 naming it" {
  instance a
  dequeue_bg "$URL_a" lp-empty "?wait_seconds=1"
  wait "$DQ_PID"
  assert_equal "$(cat "$BATS_TEST_TMPDIR/dq.status")" 404
  (($(cat "$BATS_TEST_TMPDIR/dq.ms") >= 950))
  JOBNIK_URL=$URL_a run api PATCH "/v1/stages/lp-empty/tasks/dequeue?wait_seconds=61"
  assert_output --partial "request/query/wait_seconds"
  assert_equal "$(last_status)" 400
}

@test "SIGTERM answers a waiting dequeue at once and jobnikd exits 0" {
  instance a
  dequeue_bg "$URL_a" lp-stop "?wait_seconds=60"
  poll 10 waiting "$URL_a" 1
  JOBNIKD_PID=${PIDS[0]}
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  poll 3 dequeue_done
  assert_equal "$(cat "$BATS_TEST_TMPDIR/dq.status")" 404
}

@test "a dequeue whose client gives up while it waits claims nothing: the task waits for the next claim" {
  instance a
  # curl gives up after 1 s of a 20 s wait (as a killed worker would).
  run curl -s -o /dev/null --max-time 1 -X PATCH "$URL_a/v1/stages/lp-gone/tasks/dequeue?wait_seconds=20"
  poll 5 waiting "$URL_a" 0
  run curl -sf "$URL_a/metrics"
  assert_output --partial $'\njobnik_claim_wait_hangups_total 1'
  create_task "$URL_a" lp-gone
  JOBNIK_URL=$URL_a api PATCH /v1/stages/lp-gone/tasks/dequeue >/dev/null
  assert_equal "$(last_status)" 200
}
