#!/usr/bin/env bats
# jobnikd's Prometheus exposition: well-formed (promtool) and counting what happens.

load helpers

setup() { start_jobnikd_on_own_schema; }
teardown() { stop_jobnikd_on_own_schema; }


scrape() { curl -sf "$JOBNIK_URL/metrics"; }

# metric 'NAME{LABELS}' [FILE]: the sample's value (as a number) from FILE or a fresh
# scrape; "absent" when there is no such sample. Labels as jobnikd writes them (sorted).
metric() {
  local text
  if [[ -n "${2:-}" ]]; then text=$(cat "$2"); else text=$(scrape); fi
  awk -v k="$1" '$1 == k { print $2 + 0; found = 1 } END { if (!found) print "absent" }' <<<"$text"
}

# queue_gauges_are TYPE PENDING IN_PROGRESS: one scrape shows these queue gauges.
queue_gauges_are() {
  local f="$BATS_TEST_TMPDIR/queue.txt"
  scrape >"$f" || return 1
  [[ "$(metric "jobnik_tasks{stage_type=\"$1\",status=\"PENDING\"}" "$f")" == "$2" &&
    "$(metric "jobnik_tasks{stage_type=\"$1\",status=\"IN_PROGRESS\"}" "$f")" == "$3" ]]
}

# Prints the path of a promtool binary: $PATH's, the cached one, or one extracted from
# Debian's prometheus package (apt-get download, not installed) into the cache.
find_promtool() {
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/jobnik" tmp
  if command -v promtool >/dev/null 2>&1; then
    command -v promtool
    return 0
  fi
  if [[ -x "$cache/promtool" ]]; then
    echo "$cache/promtool"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || return 1
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download -qq prometheus) >"$tmp/apt.log" 2>&1; then
    # apt-get download needs the package lists: fetch them once, then retry.
    apt-get update -qq >>"$tmp/apt.log" 2>&1 || true
    if ! (cd "$tmp" && apt-get download -qq prometheus) >>"$tmp/apt.log" 2>&1; then
      cat "$tmp/apt.log" >&2
      rm -rf "$tmp"
      return 1
    fi
  fi
  if ! dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool; then
    rm -rf "$tmp"
    return 1
  fi
  mkdir -p "$cache"
  # Atomic, so concurrent runs never see a half-written binary.
  mv "$tmp/usr/bin/promtool" "$cache/promtool.$$" && mv -f "$cache/promtool.$$" "$cache/promtool"
  rm -rf "$tmp"
  echo "$cache/promtool"
}

@test "the exposition passes promtool check metrics" {
  promtool=$(find_promtool) || skip "promtool unavailable: neither installed nor downloadable with 'apt-get download prometheus'"
  "$promtool" --version >/dev/null

  # With every kind of sample present: labelled counters, histograms, gauges (an
  # unfinished stage, so the queue gauges have a stage type).
  api POST /v1/jobs '{"name":"metrics","data":{},"stages":[{"type":"lint","data":{},"tasks":[{"data":{}},{"data":{}}]}]}' >/dev/null
  assert_equal "$(last_status)" 201
  task_id=$(api PATCH /v1/stages/lint/tasks/dequeue | jq -r .id)
  assert_equal "$(last_status)" 200
  api PUT "/v1/tasks/$task_id/status" '{"status":"COMPLETED"}' >/dev/null
  assert_equal "$(last_status)" 200
  api PATCH /v1/stages/lint-none/tasks/dequeue >/dev/null
  assert_equal "$(last_status)" 404
  api GET /v1/jobs/not-a-uuid >/dev/null
  assert_equal "$(last_status)" 400

  scrape >"$BATS_TEST_TMPDIR/metrics.txt"
  grep -q '^jobnik_http_request_duration_seconds_bucket' "$BATS_TEST_TMPDIR/metrics.txt"
  grep -q '^jobnik_tasks{' "$BATS_TEST_TMPDIR/metrics.txt"
  run "$promtool" check metrics <"$BATS_TEST_TMPDIR/metrics.txt"
  assert_success
  refute_output --partial "error"
}

@test "metric values move as work happens" {
  T=metered
  # Nothing yet.
  scrape >"$BATS_TEST_TMPDIR/before.txt"
  for name in jobnik_jobs_created_total jobnik_tasks_created_total jobnik_tasks_dequeued_total \
    jobnik_tasks_completed_total jobnik_dequeue_misses_total; do
    assert_equal "$name $(metric "$name" "$BATS_TEST_TMPDIR/before.txt")" "$name 0"
  done
  assert_equal "$(metric 'jobnik_http_requests_total{method="POST",route="/v1/jobs",status="201"}' \
    "$BATS_TEST_TMPDIR/before.txt")" absent

  api POST /v1/jobs "{\"name\":\"metrics\",\"data\":{},\"stages\":[{\"type\":\"$T\",\"data\":{},\"tasks\":[{\"data\":{\"i\":1}},{\"data\":{\"i\":2}}]}]}" >/dev/null
  assert_equal "$(last_status)" 201
  task_id=$(api PATCH "/v1/stages/$T/tasks/dequeue" | jq -r .id)
  assert_equal "$(last_status)" 200
  api PUT "/v1/tasks/$task_id/status" '{"status":"COMPLETED"}' >/dev/null
  assert_equal "$(last_status)" 200
  api PATCH /v1/stages/nothing-here/tasks/dequeue >/dev/null
  assert_equal "$(last_status)" 404

  scrape >"$BATS_TEST_TMPDIR/after.txt"
  m() { metric "$1" "$BATS_TEST_TMPDIR/after.txt"; }
  assert_equal "jobs_created $(m jobnik_jobs_created_total)" "jobs_created 1"
  assert_equal "stages_created $(m jobnik_stages_created_total)" "stages_created 1"
  assert_equal "tasks_created $(m jobnik_tasks_created_total)" "tasks_created 2"
  assert_equal "tasks_dequeued $(m jobnik_tasks_dequeued_total)" "tasks_dequeued 1"
  assert_equal "tasks_completed $(m jobnik_tasks_completed_total)" "tasks_completed 1"
  assert_equal "tasks_failed $(m jobnik_tasks_failed_total)" "tasks_failed 0"
  assert_equal "dequeue_misses $(m jobnik_dequeue_misses_total)" "dequeue_misses 1"
  assert_equal "$(m 'jobnik_http_requests_total{method="POST",route="/v1/jobs",status="201"}')" 1
  assert_equal "$(m 'jobnik_http_requests_total{method="PATCH",route="/v1/stages/{stageType}/tasks/dequeue",status="200"}')" 1
  assert_equal "$(m 'jobnik_http_requests_total{method="PATCH",route="/v1/stages/{stageType}/tasks/dequeue",status="404"}')" 1
  assert_equal "$(m 'jobnik_http_requests_total{method="PUT",route="/v1/tasks/{taskId}/status",status="200"}')" 1
  assert_equal "$(m 'jobnik_http_request_duration_seconds_count{method="POST",route="/v1/jobs"}')" 1

  # The queue gauges refresh at most every 5 s: one PENDING task left, none in progress.
  poll 20 queue_gauges_are "$T" 1 0
}

# Distinct stage_type values of the jobnik_tasks series in FILE.
task_series_types() { grep '^jobnik_tasks{' "$1" | sed 's/.*stage_type="\([^"]*\)".*/\1/' | sort -u; }

@test "queue gauges stay bounded: stage types beyond the cap are summed, idle types are removed" {
  stop_jobnikd
  JOBNIK_METRICS_STAGE_TYPES_MAX=5 JOBNIK_METRICS_STAGE_TYPE_IDLE_TTL=1 \
    start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" serve
  for i in $(seq 1 12); do
    api POST /v1/jobs "{\"name\":\"card-$i\",\"data\":{},\"stages\":[{\"type\":\"card-$i\",\"data\":{},\"tasks\":[{\"data\":{}},{\"data\":{}}]}]}" >/dev/null
    assert_equal "$(last_status)" 201
  done
  # 5 types with series of their own, the work of the other 7 summed in __other__.
  other_pending_is() { [[ "$(metric "jobnik_tasks{stage_type=\"__other__\",status=\"PENDING\"}")" == "$1" ]]; }
  poll 20 other_pending_is 14
  scrape >"$BATS_TEST_TMPDIR/capped.txt"
  assert_equal "$(task_series_types "$BATS_TEST_TMPDIR/capped.txt" | grep -vc '^__other__$')" 5
  assert_equal "$(grep -c '^jobnik_tasks{' "$BATS_TEST_TMPDIR/capped.txt")" 18
  total=$(awk '/^jobnik_tasks\{.*status="PENDING"/ { n += $2 } END { print n }' "$BATS_TEST_TMPDIR/capped.txt")
  assert_equal "$total" 24
  grep -q 'more than 5 stage types have unfinished work' "$LOG"

  # Finish all the work: after the idle time every series of those types goes away.
  for i in $(seq 1 12); do
    for _ in 1 2; do
      id=$(api PATCH "/v1/stages/card-$i/tasks/dequeue" | jq -r .id)
      assert_equal "$(last_status)" 200
      api PUT "/v1/tasks/$id/status" '{"status":"COMPLETED"}' >/dev/null
      assert_equal "$(last_status)" 200
    done
  done
  no_task_series() { ! scrape | grep -q '^jobnik_tasks{'; }
  poll 30 no_task_series
  # The other families are untouched.
  scrape | grep -q '^jobnik_jobs{'
}
