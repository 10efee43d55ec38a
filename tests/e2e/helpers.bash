# Shared helpers for the end-to-end suites. Binaries come from $JOBNIK_BIN_DIR
# (set by CTest), the shared test cluster's URL from $JOBNIK_TEST_PG_DIR/url.
bats_load_library bats-support
bats_load_library bats-assert

: "${JOBNIK_BIN_DIR:=$BATS_TEST_DIRNAME/../../build/src}"
JOBNIKD="$JOBNIK_BIN_DIR/jobnikd"
JOBNIKCTL="$JOBNIK_BIN_DIR/jobnikctl"
JOBNIK_WORKER="$JOBNIK_BIN_DIR/jobnik-worker"

test_database_url() {
  if [[ -n "${JOBNIK_TEST_DATABASE_URL:-}" ]]; then
    echo "$JOBNIK_TEST_DATABASE_URL"
  elif [[ -n "${JOBNIK_TEST_PG_DIR:-}" && -f "$JOBNIK_TEST_PG_DIR/url" ]]; then
    cat "$JOBNIK_TEST_PG_DIR/url"
  else
    skip "no test database (run through ctest)"
  fi
}

# A schema no other test uses.
unique_schema() { echo "e2e_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"; }

# poll SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails after SECONDS.
poll() {
  local seconds=$1 i
  shift
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  echo "poll: gave up after ${seconds}s waiting for: $*" >&2
  return 1
}

# curl's TLS options (--cacert, --cert, --key) for a jobnikd serving https, used by
# wait_for_jobnikd and api; empty for plain http.
JOBNIK_CURL_TLS=()

# wait_for_jobnikd LOG PID: waits (bounded) until the jobnikd writing LOG listens and is
# ready; prints its base URL (http or https). Fails, showing the log, if it exits or never
# gets ready.
wait_for_jobnikd() {
  local log="$1" pid="$2" url="" i
  for ((i = 0; i < 600; i++)); do
    url=$(sed -n 's|.*listening on \(https\{0,1\}://127.0.0.1:[0-9]*\).*|\1|p' "$log" | head -n1)
    [[ -n "$url" ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "jobnikd exited early:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  [[ -n "$url" ]] || { echo "jobnikd never listened:" >&2; cat "$log" >&2; return 1; }
  if ! poll 10 curl -sf "${JOBNIK_CURL_TLS[@]}" "$url/readiness" -o /dev/null; then
    echo "jobnikd never became ready:" >&2
    cat "$log" >&2
    return 1
  fi
  echo "$url"
}

# start_jobnikd LOG ARGS...: starts jobnikd on a free port in the background and waits
# until it is ready. Sets JOBNIKD_PID and JOBNIK_URL.
start_jobnikd() {
  local log="$1"
  shift
  : >"$log" # before the first look (the background process opens it only once it runs)
  "$JOBNIKD" --listen 127.0.0.1:0 --sweeper false "$@" >>"$log" 2>&1 &
  JOBNIKD_PID=$!
  JOBNIK_URL=$(wait_for_jobnikd "$log" "$JOBNIKD_PID")
}

# stop_jobnikd [SIGNAL]: signals jobnikd and waits for it; sets STOP_STATUS to its exit
# status. (Not for $(...): only this shell can wait for its child.)
stop_jobnikd() {
  local sig="${1:-TERM}"
  STOP_STATUS=0
  [[ -n "${JOBNIKD_PID:-}" ]] || return 0
  kill -"$sig" "$JOBNIKD_PID" 2>/dev/null || true
  wait "$JOBNIKD_PID" || STOP_STATUS=$?
  JOBNIKD_PID=""
}

# api METHOD PATH [BODY]: curl against the running jobnikd; prints the body. The HTTP
# status goes to a file (so it survives $(...)): read it with last_status.
api() {
  local method="$1" path="$2" body="${3:-}" out status
  out=$(mktemp)
  if [[ -n "$body" ]]; then
    status=$(curl -s "${JOBNIK_CURL_TLS[@]}" -o "$out" -w '%{http_code}' -X "$method" \
      -H 'Content-Type: application/json' --data "$body" "$JOBNIK_URL$path")
  else
    status=$(curl -s "${JOBNIK_CURL_TLS[@]}" -o "$out" -w '%{http_code}' -X "$method" "$JOBNIK_URL$path")
  fi
  echo "$status" >"$BATS_TEST_TMPDIR/last_status"
  cat "$out"
  rm -f "$out"
}
last_status() { cat "$BATS_TEST_TMPDIR/last_status"; }

# A data directory the embedded database can use: as root it runs as `postgres`, which
# must be able to reach it (bats' own temp dirs are private to root).
make_data_dir() {
  local dir
  dir=$(mktemp -d /tmp/jobnik-e2e.XXXXXX)
  chmod 755 "$dir"
  echo "$dir"
}

# Wait (bounded) until no process runs with this data dir in its command line.
wait_no_postgres_for() {
  local dir="$1" i
  for ((i = 0; i < 100; i++)); do
    pgrep -f -- "-D $dir/postgres" >/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# start_jobnikd_on_own_schema: a jobnikd on the test cluster in a schema of its own (URL,
# SCHEMA, LOG set for the test). stop_jobnikd_on_own_schema: kills it, shows the log's tail
# when the test failed, and drops the schema. For a suite's setup/teardown.
start_jobnikd_on_own_schema() {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
  : >"$LOG"
  start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" serve --migrate
}
stop_jobnikd_on_own_schema() {
  [[ -n "${JOBNIKD_PID:-}" ]] && stop_jobnikd KILL 2>/dev/null
  if [[ "${BATS_TEST_COMPLETED:-}" != 1 && -f "$LOG" ]]; then
    echo "---- tail of jobnikd.log" >&2
    tail -n 40 "$LOG" >&2
  fi
  psql "$URL" -qAtc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
}

# For suites whose tests run one or more jobnikd on one schema of their own:
# `setup() { instances_setup; }`, `teardown() { instances_teardown; }`, and in a test
# `instance NAME ARGS...`, which starts a jobnikd (ARGS before `serve --migrate`) and sets
# URL_<NAME> to its base URL. The teardown kills them all, shows their logs' tails when the
# test failed, and drops the schema.
instances_setup() {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  PIDS=()
}
instances_teardown() {
  local pid log
  for pid in "${PIDS[@]}"; do
    { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
  done
  if [[ "${BATS_TEST_COMPLETED:-}" != 1 ]]; then
    for log in "$BATS_TEST_TMPDIR"/*.log; do
      echo "---- tail of $log" >&2
      tail -n 30 "$log" >&2 || true
    done
  fi
  psql "$URL" -qAtc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
}
instance() {
  local name=$1
  shift
  start_jobnikd "$BATS_TEST_TMPDIR/$name.log" --database-url "$URL" --database-schema "$SCHEMA" "$@" serve --migrate
  PIDS+=("$JOBNIKD_PID")
  printf -v "URL_$name" '%s' "$JOBNIK_URL"
}
