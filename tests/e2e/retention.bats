#!/usr/bin/env bats
# Retention against the real jobnikd: `jobnikd prune --once` deletes exactly the finished
# jobs past their status' retention (ages set by backdating rows with psql), refuses to run
# with no retention set, and the sweeper's leader prunes on its own while serving.

load helpers
bats_require_minimum_version 1.5.0

setup() {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  JOBNIKD_PID=""
}

teardown() {
  stop_jobnikd KILL
  if [[ "${BATS_TEST_COMPLETED:-}" != 1 && -f "$BATS_TEST_TMPDIR/d.log" ]]; then
    echo "---- tail of jobnikd's log" >&2
    tail -n 30 "$BATS_TEST_TMPDIR/d.log" >&2 || true
  fi
  psql "$URL" -qAtc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
}

serve() { start_jobnikd "$BATS_TEST_TMPDIR/d.log" --database-url "$URL" --database-schema "$SCHEMA" "$@" serve --migrate; }
prune() { "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" "$@" prune --once; }
sql() { psql "$URL" -qAtc "SET search_path TO $SCHEMA; $1"; }

# new_job NAME: a job with one stage of type NAME and one task; prints its id.
new_job() {
  local body
  body=$(api POST /v1/jobs "{\"name\":\"$1\",\"data\":{},\"stages\":[{\"type\":\"$1\",\"data\":{},\"tasks\":[{\"data\":{}}]}]}")
  [[ $(last_status) == 201 ]] || { echo "create $1: $body" >&2; return 1; }
  jq -r .id <<<"$body"
}

# finish TYPE STATUS: claims the task of TYPE and reports STATUS (COMPLETED or FAILED).
finish() {
  local id
  id=$(api PATCH "/v1/stages/$1/tasks/dequeue" | jq -r .id)
  [[ $(last_status) == 200 ]] || return 1
  api PUT "/v1/tasks/$id/status" "{\"status\":\"$2\"}" >/dev/null
  [[ $(last_status) == 200 ]]
}

job_status() { api GET "/v1/jobs/$1" | jq -r '.status // .code'; }
gone() { [[ $(job_status "$1") == JOB_NOT_FOUND ]]; }

@test "prune --once: exit 2 naming the keys when no retention is set, or a bad duration" {
  run prune
  assert_equal "$status" 2
  assert_output --partial "retention.completed"
  run prune --retain-failed 3weeks
  assert_equal "$status" 2
  assert_output --partial "retain-failed"
}

@test "prune --once deletes exactly the finished jobs older than their status' retention" {
  serve
  old_done=$(new_job olddone)
  finish olddone COMPLETED
  new_done=$(new_job newdone)
  finish newdone COMPLETED
  old_failed=$(new_job oldfailed)
  finish oldfailed FAILED # maxAttempts is 1 by default: the task, stage and job fail
  assert_equal "$(job_status "$old_failed")" FAILED
  old_aborted=$(new_job oldaborted)
  api PUT "/v1/jobs/$old_aborted/status" '{"status":"ABORTED"}' >/dev/null
  assert_equal "$(last_status)" 200
  old_pending=$(new_job oldpending)
  assert_equal "$(job_status "$old_done") $(job_status "$new_done")" "COMPLETED COMPLETED"
  # Everything but new_done finished (or, for old_pending, last changed) ten days ago.
  sql "UPDATE job SET update_time = now() - interval '10 days' WHERE id <> '$new_done'" >/dev/null

  events=$(sql "SELECT count(*) FROM job_event WHERE job_id IN ('$old_done','$old_aborted')")
  ((events > 0))

  # FAILED has no retention here: only the old COMPLETED and ABORTED jobs go.
  run --separate-stderr prune --retain-completed 7d --retain-aborted 1d
  assert_success
  assert_output "deleted 2 finished job(s): 2 stage(s), 2 task(s), $events event(s)"
  gone "$old_done"
  gone "$old_aborted"
  assert_equal "$(job_status "$new_done") $(job_status "$old_failed") $(job_status "$old_pending")" \
    "COMPLETED FAILED PENDING"
  assert_equal "$(sql "SELECT count(*) FROM stage WHERE job_id IN ('$old_done','$old_aborted')")" 0

  # Again: nothing left to delete at these ages; then FAILED by its environment variable.
  run --separate-stderr prune --retain-completed 7d --retain-aborted 1d
  assert_output "deleted 0 finished job(s): 0 stage(s), 0 task(s), 0 event(s)"
  JOBNIK_RETENTION_FAILED=9d run --separate-stderr prune
  assert_success
  assert_output --partial "deleted 1 finished job(s)"
  [[ $stderr == *"retention: deleted 1 FAILED job(s)"* ]]
  gone "$old_failed"
  assert_equal "$(job_status "$new_done") $(job_status "$old_pending")" "COMPLETED PENDING"
}

@test "the sweeper's leader prunes while serving, counted in jobnik_pruned_rows_total" {
  serve --sweeper true --sweeper-interval 1 --retain-aborted 2s --prune-batch 1
  a=$(new_job first)
  b=$(new_job second)
  keep=$(new_job keep)
  for id in "$a" "$b"; do
    api PUT "/v1/jobs/$id/status" '{"status":"ABORTED"}' >/dev/null
    assert_equal "$(last_status)" 200
  done
  # Batches of one job: both go, over batches or sweeps.
  poll 30 gone "$a"
  poll 30 gone "$b"
  assert_equal "$(job_status "$keep")" PENDING
  metrics=$(curl -sf "$JOBNIK_URL/metrics")
  assert_equal "$(grep '^jobnik_pruned_rows_total{table="job"}' <<<"$metrics" | awk '{print $2}')" 2
  assert_equal "$(grep '^jobnik_pruned_rows_total{table="task"}' <<<"$metrics" | awk '{print $2}')" 2
  run grep -c "retention: deleted" "$BATS_TEST_TMPDIR/d.log"
  assert_success
}

@test "prune and sweep --once: an unmigrated database is named, a fresh embedded one is migrated" {
  run --separate-stderr prune --retain-completed 7d
  assert_equal "$status" 1
  [[ $stderr == *"database schema '$SCHEMA' is at version 0, this jobnikd needs"*"run 'jobnikd migrate'"* ]] ||
    fail "stderr: $stderr"
  run --separate-stderr "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" sweep --once
  assert_equal "$status" 1
  [[ $stderr == *"run 'jobnikd migrate'"* ]] || fail "stderr: $stderr"

  DATA=$(make_data_dir)
  run --separate-stderr "$JOBNIKD" --data-dir "$DATA" --retain-completed 7d prune --once
  wait_no_postgres_for "$DATA"
  rm -rf "$DATA"
  assert_success
  assert_output "deleted 0 finished job(s): 0 stage(s), 0 task(s), 0 event(s)"
}
