#!/usr/bin/env bats
# jobnikd as a user runs it: embedded database, external database, signals.

load helpers

setup() {
  DATA="$(make_data_dir)/data"
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
}

teardown() {
  [[ -n "${JOBNIKD_PID:-}" ]] && stop_jobnikd KILL
  wait_no_postgres_for "$DATA" || true
  rm -rf "$(dirname "$DATA")"
}

@test "embedded mode: a job runs end to end, SIGTERM stops cleanly, state survives a restart" {
  start_jobnikd "$LOG" --data-dir "$DATA"
  job=$(api POST /v1/jobs '{"name":"smoke","data":{"n":1}}')
  assert_equal "$(last_status)" 201
  job_id=$(jq -r .id <<<"$job")
  stage_id=$(api POST "/v1/jobs/$job_id/stage" '{"type":"smoke","data":{}}' | jq -r .id)
  assert_equal "$(last_status)" 201
  api POST "/v1/stages/$stage_id/tasks" '[{"data":{"i":1}},{"data":{"i":2}}]' >/dev/null
  assert_equal "$(last_status)" 201
  for _ in 1 2; do
    task_id=$(api PATCH /v1/stages/smoke/tasks/dequeue | jq -r .id)
    assert_equal "$(last_status)" 200
    api PUT "/v1/tasks/$task_id/status" '{"status":"COMPLETED"}' >/dev/null
    assert_equal "$(last_status)" 200
  done
  job=$(api GET "/v1/jobs/$job_id")
  assert_equal "$(jq -r '.status + " " + (.percentage|tostring)' <<<"$job")" "COMPLETED 100"

  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  run grep -c "stopped" "$LOG"
  assert_success
  wait_no_postgres_for "$DATA"

  start_jobnikd "$LOG.2" --data-dir "$DATA"
  job=$(api GET "/v1/jobs/$job_id")
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -r .status <<<"$job")" "COMPLETED"
}

@test "embedded mode as root: a data directory the postgres user cannot reach is refused clearly" {
  [[ $EUID -eq 0 ]] || skip "only root hands the database to the postgres user"
  private="$BATS_TEST_TMPDIR/private"
  mkdir -p "$private"
  chmod 700 "$private"
  run "$JOBNIKD" --listen 127.0.0.1:0 --data-dir "$private/data"
  assert_failure 1
  assert_output --partial "cannot reach"
}

@test "embedded mode: a killed jobnikd takes its database with it and the next start recovers" {
  start_jobnikd "$LOG" --data-dir "$DATA"
  api POST /v1/jobs '{"name":"crash","data":{}}' >/dev/null
  assert_equal "$(last_status)" 201
  stop_jobnikd KILL
  run wait_no_postgres_for "$DATA"
  assert_success
  start_jobnikd "$LOG.2" --data-dir "$DATA"
  jobs=$(api GET "/v1/jobs?job_name=crash")
  assert_equal "$(last_status)" 200
  assert_equal "$(jq length <<<"$jobs")" 1
}

@test "external database: serve refuses an unmigrated schema, migrate fixes it" {
  url=$(test_database_url)
  schema=$(unique_schema)
  run "$JOBNIKD" --database-url "$url" --database-schema "$schema" serve
  assert_failure 1
  assert_output --partial "jobnikd migrate"
  run "$JOBNIKD" --database-url "$url" --database-schema "$schema" migrate
  assert_success
  assert_output --partial "applied 0001_init.sql"
  run "$JOBNIKD" --database-url "$url" --database-schema "$schema" migrate
  assert_success
  assert_output --partial "up to date"
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$schema"
  jobs=$(api GET /v1/jobs)
  assert_equal "$(last_status)" 200
  assert_equal "$jobs" "[]"
}

@test "external database: serve --migrate migrates first; readiness and metrics answer" {
  url=$(test_database_url)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" serve --migrate
  run curl -sf "$JOBNIK_URL/readiness"
  assert_success
  run curl -sf "$JOBNIK_URL/metrics"
  assert_success
  assert_output --partial "jobnik_build_info"
  run curl -sf "$JOBNIK_URL/openapi.yaml"
  assert_success
  assert_output --partial "openapi:"
}

@test "a daemon that cannot reach its database says so and exits 1" {
  run "$JOBNIKD" --listen 127.0.0.1:0 --database-url "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2" serve
  assert_failure 1
  assert_output --partial "jobnikd:"
}

@test "bad input never crashes the daemon" {
  url=$(test_database_url)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" serve --migrate
  for body in '' '{' '[]' 'null' '{"name":1,"data":{}}' "$(head -c 3000 /dev/urandom | base64 -w0)"; do
    api POST /v1/jobs "$body" >/dev/null
    assert_equal "$(last_status)" 400
  done
  api PATCH "/v1/stages/%00%ff/tasks/dequeue" >/dev/null
  api GET "/v1/jobs?from_date=%ZZ" >/dev/null
  printf 'GARBAGE / HTTP/9\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/${JOBNIK_URL##*:}; cat >&3; cat <&3" >/dev/null || true
  run curl -sf "$JOBNIK_URL/liveness"
  assert_success
  kill -0 "$JOBNIKD_PID"
}

@test "JSON logs: every line is a JSON object, one access line per request with its request id" {
  url=$(test_database_url)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" --log-format json serve --migrate
  run curl -s -D - -o /dev/null -H 'X-Request-Id: req-42' "$JOBNIK_URL/v1/jobs"
  assert_output --partial "X-Request-Id: req-42"
  api POST /v1/jobs '{"name":"logged","data":{}}' >/dev/null
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  run jq -e -s 'all(.[]; has("ts") and has("level") and has("msg"))' "$LOG"
  assert_success
  run jq -r 'select(.msg | startswith("access ")) | .msg' "$LOG"
  assert_output --partial "route=/v1/jobs status=200"
  assert_output --partial "request_id=req-42"
  assert_output --partial "method=POST route=/v1/jobs status=201"
  run jq -r 'select(.msg | contains("created")) | .msg' "$LOG"
  assert_output --partial "job "
  assert_output --regexp "job [0-9a-f-]{36} created"
}

@test "the listen backlog is raised above cpp-httplib's built-in 5" {
  command -v ss >/dev/null || skip "ss (iproute2) is not installed"
  url=$(test_database_url)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" serve --migrate
  port=${JOBNIK_URL##*:}
  backlog=$(ss -Hltn "sport = :$port" | awk '{print $3}' | head -n1)
  [[ -n "$backlog" ]]
  (( backlog > 5 ))
}

# big_job_body N: an atomic submission of one job with N tasks.
big_job_body() {
  jq -cn --argjson n "$1" '{name: "big", data: {}, stages: [{type: "big", data: {}, tasks: [range($n) | {data: {i: .}}]}]}'
}

# A request is in flight once jobnikd has accepted its connection: poll ss for it.
connection_established() { ss -Htn state established "( sport = :${JOBNIK_URL##*:} )" | grep -q .; }

@test "SIGTERM lets an in-flight request finish, then exits 0" {
  command -v ss >/dev/null || skip "ss (iproute2) is not installed"
  url=$(test_database_url)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" --shutdown-timeout 30 \
    --body-limit 10000000 serve --migrate
  big_job_body 20000 >"$BATS_TEST_TMPDIR/big.json"
  # About 3 s of upload at 250 kB/s: the request is still arriving when SIGTERM comes.
  curl -s -o "$BATS_TEST_TMPDIR/reply.json" -w '%{http_code}' --limit-rate 250k -X POST \
    -H 'Content-Type: application/json' --data-binary "@$BATS_TEST_TMPDIR/big.json" "$JOBNIK_URL/v1/jobs" \
    >"$BATS_TEST_TMPDIR/status" &
  curl_pid=$!
  poll 10 connection_established
  kill -TERM "$JOBNIKD_PID"
  wait "$curl_pid"
  assert_equal "$(cat "$BATS_TEST_TMPDIR/status")" 201
  assert_equal "$(jq '.stages[0].summary.total' "$BATS_TEST_TMPDIR/reply.json")" 20000
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  run grep -c "shutting down" "$LOG"
  assert_output 1
}

@test "SIGTERM gives up on requests that outlive the shutdown timeout and exits 1" {
  command -v ss >/dev/null || skip "ss (iproute2) is not installed"
  url=$(test_database_url)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" --shutdown-timeout 1 \
    --body-limit 10000000 serve --migrate
  big_job_body 20000 >"$BATS_TEST_TMPDIR/big.json"
  # About 30 s of upload: far longer than the 1 s allowed.
  curl -s -o /dev/null --limit-rate 25k -X POST -H 'Content-Type: application/json' \
    --data-binary "@$BATS_TEST_TMPDIR/big.json" "$JOBNIK_URL/v1/jobs" &
  curl_pid=$!
  poll 10 connection_established
  start=$SECONDS
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 1
  (( SECONDS - start < 15 ))
  run grep "did not finish within 1 s" "$LOG"
  assert_success
  kill "$curl_pid" 2>/dev/null || true
  wait "$curl_pid" || true
}

@test "a second jobnikd on a port already in use fails with the errno text and exit 1" {
  url=$(test_database_url)
  schema=$(unique_schema)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$schema" serve --migrate
  port=${JOBNIK_URL##*:}
  # cpp-httplib's SO_REUSEPORT would let this one listen too (and run until the timeout).
  run timeout 30 "$JOBNIKD" --listen "127.0.0.1:$port" --sweeper false --database-url "$url" \
    --database-schema "$schema" serve
  assert_failure 1
  assert_output --partial "jobnikd: cannot listen on 127.0.0.1:$port: Address already in use"
  run curl -sf "$JOBNIK_URL/liveness"
  assert_success
  run "$JOBNIKD" --listen "no-such-host.invalid:$port" --database-url "$url" --database-schema "$schema" serve
  assert_failure 1
  assert_output --partial "cannot listen on no-such-host.invalid:$port: cannot resolve host"
}

@test "SIGTERM closes idle keep-alive and half-sent connections at once and exits 0" {
  url=$(test_database_url)
  # Keep-alive and read timeouts (60 s, 30 s) far beyond the shutdown timeout: waiting
  # for either would end in exit 1 after 20 s.
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" --shutdown-timeout 20 \
    --keep-alive-timeout 60 serve --migrate
  port=${JOBNIK_URL##*:}
  # fd 7: a keep-alive connection, served once, now idle. fd 8: served once, then a request
  # whose headers stop halfway. (bats itself writes to fd 3.)
  exec 7<>"/dev/tcp/127.0.0.1/$port" 8<>"/dev/tcp/127.0.0.1/$port"
  for fd in 7 8; do
    printf 'GET /liveness HTTP/1.1\r\nHost: t\r\n\r\n' >&"$fd"
    IFS= read -r -t 10 status_line <&"$fd"
    assert_equal "${status_line%$'\r'}" "HTTP/1.1 200 OK"
  done
  printf 'POST /v1/jobs HTTP/1.1\r\nHost: t\r\nContent-Ty' >&8
  start=$(date +%s%N)
  stop_jobnikd TERM
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  exec 7<&- 8<&-
  echo "# shutdown took ${elapsed_ms} ms" >&3
  assert_equal "$STOP_STATUS" 0
  (( elapsed_ms < 5000 ))
  run grep -c "closed 2 connection(s) with no request in flight" "$LOG"
  assert_output 1
}

@test "a body is read as JSON whatever its Content-Type, multipart/form-data and form types included" {
  url=$(test_database_url)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" serve --migrate
  # Over 8 KB: cpp-httplib alone caps form-urlencoded bodies there.
  big_job_body 2000 >"$BATS_TEST_TMPDIR/job.json"
  (( $(stat -c %s "$BATS_TEST_TMPDIR/job.json") > 8192 ))
  for type in application/json text/plain application/x-www-form-urlencoded 'multipart/form-data; boundary=x' \
    multipart/form-data; do
    status=$(curl -s -o "$BATS_TEST_TMPDIR/reply.json" -w '%{http_code}' -X POST -H "Content-Type: $type" \
      --data-binary "@$BATS_TEST_TMPDIR/job.json" "$JOBNIK_URL/v1/jobs")
    assert_equal "$type: $status" "$type: 201"
    assert_equal "$(jq '.stages[0].summary.total' "$BATS_TEST_TMPDIR/reply.json")" 2000
  done
  # A real form upload is not JSON: a 400 about the body, like any other non-JSON body.
  status=$(curl -s -o "$BATS_TEST_TMPDIR/reply.json" -w '%{http_code}' -F name=x -F data=y "$JOBNIK_URL/v1/jobs")
  assert_equal "$status" 400
  assert_equal "$(jq -r .code "$BATS_TEST_TMPDIR/reply.json")" VALIDATION_ERROR
}

@test "an oversized body's 413 names the --body-limit flag" {
  url=$(test_database_url)
  start_jobnikd "$LOG" --database-url "$url" --database-schema "$(unique_schema)" --body-limit 2048 serve --migrate
  big_job_body 200 >"$BATS_TEST_TMPDIR/job.json"
  status=$(curl -s -o "$BATS_TEST_TMPDIR/reply.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "@$BATS_TEST_TMPDIR/job.json" "$JOBNIK_URL/v1/jobs")
  assert_equal "$status" 413
  run jq -r .message "$BATS_TEST_TMPDIR/reply.json"
  assert_output --partial "limit of 2048 bytes"
  assert_output --partial "--body-limit"
}

@test "the startup log masks a key=value connection string's quoted password" {
  url=$(test_database_url)
  [[ "$url" =~ ^postgresql://([^@]+)@([^:/]+):([0-9]+)/(.+)$ ]] || skip "unexpected test URL form: $url"
  conninfo="host=${BASH_REMATCH[2]} port=${BASH_REMATCH[3]} dbname=${BASH_REMATCH[4]} user=${BASH_REMATCH[1]}"
  # The test cluster trusts local connections: the password is sent, never checked.
  start_jobnikd "$LOG" --database-url "$conninfo password = 's3cret a b'" --database-schema "$(unique_schema)" \
    serve --migrate
  run grep "listening on" "$LOG"
  assert_success
  assert_output --partial "password = ****, schema"
  run grep -c -e "s3cret" -e "a b'" "$LOG"
  assert_output 0
}
