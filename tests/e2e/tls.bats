#!/usr/bin/env bats
# TLS: jobnikd serving https (--tls-cert, --tls-key), mutual TLS (--tls-client-ca), the
# reload of the files on SIGHUP, and jobnikctl and jobnik-worker speaking https (--ca-file,
# --client-cert, --client-key). The certificates are made here with the openssl command.

load helpers
bats_require_minimum_version 1.5.0

# pki: in DIR, a CA (ca.crt), two server certificates signed by it for 127.0.0.1 and
# localhost (one.crt serial 1001 CN=server-one, two.crt serial 1002 CN=server-two), a
# client certificate (client.crt, CN=client-one), and a CA of nobody's (stranger.crt).
pki() {
  local d=$1 name cn serial usage
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  for name in ca stranger; do
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=jobnik-test-$name" -keyout "$d/$name.key" -out "$d/$name.crt" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign 2>/dev/null
  done
  for spec in one:server-one:1001:serverAuth two:server-two:1002:serverAuth client:client-one:2001:clientAuth; do
    IFS=: read -r name cn serial usage <<<"$spec"
    openssl req -new "${ec[@]}" -subj "/CN=$cn" -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%s\n' "$usage" >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -set_serial "0x$serial" -days 2 \
      -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
  done
}

setup_file() {
  command -v openssl >/dev/null || skip "no openssl command"
  PKI="$BATS_FILE_TMPDIR/pki"
  mkdir -p "$PKI"
  pki "$PKI"
  export PKI
}

setup() {
  instances_setup
  [[ -n "$URL" ]] || skip "no test database (run through ctest)"
  export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config" HOME="$BATS_TEST_TMPDIR"
  unset JOBNIK_CA_FILE JOBNIK_CLIENT_CERT JOBNIK_CLIENT_KEY JOBNIK_TOKEN
  JOBNIK_CURL_TLS=(--cacert "$PKI/ca.crt")
  # The files jobnikd serves, copied so that a test can replace them.
  cp "$PKI/one.crt" "$BATS_TEST_TMPDIR/served.crt"
  cp "$PKI/one.key" "$BATS_TEST_TMPDIR/served.key"
}

teardown() { instances_teardown; }

ctl() { "$JOBNIKCTL" --url "$URL_a" "$@"; }

# served_cert BASE_URL: subject and serial of the certificate jobnikd presents now, read
# by a new handshake.
served_cert() {
  local port=${1##*:}
  openssl s_client -connect "127.0.0.1:$port" -CAfile "$PKI/ca.crt" </dev/null 2>/dev/null |
    openssl x509 -noout -subject -serial
}

# metric SERIES: the value of one series (name and labels as exposed) of jobnikd a.
metric() { curl -s "${JOBNIK_CURL_TLS[@]}" "$URL_a/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
log_has() { grep -qF "$1" "$BATS_TEST_TMPDIR/a.log"; }

@test "https: curl --cacert and jobnikctl --ca-file submit, claim, complete; plain http to the port fails" {
  instance a --tls-cert "$BATS_TEST_TMPDIR/served.crt" --tls-key "$BATS_TEST_TMPDIR/served.key"
  [[ "$URL_a" == https://127.0.0.1:* ]]
  grep -q "TLS: certificate CN=server-one (serial 1001" "$BATS_TEST_TMPDIR/a.log"

  run curl -sf --cacert "$PKI/ca.crt" "$URL_a/readiness"
  assert_success
  run curl -s -o /dev/null "http://${URL_a#https://}/readiness"
  assert_failure

  printf 'name: tls-job\nstages:\n  - type: tls-type\n    tasks:\n      - data: {}\n' >"$BATS_TEST_TMPDIR/job.yaml"
  local job task
  job=$(ctl --ca-file "$PKI/ca.crt" -o name submit "$BATS_TEST_TMPDIR/job.yaml")
  task=$(JOBNIK_CA_FILE="$PKI/ca.crt" ctl task claim tls-type)
  ctl --ca-file "$PKI/ca.crt" -q task complete "$task"
  run ctl --ca-file "$PKI/ca.crt" get job "$job" -o json
  assert_success
  [[ "$(jq -r .status <<<"$output")" == COMPLETED ]]

  # The instance registers its https address; a same-origin https page may change state.
  JOBNIK_URL=$URL_a
  [[ "$(api GET /v1/instances | jq -r '.instances[0].listen')" == "$URL_a" ]]
  run curl -s "${JOBNIK_CURL_TLS[@]}" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "Origin: $URL_a" --data '{"name":"from-the-page","data":{}}' "$URL_a/v1/jobs"
  assert_output 201

  # SIGTERM stops an https jobnikd as it stops a plain one.
  local status=0
  kill -TERM "${PIDS[0]}"
  wait "${PIDS[0]}" || status=$?
  PIDS=()
  assert_equal "$status" 0
}

@test "jobnik-worker --ca-file runs the tasks of an https jobnikd" {
  instance a --tls-cert "$BATS_TEST_TMPDIR/served.crt" --tls-key "$BATS_TEST_TMPDIR/served.key"
  JOBNIK_URL=$URL_a
  local job stage
  job=$(api POST /v1/jobs '{"name":"tls-worker","data":{}}' | jq -r .id)
  stage=$(api POST "/v1/jobs/$job/stage" '{"type":"tls-work","data":{}}' | jq -r .id)
  api POST "/v1/stages/$stage/tasks" '[{"data":{}},{"data":{}}]' >/dev/null
  "$JOBNIK_WORKER" --url "$URL_a" --ca-file "$PKI/ca.crt" --stage-type tls-work -- /bin/true \
    >"$BATS_TEST_TMPDIR/worker.log" 2>&1 &
  PIDS+=("$!")
  stage_completed() { [[ "$(api GET "/v1/stages/$stage" | jq -r .status)" == COMPLETED ]]; }
  poll 20 stage_completed
}

@test "the SDK speaks https and mutual TLS: the example producer with JOBNIK_CA_FILE and a client certificate" {
  local producer="$JOBNIK_BIN_DIR/../examples/sdk/jobnik-example-producer"
  [[ -x "$producer" ]] || skip "the SDK examples are not built"
  JOBNIK_CURL_TLS=(--cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key")
  instance a --tls-cert "$BATS_TEST_TMPDIR/served.crt" --tls-key "$BATS_TEST_TMPDIR/served.key" \
    --tls-client-ca "$PKI/ca.crt"
  local job
  job=$(JOBNIK_CA_FILE="$PKI/ca.crt" JOBNIK_CLIENT_CERT="$PKI/client.crt" JOBNIK_CLIENT_KEY="$PKI/client.key" \
    "$producer" "$URL_a")
  JOBNIK_URL=$URL_a
  [[ "$(api GET "/v1/jobs/$job" | jq -r .id)" == "$job" ]]
  run --separate-stderr env JOBNIK_CA_FILE="$PKI/ca.crt" "$producer" "$URL_a"
  assert_failure
  [[ "$stderr" == "producer: "*"client certificate"* ]] || {
    echo "$stderr"
    false
  }
}

@test "a client that does not trust jobnikd's certificate gets a clear TLS error" {
  instance a --tls-cert "$BATS_TEST_TMPDIR/served.crt" --tls-key "$BATS_TEST_TMPDIR/served.key"
  run --separate-stderr ctl --ca-file "$PKI/stranger.crt" health
  assert_failure 3
  [[ "$stderr" == *"TLS: jobnikd's certificate is not trusted"*"--ca-file"* ]] || {
    echo "$stderr"
    false
  }
  run --separate-stderr ctl --ca-file "$BATS_TEST_TMPDIR/none.pem" health
  assert_failure 2
  [[ "$stderr" == *"--ca-file"*"none.pem"*"No such file"* ]] || {
    echo "$stderr"
    false
  }
  # A plain http client at the https port, and an https client at a plain http jobnikd, are
  # told what is wrong.
  run --separate-stderr "$JOBNIKCTL" --url "http://${URL_a#https://}" health
  assert_failure 3
  [[ "$stderr" == *"use an https:// URL"* ]] || {
    echo "$stderr"
    false
  }
  instance b
  run --separate-stderr "$JOBNIKCTL" --url "https://${URL_b#http://}" --ca-file "$PKI/ca.crt" health
  assert_failure 3
  [[ "$stderr" == *"TLS handshake failed"* ]] || {
    echo "$stderr"
    false
  }
}

@test "mTLS: --tls-client-ca refuses a client without a certificate of that CA and accepts one with" {
  JOBNIK_CURL_TLS=(--cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key")
  instance a --tls-cert "$BATS_TEST_TMPDIR/served.crt" --tls-key "$BATS_TEST_TMPDIR/served.key" \
    --tls-client-ca "$PKI/ca.crt"
  grep -q "client certificates required (CA $PKI/ca.crt)" "$BATS_TEST_TMPDIR/a.log"
  run curl -sf --cacert "$PKI/ca.crt" "$URL_a/readiness"
  assert_failure
  run curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/stranger.crt" --key "$PKI/stranger.key" "$URL_a/readiness"
  assert_failure
  run curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" "$URL_a/readiness"
  assert_success

  run --separate-stderr ctl --ca-file "$PKI/ca.crt" health
  assert_failure 3
  # The alert saying why, or (TLS 1.3: the request was written before the alert was read)
  # that the connection was closed.
  [[ "$stderr" == *"client certificate"*"--client-cert"* ]] || {
    echo "$stderr"
    false
  }
  run --separate-stderr ctl --ca-file "$PKI/ca.crt" --client-cert "$PKI/stranger.crt" \
    --client-key "$PKI/stranger.key" health
  assert_failure 3
  [[ "$stderr" == *"client certificate"*"signed by a CA"* ]] || {
    echo "$stderr"
    false
  }
  run ctl --ca-file "$PKI/ca.crt" --client-cert "$PKI/client.crt" --client-key "$PKI/client.key" health -o name
  assert_success
  assert_output ok
  run --separate-stderr ctl --ca-file "$PKI/ca.crt" --client-cert "$PKI/client.crt" health
  assert_failure 2
  [[ "$stderr" == *"--client-key"* ]]
}

@test "SIGHUP: new handshakes get the new certificate; a long poll opened before gets its answer" {
  instance a --tls-cert "$BATS_TEST_TMPDIR/served.crt" --tls-key "$BATS_TEST_TMPDIR/served.key"
  JOBNIK_URL=$URL_a
  run served_cert "$URL_a"
  assert_line "subject=CN = server-one"
  assert_line "serial=1001"
  local job stage
  job=$(api POST /v1/jobs '{"name":"tls-reload","data":{}}' | jq -r .id)
  stage=$(api POST "/v1/jobs/$job/stage" '{"type":"tls-reload","data":{}}' | jq -r .id)

  # A claim waiting on a connection made with the first certificate.
  curl -s --cacert "$PKI/ca.crt" -o "$BATS_TEST_TMPDIR/dq.body" -w '%{http_code}' -X PATCH \
    "$URL_a/v1/stages/tls-reload/tasks/dequeue?wait_seconds=20" >"$BATS_TEST_TMPDIR/dq.status" &
  local curl_pid=$!
  waiting() { [[ "$(metric jobnik_claim_waiting_requests)" == 1 ]]; }
  poll 10 waiting

  cp "$PKI/two.crt" "$BATS_TEST_TMPDIR/served.crt"
  cp "$PKI/two.key" "$BATS_TEST_TMPDIR/served.key"
  kill -HUP "${PIDS[0]}"
  poll 10 log_has "TLS reloaded: certificate CN=server-two (serial 1002"
  run served_cert "$URL_a"
  assert_line "subject=CN = server-two"
  assert_line "serial=1002"

  # The waiting claim's connection is still there: a task wakes it with that task.
  local task
  task=$(api POST "/v1/stages/$stage/tasks" '[{"data":{}}]' | jq -r '.[0].id')
  wait "$curl_pid"
  [[ "$(cat "$BATS_TEST_TMPDIR/dq.status")" == 200 ]]
  [[ "$(jq -r .id "$BATS_TEST_TMPDIR/dq.body")" == "$task" ]]

  [[ "$(metric 'jobnik_tls_reloads_total{result="success"}')" == 1 ]]
  [[ "$(metric 'jobnik_tls_reloads_total{result="failure"}')" == 0 ]]
  local expiry
  expiry=$(metric jobnik_tls_certificate_expiry_timestamp_seconds)
  [[ -n "$expiry" ]]
  expiry=$(printf '%.0f' "$expiry")
  (( expiry > $(date +%s) + 86400 && expiry < $(date +%s) + 3 * 86400 ))
  kill -0 "${PIDS[0]}"
}

@test "SIGHUP reloads the client CA: a client certificate of the CA no longer trusted is refused" {
  cp "$PKI/ca.crt" "$BATS_TEST_TMPDIR/clients.crt"
  JOBNIK_CURL_TLS=(--cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key")
  instance a --tls-cert "$BATS_TEST_TMPDIR/served.crt" --tls-key "$BATS_TEST_TMPDIR/served.key" \
    --tls-client-ca "$BATS_TEST_TMPDIR/clients.crt"
  run curl -sf "${JOBNIK_CURL_TLS[@]}" "$URL_a/readiness"
  assert_success
  cp "$PKI/stranger.crt" "$BATS_TEST_TMPDIR/clients.crt"
  kill -HUP "${PIDS[0]}"
  poll 10 log_has "TLS reloaded"
  run curl -sf "${JOBNIK_CURL_TLS[@]}" "$URL_a/readiness"
  assert_failure
  cp "$PKI/ca.crt" "$BATS_TEST_TMPDIR/clients.crt"
  kill -HUP "${PIDS[0]}"
  reloaded_twice() { [[ "$(grep -c "TLS reloaded" "$BATS_TEST_TMPDIR/a.log")" == 2 ]]; }
  poll 10 reloaded_twice
  run curl -sf "${JOBNIK_CURL_TLS[@]}" "$URL_a/readiness"
  assert_success
}

@test "SIGHUP with a broken certificate file keeps the old certificate and logs the error" {
  instance a --tls-cert "$BATS_TEST_TMPDIR/served.crt" --tls-key "$BATS_TEST_TMPDIR/served.key"
  echo "not a certificate" >"$BATS_TEST_TMPDIR/served.crt"
  kill -HUP "${PIDS[0]}"
  poll 10 log_has "TLS reload failed, still serving the previous certificate: tls.cert $BATS_TEST_TMPDIR/served.crt: not a PEM certificate"
  run served_cert "$URL_a"
  assert_line "subject=CN = server-one"
  run curl -sf --cacert "$PKI/ca.crt" "$URL_a/readiness"
  assert_success
  [[ "$(metric 'jobnik_tls_reloads_total{result="failure"}')" == 1 ]]
  # A key of another certificate is refused as well.
  cp "$PKI/one.crt" "$BATS_TEST_TMPDIR/served.crt"
  cp "$PKI/two.key" "$BATS_TEST_TMPDIR/served.key"
  kill -HUP "${PIDS[0]}"
  poll 10 log_has "tls.key $BATS_TEST_TMPDIR/served.key: does not match the certificate"
  run served_cert "$URL_a"
  assert_line "serial=1001"
}

@test "SIGHUP without TLS: nothing to reload, jobnikd keeps serving" {
  JOBNIK_CURL_TLS=()
  instance a
  kill -HUP "${PIDS[0]}"
  poll 10 log_has "received SIGHUP: nothing to reload (TLS is off)"
  run curl -sf "$URL_a/readiness"
  assert_success
}

@test "bad TLS files at start: one line naming the file, exit status 2" {
  run --separate-stderr "$JOBNIKD" --listen 127.0.0.1:0 --tls-cert "$BATS_TEST_TMPDIR/none.crt" \
    --tls-key "$PKI/one.key" serve
  assert_failure 2
  assert_equal "$stderr" "jobnikd: tls.cert $BATS_TEST_TMPDIR/none.crt: cannot read: No such file or directory"
  run --separate-stderr "$JOBNIKD" --listen 127.0.0.1:0 --tls-cert "$PKI/one.crt" --tls-key "$PKI/two.key" serve
  assert_failure 2
  assert_equal "$stderr" "jobnikd: tls.key $PKI/two.key: does not match the certificate of tls.cert $PKI/one.crt"
  run --separate-stderr "$JOBNIKD" --listen 127.0.0.1:0 --tls-cert "$PKI/one.crt" --tls-key "$PKI/one.key" \
    --tls-client-ca "$PKI/one.key" serve
  assert_failure 2
  [[ "$stderr" == "jobnikd: tls.client_ca $PKI/one.key: not a PEM CA certificate"* ]]
  run --separate-stderr "$JOBNIKD" --listen 127.0.0.1:0 --tls-cert "$PKI/one.crt" serve
  assert_failure 2
  assert_equal "$stderr" "jobnikd: tls.cert is set but tls.key is not: give both or neither"
}

@test "jobnik-worker: the TLS files from its file, flags or environment; an unreadable one is named" {
  local f="$BATS_TEST_TMPDIR/worker.yaml"
  printf 'url: https://127.0.0.1:1\nca_file: %s\nhandlers:\n  - {stage_type: x, command: [/bin/true]}\n' \
    "$PKI/ca.crt" >"$f"
  run "$JOBNIK_WORKER" --config "$f" --client-cert "$PKI/client.crt" --print-config
  assert_failure 2
  assert_output "jobnik-worker: client_cert: needs client_key (--client-key)"
  run env JOBNIK_CLIENT_KEY="$PKI/client.key" "$JOBNIK_WORKER" --config "$f" --client-cert "$PKI/client.crt" \
    --print-config
  assert_success
  assert_line "ca_file: $PKI/ca.crt"
  assert_line "client_cert: $PKI/client.crt"
  assert_line "client_key: $PKI/client.key"
  run "$JOBNIK_WORKER" --config "$f" --ca-file "$BATS_TEST_TMPDIR/none.pem" --print-config
  assert_failure 2
  assert_output "jobnik-worker: ca_file: cannot read '$BATS_TEST_TMPDIR/none.pem': No such file or directory"
}
