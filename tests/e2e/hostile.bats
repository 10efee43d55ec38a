#!/usr/bin/env bats
# Hostile input (issue #9): no request crashes jobnikd or gets a 5xx, every error is a JSON
# body even when it echoes bytes that are not UTF-8, and a log message stays one line.

load helpers

# The hostile_requests test tool (tests/tools); CTest builds it next to the programs.
: "${JOBNIK_HOSTILE_REQUESTS:=$JOBNIK_BIN_DIR/../tests/tools/hostile_requests}"
# The benchmark's connection holder (bench/siege.cc), built with the programs.
: "${JOBNIK_SIEGE:=$JOBNIK_BIN_DIR/../bench/jobnik-siege}"

setup() {
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
}

teardown() {
  [[ -n "${SIEGE_PID:-}" ]] && kill "$SIEGE_PID" 2>/dev/null
  [[ -n "${JOBNIKD_PID:-}" ]] && stop_jobnikd KILL
  return 0
}

# start_daemon [GLOBAL OPTIONS...]: jobnikd on the shared test cluster, in a fresh schema.
start_daemon() {
  start_jobnikd "$LOG" --database-url "$(test_database_url)" --database-schema "$(unique_schema)" "$@" serve --migrate
}

# nested N: N arrays nested in each other.
nested() { printf '%*s' "$1" '' | tr ' ' '['; printf '%*s' "$1" '' | tr ' ' ']'; }

# post_file METHOD PATH FILE: like api, with the body taken byte for byte from FILE.
post_file() {
  local out status
  out=$(mktemp)
  status=$(curl -s -o "$out" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
    --data-binary "@$3" "$JOBNIK_URL$2")
  echo "$status" >"$BATS_TEST_TMPDIR/last_status"
  cat "$out"
  rm -f "$out"
}

# An error body on stdin: valid UTF-8 (jq alone would let bad bytes through) and a JSON
# object with a code and a message.
is_error_body() {
  local f rc=0
  f=$(mktemp)
  cat >"$f"
  iconv -f UTF-8 -t UTF-8 "$f" >/dev/null || rc=1
  jq -e 'type == "object" and (.code | type == "string") and (.message | type == "string")' "$f" >/dev/null || rc=1
  rm -f "$f"
  return $rc
}

@test "every route answers the whole family of hostile input with a 4xx JSON error and stays up" {
  [[ -x "$JOBNIK_HOSTILE_REQUESTS" ]] || fail "hostile_requests not built: $JOBNIK_HOSTILE_REQUESTS"
  start_daemon
  run timeout 60 "$JOBNIK_HOSTILE_REQUESTS" --url "$JOBNIK_URL"
  echo "$output" | tail -n 40
  assert_success
  assert_output --partial " 0 failures"
  kill -0 "$JOBNIKD_PID"
  run curl -sf "$JOBNIK_URL/liveness"
  assert_success
  # Not one answer was a 5xx, and no handler failed unexpectedly.
  run grep -E 'status=5[0-9]{2}|unexpected error|unhandled error' "$LOG"
  assert_failure
  run grep -c 'access method=' "$LOG"
  (( output > 500 ))
}

@test "nesting: a job right at the depth limit is stored, one level more is a 400 naming the limit" {
  start_daemon
  printf '{"name":"deep","data":{"x":%s}}' "$(nested 510)" >"$BATS_TEST_TMPDIR/at-limit.json"
  printf '{"name":"deep","data":{"x":%s}}' "$(nested 511)" >"$BATS_TEST_TMPDIR/over-limit.json"
  job=$(post_file POST /v1/jobs "$BATS_TEST_TMPDIR/at-limit.json")
  assert_equal "$(last_status)" 201
  id=$(grep -o '"id":"[0-9a-f-]*"' <<<"$job" | head -n1 | cut -d'"' -f4)
  run curl -s -o /dev/null -w '%{http_code}' "$JOBNIK_URL/v1/jobs/$id"
  assert_output 200
  printf '{"x":%s}' "$(nested 511)" >"$BATS_TEST_TMPDIR/md-at-limit.json"
  post_file PATCH "/v1/jobs/$id/user-metadata" "$BATS_TEST_TMPDIR/md-at-limit.json" >/dev/null
  assert_equal "$(last_status)" 200

  body=$(post_file POST /v1/jobs "$BATS_TEST_TMPDIR/over-limit.json")
  assert_equal "$(last_status)" 400
  assert_equal "$(jq -r .code <<<"$body")" VALIDATION_ERROR
  assert_equal "$(jq -r .message <<<"$body")" \
    "request/body nests arrays and objects deeper than the limit of 512 levels (at offset 537)"

  # The issue's reproduction: 25,000 levels in 50 KB.
  printf '{"name":"ab","data":{"x":%s}}' "$(nested 25000)" >"$BATS_TEST_TMPDIR/issue.json"
  body=$(post_file POST /v1/jobs "$BATS_TEST_TMPDIR/issue.json")
  assert_equal "$(last_status)" 400
  run curl -sf "$JOBNIK_URL/liveness"
  assert_success
  # Only the job at the limit was stored (jq cannot read it: jq 1.6 stops at 256 levels).
  assert_equal "$(api GET /v1/jobs | grep -o '"creationTime"' | wc -l)" 1
}

@test "numbers out of range are a 400 naming the number, huge integers are stored" {
  start_daemon
  for n in 1e400 -1e400 1e999999; do
    body=$(api POST /v1/jobs "{\"name\":\"ab\",\"data\":{\"x\":$n}}")
    assert_equal "$(last_status)" 400
    assert_equal "$(jq -r .code <<<"$body")" VALIDATION_ERROR
    [[ "$(jq -r .message <<<"$body")" == *"number out of range"*"$n"* ]]
  done
  body=$(api POST /v1/jobs '{"name":"ab","data":{"x":123456789012345678901234567890,"y":1e-400}}')
  assert_equal "$(last_status)" 201
  run jq -e '.data.x > 1.2e29 and .data.x < 1.3e29 and .data.y == 0' <<<"$body"
  assert_success
}

@test "dates outside years 1 to 9999 are a 400 naming the parameter" {
  start_daemon
  for list in jobs tasks; do
    for value in 0000-06-01T00:00:00Z 0001-01-01T00:00:00%2B01:00 9999-12-31T23:59:59-01:00 0000-01-01; do
      for param in from_date end_date; do
        body=$(api GET "/v1/$list?$param=$value")
        assert_equal "$(last_status)" 400
        assert_equal "$(jq -r .code <<<"$body")" VALIDATION_ERROR
        assert_equal "$(jq -r .message <<<"$body")" \
          "request/query/$param must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z"
      done
    done
  done
  api GET "/v1/tasks?from_date=0001-01-01T00:00:00Z&end_date=9999-12-31T23:59:59.999999Z" >/dev/null
  assert_equal "$(last_status)" 200
}

@test "a date alone in from_date and end_date means that whole day UTC" {
  start_daemon
  job=$(api POST /v1/jobs '{"name":"dated","data":{}}')
  day=$(jq -r '.creationTime[0:10]' <<<"$job")
  prev=$(date -u -d "$day - 1 day" +%F)
  next=$(date -u -d "$day + 1 day" +%F)
  assert_equal "$(api GET "/v1/jobs?from_date=$day" | jq length)" 1
  assert_equal "$(last_status)" 200
  assert_equal "$(api GET "/v1/jobs?from_date=$day&end_date=$day" | jq length)" 1
  assert_equal "$(api GET "/v1/jobs?end_date=$next" | jq length)" 1
  assert_equal "$(api GET "/v1/jobs?end_date=$prev" | jq length)" 0
  assert_equal "$(api GET "/v1/jobs?from_date=$next" | jq length)" 0
  assert_equal "$(api GET "/v1/tasks?from_date=$day&end_date=$next" | jq length)" 0
  assert_equal "$(last_status)" 200
  body=$(api GET "/v1/jobs?from_date=2026-02-30")
  assert_equal "$(last_status)" 400
  [[ "$(jq -r .message <<<"$body")" == "request/query/from_date must match format \"date-time\""* ]]
}

@test "bytes that are not UTF-8 in a body, path or query name still give a JSON error body" {
  start_daemon
  printf '{"name":"a\xff\xfe","data":{}}' >"$BATS_TEST_TMPDIR/bad.json"
  post_file POST /v1/jobs "$BATS_TEST_TMPDIR/bad.json" | is_error_body
  assert_equal "$(last_status)" 400
  for path in '/v1/%FF%FE' '/v1/jobs?%C0%AF=1' '/v1/jobs/%ED%A0%80' '/v1/stages/%FF/tasks/dequeue'; do
    curl -s "$JOBNIK_URL$path" | is_error_body
  done
  curl -s -X DELETE "$JOBNIK_URL/v1/jobs/%FF" | is_error_body
  curl -s -X PUT "$JOBNIK_URL/v1/%FF" | is_error_body
  # A raw 0xFF in the request target (curl would encode it): straight onto the socket.
  exec 5<>"/dev/tcp/127.0.0.1/${JOBNIK_URL##*:}"
  printf 'GET /v1/jobs?\xff\xfe=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&5
  response=$(timeout 5 cat <&5 | tr -d '\r')
  exec 5<&-
  [[ "$response" == "HTTP/1.1 400"* ]]
  sed '1,/^$/d' <<<"$response" | is_error_body
}

@test "a body with a NUL byte and trailing garbage is rejected and stores nothing" {
  start_daemon
  printf '{"name":"ab","data":{}}\0garbage' >"$BATS_TEST_TMPDIR/nul.json"
  body=$(post_file POST /v1/jobs "$BATS_TEST_TMPDIR/nul.json")
  assert_equal "$(last_status)" 400
  assert_equal "$(jq -r .message <<<"$body")" "request/body is not valid JSON: NUL byte at offset 23"
  assert_equal "$(api GET /v1/jobs)" "[]"
}

@test "text logs: a job name with a newline or ESC cannot forge a line" {
  start_daemon --log-format text
  # A name of 2..50 characters may hold any character but U+0000.
  api POST /v1/jobs "$(jq -cn '{name: "ab\n2026-11-30T00:00:00Z info  jobnikd: FORGED\u001b[2J", data: {}}')" >/dev/null
  assert_equal "$(last_status)" 201
  stop_jobnikd TERM
  run grep -c FORGED "$LOG"
  assert_output 1
  run grep FORGED "$LOG"
  assert_output --regexp '^[0-9T:.-]+Z info  jobnikd: job [0-9a-f-]{36} created \(name ab\\n2026-11-30T00:00:00Z info  jobnikd: FORGED\\x1b\[2J, 0 stages\)$'
  run grep -c $'\x1b' "$LOG"
  assert_output 0
}

@test "JSON logs: a job name with a newline stays inside one JSON line" {
  start_daemon --log-format json
  api POST /v1/jobs "$(jq -cn '{name: "ab\n{\"level\":\"error\",\"msg\":\"FORGED\"}\u001b", data: {}}')" >/dev/null
  assert_equal "$(last_status)" 201
  stop_jobnikd TERM
  run grep -c FORGED "$LOG"
  assert_output 1
  run jq -e -s 'all(.[]; has("ts") and has("msg"))' "$LOG"
  assert_success
  run jq -r 'select(.msg | contains("FORGED")) | .level' "$LOG"
  assert_output info
}

# status_of ARGS...: curl's HTTP status of a request to this jobnikd (extra curl args first).
status_of() { curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' "$@"; }
jobs_named() { curl -s "$JOBNIK_URL/v1/jobs?job_name=$1" | jq length; }

@test "DNS rebinding: a request for another Host name is a 403 naming it, and stores nothing" {
  start_daemon
  local port=${JOBNIK_URL##*:}
  [[ $(status_of -H "Host: evil.example:$port" "$JOBNIK_URL/v1/jobs") == 403 ]]
  jq -e '.code == "FORBIDDEN" and (.message | contains("evil.example")) and (.message | contains("http.allowed_hosts"))' \
    "$BATS_TEST_TMPDIR/body"
  [[ $(status_of -H "Host: evil.example:$port" -XPOST -H 'Content-Type: application/json' \
    -d '{"name":"rebound","data":{}}' "$JOBNIK_URL/v1/jobs") == 403 ]]
  [[ $(jobs_named rebound) == 0 ]]
  # Loopback names are answered.
  [[ $(status_of -H "Host: localhost:$port" "$JOBNIK_URL/v1/jobs") == 200 ]]
  curl -s "$JOBNIK_URL/metrics" | grep -qx 'jobnik_http_requests_refused_total 2'
  grep -q "refused POST /v1/jobs from 127.0.0.1: Host 'evil.example:$port'" "$LOG"
}

@test "a state change from another site's page is a 403 and stores nothing; same origin and scripts pass" {
  start_daemon
  local port=${JOBNIK_URL##*:}
  post() { status_of -XPOST -H 'Content-Type: text/plain' -d "{\"name\":\"$1\",\"data\":{}}" "${@:2}" "$JOBNIK_URL/v1/jobs"; }
  [[ $(post cross -H 'Origin: https://evil.example') == 403 ]]
  jq -e '.code == "FORBIDDEN" and (.message | contains("https://evil.example"))' "$BATS_TEST_TMPDIR/body"
  [[ $(post cross -H 'Origin: null') == 403 ]]
  [[ $(post cross -H "Origin: http://127.0.0.1:1") == 403 ]]
  [[ $(post cross -H 'Sec-Fetch-Site: cross-site') == 403 ]]
  [[ $(jobs_named cross) == 0 ]]
  # A read from another page is answered (the browser keeps it from the page: no CORS).
  [[ $(status_of -H 'Origin: https://evil.example' "$JOBNIK_URL/v1/jobs") == 200 ]]
  [[ -z "$(curl -s -D - -o /dev/null -H 'Origin: https://evil.example' "$JOBNIK_URL/v1/jobs" | grep -i '^access-control')" ]]
  # The same origin (the dashboard) and clients without these headers.
  [[ $(post same -H "Origin: http://127.0.0.1:$port" -H 'Sec-Fetch-Site: same-origin') == 201 ]]
  [[ $(post script) == 201 ]]
  [[ $(jobs_named same) == 1 && $(jobs_named script) == 1 ]]
}

@test "--allowed-hosts and --allowed-origins widen what is answered" {
  start_daemon --allowed-hosts 'jobs.example, 127.0.0.1' --allowed-origins https://ops.example
  local port=${JOBNIK_URL##*:}
  [[ $(status_of -H "Host: jobs.example:$port" "$JOBNIK_URL/v1/jobs") == 200 ]]
  # The list replaces the defaults: a loopback name not in it is refused, but health checks
  # answer whatever the Host.
  [[ $(status_of -H "Host: localhost:$port" "$JOBNIK_URL/v1/jobs") == 403 ]]
  [[ $(status_of -H "Host: localhost:$port" "$JOBNIK_URL/liveness") == 200 ]]
  [[ $(status_of -H "Host: localhost:$port" "$JOBNIK_URL/readiness") == 200 ]]
  [[ $(status_of -XPOST -H "Host: jobs.example:$port" -H 'Origin: https://ops.example' -d '{"name":"ops","data":{}}' \
    "$JOBNIK_URL/v1/jobs") == 201 ]]
}

# hold_connections SECONDS ARGS...: jobnik-siege holds hostile connections against this
# jobnikd in the background for SECONDS (no probes), then prints what it saw.
hold_connections() {
  [[ -x "$JOBNIK_SIEGE" ]] || fail "jobnik-siege not built: $JOBNIK_SIEGE"
  "$JOBNIK_SIEGE" --url "$JOBNIK_URL" --ramp-s 1 --hold-s "$@" >"$BATS_TEST_TMPDIR/siege.json" 2>&1 &
  SIEGE_PID=$!
}
# metric NAME: a sample's value in /metrics (NAME with its labels, as printed).
metric() { curl -s --max-time 5 "$JOBNIK_URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
# metric_at_least NAME N
metric_at_least() { local v; v=$(metric "$1"); (( ${v:-0} >= $2 )); }
# connections_held N: at least N connections to this jobnikd are established (its side,
# from /proc/net/tcp, whatever jobnikd reports itself).
connections_held() {
  local port_hex
  port_hex=$(printf '%04X' "${JOBNIK_URL##*:}")
  (( $(awk -v p=":$port_hex" '$4 == "01" && substr($2, length($2) - 4) == p' /proc/net/tcp | wc -l) >= $1 ))
}

@test "with 200 idle keep-alive and 100 slowloris connections held, normal requests answer at once" {
  start_daemon
  # Idle: one request, then silence, another request every 2 s; slowloris: a header line
  # every 20 s. Together far above the 64 threads kept ready.
  hold_connections 120 --idle 200 --slowloris 100 --resend-s 2
  poll 30 connections_held 300
  for _ in $(seq 10); do
    run curl -sf --max-time 5 "$JOBNIK_URL/v1/jobs"
    assert_success
    assert_output "[]"
  done
  run curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X PATCH "$JOBNIK_URL/v1/stages/nothing/tasks/dequeue"
  assert_output 404
  (( $(metric 'jobnik_http_threads{state="busy"}') >= 300 ))
  # SIGTERM closes the idle and slowloris connections and exits at once, not after
  # shutdown_timeout.
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  grep -q "closed [0-9]* connection(s) with no request in flight" "$LOG"
}

@test "a request head still arriving after --header-timeout is closed, counted and logged" {
  start_daemon --header-timeout 1
  local port=${JOBNIK_URL##*:} start
  exec 5<>"/dev/tcp/127.0.0.1/$port"
  start=$SECONDS
  printf 'GET /v1/jobs HTTP/1.1\r\nHost: localhost\r\n' >&5
  # cat returns once jobnikd closes the connection: no answer, well before the 30 s read
  # timeout (timeout's 10 s would make this fail).
  run timeout 10 cat <&5
  exec 5<&-
  assert_success
  assert_output ""
  (( SECONDS - start < 8 ))
  assert_equal "$(metric 'jobnik_http_connections_closed_total{reason="header_timeout"}')" 1
  poll 15 grep -q "closed 1 connection(s) whose request head took longer than 1 s" "$LOG"
  run curl -sf --max-time 2 "$JOBNIK_URL/v1/jobs"
  assert_success
}

@test "while more than --shed-idle-above connections are open, the idle ones beyond are closed" {
  start_daemon --shed-idle-above 20
  # 60 idle connections that do not come back once closed.
  hold_connections 4 --idle 60 --slowloris 0 --resend-s 0 --reconnect-ms 1000000
  poll 20 metric_at_least 'jobnik_http_connections_closed_total{reason="idle"}' 40
  (( $(metric 'jobnik_http_connections{state="idle"}') <= 20 ))
  run curl -sf --max-time 2 "$JOBNIK_URL/v1/jobs"
  assert_success
  wait "$SIEGE_PID"
  SIEGE_PID=
  jq -e '.closed_by_server.idle >= 40' "$BATS_TEST_TMPDIR/siege.json"
}
