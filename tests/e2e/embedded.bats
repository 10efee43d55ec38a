#!/usr/bin/env bats
# The embedded database under operator mistakes and faults: a data directory used twice,
# a postmaster that dies, symlinks planted where jobnikd creates directories, data
# directories too long for a unix socket.

load helpers

: "${JOBNIK_SOURCE_DIR:=$BATS_TEST_DIRNAME/../..}"
NOTIFY_LISTENER="$JOBNIK_SOURCE_DIR/tests/tools/notify_listener.py"

setup() {
  DATA="$(make_data_dir)/data"
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
  NOTES="$BATS_TEST_TMPDIR/notify.log"
  LISTENER_PID=""
  STRAY_PID=""
}

teardown() {
  [[ -n "${JOBNIKD_PID:-}" ]] && stop_jobnikd KILL
  if [[ -n "$STRAY_PID" ]]; then
    kill -INT "$STRAY_PID" 2>/dev/null || true
    wait "$STRAY_PID" || true
  fi
  if [[ -n "$LISTENER_PID" ]]; then
    kill -TERM "$LISTENER_PID" 2>/dev/null || true
    wait "$LISTENER_PID" || true
  fi
  wait_no_postgres_for "$DATA" || true
  rm -rf "$(dirname "$DATA")"
}

postmaster_pid() { head -n1 "$DATA/postgres/postmaster.pid"; }

# The processes among jobnikd's children that are zombies (state Z), one per line.
zombie_children() { ps --ppid "$JOBNIKD_PID" -o stat=,pid=,comm= | grep '^Z' || true; }

liveness_is() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "$JOBNIK_URL/liveness")" == "$1" ]]; }

exited() { ! kill -0 "$1" 2>/dev/null; }

# start_listener SOCKET: a stand-in for systemd's notification socket, receiving into $NOTES.
start_listener() {
  local socket="$1" i
  python3 "$NOTIFY_LISTENER" "$socket" "$NOTES" &
  LISTENER_PID=$!
  for ((i = 0; i < 100; i++)); do
    [[ -f "$NOTES" ]] && return 0
    sleep 0.1
  done
  echo "the notify listener did not start" >&2
  return 1
}

watchdog_count() { grep -cx 'WATCHDOG=1' "$NOTES" || true; }
watchdog_at_least() { (($(watchdog_count) >= $1)); }

@test "a data dir in use by a running jobnikd is refused by serve, migrate and sweep; the first keeps serving" {
  start_jobnikd "$LOG" --data-dir "$DATA"
  api POST /v1/jobs '{"name":"first","data":{}}' >/dev/null
  assert_equal "$(last_status)" 201
  pm=$(postmaster_pid)
  for cmd in serve migrate "sweep --once"; do
    # Bounded: before the fix a second serve connected to the first one's socket and served on.
    # shellcheck disable=SC2086
    run timeout 60 "$JOBNIKD" --listen 127.0.0.1:0 --sweeper false --data-dir "$DATA" $cmd
    assert_failure 1
    assert_output --partial "data dir $DATA is in use by jobnikd pid $JOBNIKD_PID (its PostgreSQL runs as pid $pm)"
  done
  # The first one still serves from its own database, which nobody restarted.
  assert_equal "$(postmaster_pid)" "$pm"
  jobs=$(api GET "/v1/jobs?job_name=first")
  assert_equal "$(last_status)" 200
  assert_equal "$(jq length <<<"$jobs")" 1
  run curl -sf "$JOBNIK_URL/readiness"
  assert_success
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
}

@test "a PostgreSQL that something else runs on the data dir is refused, and its socket is never used" {
  start_jobnikd "$LOG" --data-dir "$DATA"
  stop_jobnikd TERM
  wait_no_postgres_for "$DATA"
  # The cluster's server started by hand, as the cluster's owner, on jobnikd's socket directory.
  owner=$(stat -c %U "$DATA/postgres")
  as_owner=()
  [[ $EUID -eq 0 ]] && as_owner=(setpriv --reuid "$owner" --regid "$(stat -c %G "$DATA/postgres")" --init-groups)
  bin=""
  for v in 15 16 17; do [[ -x /usr/lib/postgresql/$v/bin/postgres ]] && bin=/usr/lib/postgresql/$v/bin && break; done
  [[ -n "$bin" ]] || skip "no PostgreSQL server binaries"
  "${as_owner[@]}" "$bin/postgres" -D "$DATA/postgres" -k "$DATA/run" -c listen_addresses= \
    >"$BATS_TEST_TMPDIR/stray.log" 2>&1 &
  STRAY_PID=$!
  poll 30 test -S "$DATA/run/.s.PGSQL.5432"
  run timeout 60 "$JOBNIKD" --data-dir "$DATA" migrate
  assert_failure 1
  assert_output --partial "data dir $DATA is in use by PostgreSQL pid $STRAY_PID, which this jobnikd did not start"
  refute_output --partial "up to date"
}

@test "a killed postmaster is logged, reaped and restarted; the API works again" {
  start_jobnikd "$LOG" --data-dir "$DATA"
  api POST /v1/jobs '{"name":"before","data":{}}' >/dev/null
  assert_equal "$(last_status)" 201
  pm=$(postmaster_pid)
  kill -KILL "$pm"
  poll 10 grep -q "embedded database: PostgreSQL (pid $pm) was killed by signal 9" "$LOG"
  poll 30 grep -q "embedded database: restarted" "$LOG"
  new_pm=$(postmaster_pid)
  [[ "$new_pm" != "$pm" ]]
  # Every request after the restart works: the dead pooled connections were dropped.
  for i in 1 2 3 4 5 6 7 8; do
    jobs=$(api GET "/v1/jobs?job_name=before")
    assert_equal "$(last_status)" 200
    assert_equal "$(jq length <<<"$jobs")" 1
  done
  api POST /v1/jobs '{"name":"after","data":{}}' >/dev/null
  assert_equal "$(last_status)" 201
  run curl -sf "$JOBNIK_URL/readiness"
  assert_success
  run curl -sf "$JOBNIK_URL/liveness"
  assert_success
  # The dead postmaster was reaped; the new one is jobnikd's child.
  assert_equal "$(zombie_children)" ""
  assert_equal "$(ps -o ppid= -p "$new_pm" | tr -d ' ')" "$JOBNIKD_PID"
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
}

@test "a postmaster that cannot come back: liveness 503, watchdog starved, exit 1 in bounded time" {
  start_listener "$BATS_TEST_TMPDIR/notify.sock"
  export NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" WATCHDOG_USEC=200000
  start_jobnikd "$LOG" --data-dir "$DATA"
  unset NOTIFY_SOCKET WATCHDOG_USEC
  poll 10 watchdog_at_least 2
  pm=$(postmaster_pid)
  # The cluster goes away under the running server: every restart fails at once.
  mv "$DATA/postgres" "$DATA/postgres.away"
  start=$SECONDS
  kill -KILL "$pm"
  poll 10 grep -q "embedded database: PostgreSQL (pid $pm) was killed by signal 9" "$LOG"
  # Down beyond the grace period: liveness says so, and the watchdog is no longer fed.
  poll 30 liveness_is 503
  fed=$(watchdog_count)
  poll 40 exited "$JOBNIKD_PID"
  status=0
  wait "$JOBNIKD_PID" || status=$?
  JOBNIKD_PID=""
  assert_equal "$status" 1
  ((SECONDS - start < 45))
  # At most one keep-alive in flight when liveness turned; none in the seconds after.
  (($(watchdog_count) <= fed + 1))
  run grep -c "restart attempt [123]/3 failed" "$LOG"
  assert_output 3
  run grep -c "PostgreSQL could not be restarted (3 attempts); giving up" "$LOG"
  assert_output 1
  run grep -c "the embedded database is lost; shutting down (exit status 1)" "$LOG"
  assert_output 1
  mv "$DATA/postgres.away" "$DATA/postgres"
}

@test "embedded mode as root: a symlink planted at DATA_DIR/run is refused; its target keeps owner and mode" {
  [[ $EUID -eq 0 ]] || skip "only root hands directories to the postgres user"
  target="$BATS_TEST_TMPDIR/target"
  mkdir -p "$target" "$DATA"
  chmod 755 "$target"
  ln -s "$target" "$DATA/run"
  run timeout 60 "$JOBNIKD" --listen 127.0.0.1:0 --data-dir "$DATA"
  # Before the fix the target was handed to postgres with mode 700.
  assert_equal "$(stat -c '%U %a' "$target")" "root 755"
  assert_failure 1
  assert_output --partial "cannot open $DATA/run (a symlink is refused)"
}

@test "a data dir too long for a unix socket works, with a fresh private socket dir in /tmp removed at stop" {
  DATA="$(dirname "$DATA")/$(printf 'l%.0s' {1..100})/data"
  sockets=()
  for round in 1 2; do
    start_jobnikd "$LOG.$round" --data-dir "$DATA"
    sock=$(sed -n 's|.*(socket \(/tmp/[^)]*\)).*|\1|p' "$LOG.$round")
    [[ "$sock" == /tmp/jobnik-* ]]
    sockets+=("$sock")
    api POST /v1/jobs '{"name":"long","data":{}}' >/dev/null
    assert_equal "$(last_status)" 201
    [[ -d "$sock" && ! -L "$sock" ]]
    expected_owner=$(id -un)
    [[ $EUID -eq 0 ]] && expected_owner=postgres
    assert_equal "$(stat -c '%U %a' "$sock")" "$expected_owner 700"
    stop_jobnikd TERM
    assert_equal "$STOP_STATUS" 0
    [[ ! -e "$sock" ]]
    wait_no_postgres_for "$DATA"
  done
  # Not predictable: each start gets its own name.
  [[ "${sockets[0]}" != "${sockets[1]}" ]]
}
