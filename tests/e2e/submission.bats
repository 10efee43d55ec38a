#!/usr/bin/env bats
# Large atomic submissions: a job's body is parsed as a stream (never one JSON tree) and its
# tasks are stored in chunks, so jobnikd's memory for a 100,000-task job stays bounded; a
# bad task deep in such a body is still found, named, and nothing is stored.

load helpers

setup() {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
  : >"$LOG"
  start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" serve --migrate --body-limit 16777216
}
teardown() { stop_jobnikd_on_own_schema; }

# jobnikd's peak resident set so far, in kB.
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$JOBNIKD_PID/status"; }

# big_job FILE COUNT [LAST]: a job of one stage with COUNT tasks {"data":{"i":N}} (the
# JSON task LAST, when given, replaces the last one).
big_job() {
  jq -nc --argjson n "$2" --argjson last "${3:-null}" \
    '{name: "big", data: {}, stages: [{type: "big", data: {},
      tasks: [range($n) | {data: {i: .}}] | (if $last != null then .[-1] = $last else . end)}]}' >"$1"
}

post_file() {  # post_file PATH FILE: prints the answer; the status in last_status
  curl -s -o "$BATS_TEST_TMPDIR/answer.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "@$2" "$JOBNIK_URL$1" >"$BATS_TEST_TMPDIR/last_status"
  cat "$BATS_TEST_TMPDIR/answer.json"
}

@test "a 100,001-task job submission is stored whole, in order, with bounded daemon memory" {
  # (The store inserts 5,000 tasks per statement: 20 full chunks and one of a single task.)
  big_job "$BATS_TEST_TMPDIR/job.json" 100001
  # Warm up (a pool connection, its prepared statements) before taking the baseline.
  api POST /v1/jobs '{"name":"warm","data":{},"stages":[{"type":"warm","data":{},"tasks":[{"data":{}}]}]}' >/dev/null
  assert_equal "$(last_status)" 201
  before=$(peak_rss_kb)

  job=$(post_file /v1/jobs "$BATS_TEST_TMPDIR/job.json")
  assert_equal "$(last_status)" 201
  after=$(peak_rss_kb)
  echo "body: $(stat -c %s "$BATS_TEST_TMPDIR/job.json") bytes; jobnikd VmHWM: $before kB before, $after kB after" >&3

  # Parsed into one JSON tree this 2 MB body grew the daemon by ~78 MB; the tasks stored in
  # one statement (its JSON text and libpq's copy of it) cost ~29 MB more than in chunks (on
  # the benchmark's body). Now ~27 MB: the body, the NewTask values and one chunk at a time.
  (( after - before < 36 * 1024 ))
  id=$(jq -r '.id' <<<"$job")
  # Every task, once, in the body's order.
  assert_equal "$(psql "$URL" -qAtc "SELECT count(*), count(DISTINCT data->>'i'),
      bool_and((data->>'i')::int = n - 1) FROM (SELECT data, row_number() OVER (ORDER BY seq) AS n
      FROM $SCHEMA.task WHERE stage_type = 'big') t")" "100001|100001|t"
  assert_equal "$(api GET "/v1/jobs/$id?should_return_stages=true" | jq -c '[.stages[0].summary.total, .stages[0].summary.pending]')" "[100001,100001]"
}

@test "a bad last task of a 100,000-task submission is named, and nothing is stored" {
  big_job "$BATS_TEST_TMPDIR/job.json" 100000 '{"data": {}, "maxAttempts": 0}'
  out=$(post_file /v1/jobs "$BATS_TEST_TMPDIR/job.json")
  assert_equal "$(last_status)" 400
  assert_equal "$(jq -r '.code' <<<"$out")" VALIDATION_ERROR
  [[ $(jq -r '.message' <<<"$out") == *request/body/stages/0/tasks/99999/maxAttempts* ]]

  # The same body cut short: the syntax error is what is reported, not the bad task.
  head -c -2 "$BATS_TEST_TMPDIR/job.json" >"$BATS_TEST_TMPDIR/cut.json"
  out=$(post_file /v1/jobs "$BATS_TEST_TMPDIR/cut.json")
  assert_equal "$(last_status)" 400
  [[ $(jq -r '.message' <<<"$out") == *"not valid JSON"* ]]

  assert_equal "$(psql "$URL" -qAtc "SELECT (SELECT count(*) FROM $SCHEMA.job), (SELECT count(*) FROM $SCHEMA.task)")" "0|0"
}
