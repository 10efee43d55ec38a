#!/usr/bin/env bats
# Lists that scale: a long v1 list is streamed in batches, so jobnikd's memory stays
# bounded however many rows it sends (docs/design.md, "Lists").

load helpers

setup() { start_jobnikd_on_own_schema; }
teardown() { stop_jobnikd_on_own_schema; }

# jobnikd's peak resident set so far, in kB.
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$JOBNIKD_PID/status"; }

@test "a 100,000-task list is streamed whole with bounded daemon memory" {
  # Seeded in SQL (the API would take minutes): 100,000 COMPLETED tasks in 10 stages.
  psql -X -q -v ON_ERROR_STOP=1 -d "$URL" -v schema="$SCHEMA" -v completed=100000 -v pending=0 \
    -v per_stage=10000 -v history_types=3 -v pending_types=1 \
    -f "${JOBNIK_SOURCE_DIR:-$BATS_TEST_DIRNAME/../..}/bench/seed-history.sql" >/dev/null
  # Warm up (a pool connection, its prepared statements) before taking the baseline.
  api GET '/v1/tasks?stage_type=warm-up' >/dev/null
  assert_equal "$(last_status)" 200
  before=$(peak_rss_kb)

  curl -sS --fail -o "$BATS_TEST_TMPDIR/tasks.json" -D "$BATS_TEST_TMPDIR/headers.txt" "$JOBNIK_URL/v1/tasks"
  after=$(peak_rss_kb)
  size=$(stat -c %s "$BATS_TEST_TMPDIR/tasks.json")
  echo "body: $size bytes; jobnikd VmHWM: $before kB before, $after kB after" >&3

  # The body is ~41 MB; building it in memory (rows, entities and text) took several
  # times that (~198 MB more at 150,000 tasks). Streamed, the peak grows by a few batches at most.
  (( size > 30 * 1024 * 1024 ))
  (( after - before < 24 * 1024 ))
  # The whole v1 answer, each task once.
  assert_equal "$(jq -c '[length, ([.[].id] | unique | length)]' "$BATS_TEST_TMPDIR/tasks.json")" "[100000,100000]"
  grep -qi '^transfer-encoding: chunked' "$BATS_TEST_TMPDIR/headers.txt"
}

@test "a database error after the first byte cuts the streamed list short, never a valid array" {
  psql -X -q -v ON_ERROR_STOP=1 -d "$URL" -v schema="$SCHEMA" -v completed=60000 -v pending=0 \
    -v per_stage=10000 -v history_types=1 -v pending_types=1 \
    -f "${JOBNIK_SOURCE_DIR:-$BATS_TEST_DIRNAME/../..}/bench/seed-history.sql" >/dev/null
  # A slow reader (~20 MB at 4 MB/s): once the answer has begun, a column the list reads
  # goes away, so the next batch fails (each batch is its own transaction).
  curl -sS --limit-rate 4M -o "$BATS_TEST_TMPDIR/tasks.json" -w '%{http_code}' "$JOBNIK_URL/v1/tasks" \
    >"$BATS_TEST_TMPDIR/code.txt" 2>"$BATS_TEST_TMPDIR/curl.err" &
  curl_pid=$!
  started() { [[ -s "$BATS_TEST_TMPDIR/tasks.json" ]]; }
  poll 10 started
  psql -X -q -v ON_ERROR_STOP=1 -d "$URL" -c "ALTER TABLE $SCHEMA.task RENAME COLUMN data TO data_gone"
  status=0
  wait "$curl_pid" || status=$?
  # Status 200 was sent with the first batch; the body ends without the last chunk.
  assert_equal "$(cat "$BATS_TEST_TMPDIR/code.txt")" 200
  (( status != 0 ))
  run jq length "$BATS_TEST_TMPDIR/tasks.json"
  assert_failure
  poll 5 grep -q "list cut short after a database error" "$LOG"
  # The daemon is fine.
  api GET /liveness >/dev/null
  assert_equal "$(last_status)" 200
}
