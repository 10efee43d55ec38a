#!/usr/bin/env bats
# The web dashboard's server side on the real binary: GET /v1/queues, the files under
# /ui/ with their security headers, and --ui false / JOBNIK_UI_ENABLED=false.
# (The dashboard in a browser: tests/browser/dashboard_test.py.)

load helpers

teardown() {
  stop_jobnikd_on_own_schema
}

@test "GET /v1/queues counts the unfinished work by stage type" {
  start_jobnikd_on_own_schema
  run api GET /v1/queues
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -c .stageTypes <<<"$output")" "[]"
  api POST /v1/jobs '{"name":"queue-test","data":{},"stages":[{"type":"qa","data":{},"tasks":[{"data":{}},{"data":{}}]}]}' >/dev/null
  assert_equal "$(last_status)" 201
  api PATCH /v1/stages/qa/tasks/dequeue >/dev/null
  assert_equal "$(last_status)" 200
  run api GET /v1/queues
  assert_equal "$(jq -c '.stageTypes[] | select(.stageType == "qa") | [.pending, .inProgress, .retried]' <<<"$output")" "[1,1,0]"
  assert_equal "$(jq '.stageTypes[0].oldestPendingSeconds >= 0' <<<"$output")" true
  assert_equal "$(jq '.jobs.IN_PROGRESS' <<<"$output")" 1
}

@test "the dashboard is served under /ui/ with a strict Content-Security-Policy" {
  start_jobnikd_on_own_schema
  run curl -s -D - -o /dev/null "$JOBNIK_URL/ui/"
  assert_output --partial "200"
  assert_output --regexp "Content-Security-Policy: default-src 'none'; script-src 'self';"
  assert_output --partial "frame-ancestors 'none'"
  assert_output --partial "X-Content-Type-Options: nosniff"
  refute_output --partial "unsafe-inline"
  # A job's page is a real URL; / leads to the dashboard.
  run curl -sf "$JOBNIK_URL/ui/jobs/6a13d6fe-76b6-4c83-b62d-1a2d4d3a4a11"
  assert_success
  assert_output --partial '<script type="module" src="/ui/app.js">'
  run curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$JOBNIK_URL/"
  assert_output "302 $JOBNIK_URL/ui/"
  run curl -sf "$JOBNIK_URL/ui/views.js"
  assert_success
  assert_output --partial "export const routes"
}

@test "--ui false and JOBNIK_UI_ENABLED=false turn the dashboard off, not the API" {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
  start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" --ui false serve --migrate
  run curl -s -o /dev/null -w '%{http_code}' "$JOBNIK_URL/ui/"
  assert_output 404
  run curl -s -o /dev/null -w '%{http_code}' "$JOBNIK_URL/v1/queues"
  assert_output 200
  stop_jobnikd
  JOBNIK_UI_ENABLED=false start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" serve
  run curl -s -o /dev/null -w '%{http_code}' "$JOBNIK_URL/ui/app.js"
  assert_output 404
  run "$JOBNIKD" --ui false --print-config
  assert_success
  assert_output --partial "enabled: false"
}
