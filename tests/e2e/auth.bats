#!/usr/bin/env bats
# Bearer tokens and roles, end to end: `jobnikd token create/list/revoke`, jobnikd with
# --auth required, auto and off, jobnikctl and curl with and without a token, a revocation
# taking effect on two instances at once, and the embedded database of a running jobnikd.
bats_require_minimum_version 1.5.0

load helpers

setup() { instances_setup; }
teardown() {
  instances_teardown
  [[ -z "${DATA:-}" ]] || rm -rf "$DATA"
}

# token ARGS...: `jobnikd token ARGS` on the test schema.
token() { "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" token "$@"; }

migrate() { "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" migrate >/dev/null; }

# status_of TOKEN METHOD URL [BODY]: the HTTP status curl gets.
status_of() {
  local tok=$1 method=$2 url=$3 body=${4:-}
  local args=(-s -o /dev/null -w '%{http_code}' -X "$method")
  [[ -n "$tok" ]] && args+=(-H "Authorization: Bearer $tok")
  [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data "$body")
  curl "${args[@]}" "$url"
}

@test "token create prints the token once, list shows it without the secret, revoke ends it" {
  migrate
  run --separate-stderr token create --name ci-nightly --role producer --expires 30d
  assert_success
  assert_output --regexp '^jnk_[0-9a-f]{64}$'
  [[ "$stderr" == *"token 'ci-nightly' (role producer, expires "*"created; it is shown only now"* ]]
  secret=$output
  run token list
  assert_success
  assert_line --regexp '^ci-nightly +producer +active '
  refute_output --partial "$secret"
  run token list -o json
  assert_success
  assert_equal "$(jq -r '.[0].name + " " + .[0].role + " " + .[0].status' <<<"$output")" "ci-nightly producer active"
  # Only the hash is in the database.
  assert_equal "$(psql "$URL" -qAtc "SELECT count(*) FROM $SCHEMA.api_token WHERE hash = encode(sha256('$secret'), 'hex')")" 1
  run --separate-stderr token revoke ci-nightly
  assert_success
  assert_equal "$stderr" "jobnikd: token 'ci-nightly' revoked"
  run token list
  refute_output --partial ci-nightly
  run token list --all
  assert_line --regexp '^ci-nightly +producer +revoked '
  run --separate-stderr token revoke ci-nightly
  assert_equal "$status" 4
  assert_equal "$stderr" "jobnikd: token: no active token is named 'ci-nightly'"
}

@test "token arguments are checked before anything is written" {
  migrate
  run --separate-stderr token create --name 'two words' --role admin
  assert_equal "$status" 2
  [[ "$stderr" == *"--name: 'two words' is not a token name"* ]]
  run --separate-stderr token create --name ok --role root
  assert_equal "$status" 2
  assert_equal "$stderr" "jobnikd: token: --role must be one of admin, producer, worker, reader (got 'root')"
  run --separate-stderr token create --name ok --role admin --expires soon
  assert_equal "$status" 2
  [[ "$stderr" == *"--expires: 'soon' is neither a duration"* ]]
  run --separate-stderr token create --name ok --role admin --expires 2001-01-01T00:00:00Z
  assert_equal "$status" 2
  [[ "$stderr" == *"--expires: 2001-01-01T00:00:00Z is in the past"* ]]
  run --separate-stderr token create --role admin
  assert_equal "$status" 2
  assert_equal "$(psql "$URL" -qAtc "SELECT count(*) FROM $SCHEMA.api_token")" 0
  token create --name dup --role admin >/dev/null 2>&1
  run --separate-stderr token create --name dup --role reader
  assert_equal "$status" 2
  [[ "$stderr" == *"a token named 'dup' exists already"* ]]
}

@test "with --auth required, each role does what it may and jobnikctl passes its token" {
  migrate
  producer=$(token create --name producer --role producer 2>/dev/null)
  worker=$(token create --name worker --role worker 2>/dev/null)
  reader=$(token create --name reader --role reader 2>/dev/null)
  instance a --auth required
  # No token: 401 with a JSON error; probes stay open.
  run curl -s -i "$URL_a/v1/jobs"
  assert_output --partial "HTTP/1.1 401"
  assert_output --partial 'WWW-Authenticate: Bearer realm="jobnik"'
  assert_output --partial '"code":"UNAUTHENTICATED"'
  assert_equal "$(status_of "" GET "$URL_a/liveness")" 200
  assert_equal "$(status_of "" GET "$URL_a/readiness")" 200
  # jobnikctl without a token fails and says why; with the producer's it submits.
  run --separate-stderr "$JOBNIKCTL" --url "$URL_a" submit - <<<'{"name":"authjob","stages":[{"type":"auth-t","tasks":[{"data":{}}]}]}'
  assert_failure
  [[ "$stderr" == *"needs a bearer token"* ]]
  run --separate-stderr env JOBNIK_TOKEN="$producer" "$JOBNIKCTL" --url "$URL_a" submit - \
    <<<'{"name":"authjob","stages":[{"type":"auth-t","tasks":[{"data":{}}]}]}'
  assert_success
  job=$output
  # The reader reads but may not claim; the producer may not claim either; the worker does.
  run --separate-stderr "$JOBNIKCTL" --url "$URL_a" --token "$reader" task claim auth-t
  assert_failure
  [[ "$stderr" == *"token 'reader' has role reader"*"needs worker or admin"* ]]
  assert_equal "$(status_of "$producer" PATCH "$URL_a/v1/stages/auth-t/tasks/dequeue")" 403
  run --separate-stderr "$JOBNIKCTL" --url "$URL_a" --token "$worker" task claim auth-t
  assert_success
  task=$output
  run "$JOBNIKCTL" --url "$URL_a" --token "$worker" task complete "$task"
  assert_success
  # Deleting needs admin.
  assert_equal "$(status_of "$producer" DELETE "$URL_a/v1/jobs/$job")" 403
  assert_equal "$(status_of "$reader" GET "$URL_a/v1/jobs/$job")" 200
  # The producer's pause is recorded with its name; the access log names callers, refused too.
  other=$(JOBNIK_TOKEN="$producer" "$JOBNIKCTL" --url "$URL_a" submit - <<<'{"name":"second","stages":[]}')
  "$JOBNIKCTL" --url "$URL_a" --token "$producer" pause "$other" >/dev/null
  assert_equal "$(curl -s -H "Authorization: Bearer $reader" "$URL_a/v1/jobs/$other/events" | jq -r '.[0].actor')" producer
  grep -q 'route=/v1/jobs/{jobId}/status status=200 .* caller=producer' "$BATS_TEST_TMPDIR/a.log"
  grep -q 'route=/v1/jobs/{jobId} status=403 .* caller=producer' "$BATS_TEST_TMPDIR/a.log"
  # Refusals are counted.
  curl -s "$URL_a/metrics" | grep -q '^jobnik_http_auth_refusals_total{code="403"} [1-9]'
}

@test "a revoked token is refused by every instance at once; a new one works at once" {
  migrate
  admin=$(token create --name rotating --role admin 2>/dev/null)
  instance a --auth required
  instance b --auth required
  assert_equal "$(status_of "$admin" GET "$URL_a/v1/jobs")" 200
  assert_equal "$(status_of "$admin" GET "$URL_b/v1/jobs")" 200
  token revoke rotating 2>/dev/null
  # The notification reaches both within milliseconds; poll with a bound, never sleep.
  poll 5 test "$(status_of "$admin" GET "$URL_a/v1/jobs")" = 401
  poll 5 test "$(status_of "$admin" GET "$URL_b/v1/jobs")" = 401
  fresh=$(token create --name rotating --role reader 2>/dev/null)
  assert_equal "$(status_of "$fresh" GET "$URL_b/v1/jobs")" 200
  assert_equal "$(status_of "$fresh" POST "$URL_b/v1/jobs" '{"name":"no","data":{}}')" 403
}

@test "auto is open on loopback until a token exists; beyond loopback it must be chosen" {
  migrate
  instance a
  assert_equal "$(status_of "" POST "$URL_a/v1/jobs" '{"name":"open","data":{}}')" 201
  grep -q "auth: auto (0 active token(s), no token required)" "$BATS_TEST_TMPDIR/a.log"
  token create --name first --role admin >/dev/null 2>&1
  poll 5 test "$(status_of "" GET "$URL_a/v1/jobs")" = 401
  # Listening on every interface: auto refuses to start, off starts with a warning.
  run --separate-stderr "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" --listen 0.0.0.0:0 --sweeper false
  assert_failure
  [[ "$stderr" == *"listen: 0.0.0.0:0 is not a loopback address, and auth.mode is auto: set auth.mode (--auth) to required"* ]]
  "$JOBNIKD" --database-url "$URL" --database-schema "$SCHEMA" --listen 0.0.0.0:0 --sweeper false --auth off \
    >"$BATS_TEST_TMPDIR/off.log" 2>&1 &
  PIDS+=("$!")
  poll 10 grep -q "listening on" "$BATS_TEST_TMPDIR/off.log"
  grep -q "auth: off while listening on 0.0.0.0:0, not a loopback address" "$BATS_TEST_TMPDIR/off.log"
}

@test "jobnikd token works on the embedded database of a running jobnikd" {
  DATA=$(make_data_dir)
  start_jobnikd "$BATS_TEST_TMPDIR/embedded.log" --data-dir "$DATA"
  PIDS+=("$JOBNIKD_PID")
  run --separate-stderr "$JOBNIKD" --data-dir "$DATA" token create --name local-admin --role admin
  assert_success
  admin=$output
  poll 5 test "$(status_of "" GET "$JOBNIK_URL/v1/jobs")" = 401
  assert_equal "$(status_of "$admin" GET "$JOBNIK_URL/v1/jobs")" 200
  run "$JOBNIKD" --data-dir "$DATA" token list
  assert_line --regexp '^local-admin +admin +active '
  stop_jobnikd TERM
  wait_no_postgres_for "$DATA"
}

@test "bad auth settings and hostile Authorization headers get one clear error each" {
  run --separate-stderr "$JOBNIKD" --auth on --print-config
  assert_equal "$status" 2
  [[ "$stderr" == *"auth.mode must be auto, required or off, not 'on'"* ]]
  run --separate-stderr "$JOBNIKD" --metrics-auth maybe --print-config
  assert_equal "$status" 2
  [[ "$stderr" == *"auth.metrics must be open or token, not 'maybe'"* ]]
  migrate
  token create --name real --role admin >/dev/null 2>&1
  instance a --auth required
  for header in 'Authorization: Bearer' 'Authorization: Bearer  ' "Authorization: Bearer $(printf 'jnk_\xff\xfe')" \
    "Authorization: Bearer $(head -c 6000 /dev/zero | tr '\0' a)" 'Authorization: bearer jnk_nope' \
    'Authorization: Token x'; do
    run curl -s -w ' %{http_code}' -H "$header" "$URL_a/v1/jobs"
    assert_output --regexp '"code":"UNAUTHENTICATED"\} 401$'
  done
  curl -s "$URL_a/liveness" | grep -q ok
}
