#!/usr/bin/env bats
# jobnikd under systemd: the units pass systemd-analyze, and the daemon speaks the
# sd_notify protocol (READY=1, STOPPING=1, WATCHDOG=1) on $NOTIFY_SOCKET.

load helpers

: "${JOBNIK_SOURCE_DIR:=$BATS_TEST_DIRNAME/../..}"
UNIT_DIR="$JOBNIK_SOURCE_DIR/packaging/systemd"
NOTIFY_LISTENER="$JOBNIK_SOURCE_DIR/tests/tools/notify_listener.py"

setup() {
  LOG="$BATS_TEST_TMPDIR/jobnikd.log"
  NOTES="$BATS_TEST_TMPDIR/notify.log"
  LISTENER_PID=""
}

teardown() {
  [[ -n "${JOBNIKD_PID:-}" ]] && stop_jobnikd KILL
  if [[ -n "$LISTENER_PID" ]]; then
    kill -TERM "$LISTENER_PID" 2>/dev/null || true
    wait "$LISTENER_PID" || true
  fi
}

# verify_unit UNIT [NAME]: systemd-analyze verify on a copy of packaging/systemd/UNIT
# whose @BINDIR@ names the built binaries, loaded as NAME (default UNIT). Fails on a
# non-zero exit or on anything printed to stderr (where unknown keys and bad values go).
verify_unit() {
  local unit="$1" name="${2:-$1}" dir bindir
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  dir="$BATS_TEST_TMPDIR/units"
  mkdir -p "$dir"
  bindir=$(cd "$JOBNIK_BIN_DIR" && pwd)
  sed "s|@BINDIR@|$bindir|g" "$UNIT_DIR/$unit" >"$dir/$unit"
  run grep -n '@[A-Z_]*@' "$dir/$unit"
  assert_failure 1
  # Not `run`: stdout and stderr must stay apart.
  local status=0
  (cd "$dir" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$dir/$name") \
    >"$BATS_TEST_TMPDIR/verify.out" 2>"$BATS_TEST_TMPDIR/verify.err" || status=$?
  cat "$BATS_TEST_TMPDIR/verify.out" "$BATS_TEST_TMPDIR/verify.err" >&2
  assert_equal "$status" 0
  assert_equal "$(cat "$BATS_TEST_TMPDIR/verify.err")" ""
}

# start_listener SOCKET: the notification socket (tests/tools/notify_listener.py),
# receiving into $NOTES; returns once it is bound.
start_listener() {
  local socket="$1" i
  rm -f "$NOTES"
  python3 "$NOTIFY_LISTENER" "$socket" "$NOTES" &
  LISTENER_PID=$!
  for ((i = 0; i < 100; i++)); do
    [[ -f "$NOTES" ]] && return 0
    kill -0 "$LISTENER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the notify listener did not start" >&2
  return 1
}

# wait_for_note LINE [COUNT]: waits (bounded, 30 s) until LINE was received COUNT times
# (default 1); fails early if jobnikd has died meanwhile and not sent it.
wait_for_note() {
  local line="$1" count="${2:-1}" i
  for ((i = 0; i < 300; i++)); do
    (($(grep -cxF -- "$line" "$NOTES") >= count)) && return 0
    if [[ -n "${JOBNIKD_PID:-}" ]] && ! kill -0 "$JOBNIKD_PID" 2>/dev/null; then
      (($(grep -cxF -- "$line" "$NOTES") >= count)) && return 0
      break
    fi
    sleep 0.1
  done
  echo "expected '$line' x$count; received:" >&2
  cat "$NOTES" >&2
  echo "jobnikd log:" >&2
  cat "$LOG" >&2
  return 1
}

# serve_notified VAR=VALUE...: jobnikd serve --migrate against the test database on a
# free port, with the given environment (NOTIFY_SOCKET, WATCHDOG_*), in the background.
serve_notified() {
  local url schema
  url=$(test_database_url)
  schema=$(unique_schema)
  env -u NOTIFY_SOCKET -u WATCHDOG_USEC -u WATCHDOG_PID "$@" "$JOBNIKD" --listen 127.0.0.1:0 --sweeper false --database-url "$url" --database-schema "$schema" \
    serve --migrate >"$LOG" 2>&1 &
  JOBNIKD_PID=$!
}

# exposure UNIT NAME: systemd-analyze security's overall exposure of a copy of UNIT named
# NAME (offline: no running systemd needed), e.g. "1.3".
exposure() {
  local dir="$BATS_TEST_TMPDIR/units"
  mkdir -p "$dir"
  sed 's|@BINDIR@|/usr/bin|' "$UNIT_DIR/$1" >"$dir/$2"
  (cd "$dir" && systemd-analyze security --offline=true --no-pager "$2" 2>/dev/null) |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

@test "the units' exposure (systemd-analyze security) stays at 2.0 or lower" {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  systemd-analyze security --help 2>/dev/null | grep -q -- --offline || skip "systemd-analyze has no --offline"
  for pair in "jobnikd.service jobnikd.service" "jobnik-worker@.service jobnik-worker@resize.service"; do
    read -r unit name <<<"$pair"
    level=$(exposure "$unit" "$name")
    [[ -n "$level" ]] || fail "no exposure level for $unit"
    awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || fail "$unit: exposure $level is above 2.0"
  done
}

@test "jobnikd.service passes systemd-analyze verify" {
  verify_unit jobnikd.service
}

@test "jobnik-worker@.service passes systemd-analyze verify as an instance" {
  verify_unit jobnik-worker@.service jobnik-worker@resize.service
}

@test "the units keep the hardening and the notify/watchdog contract" {
  local unit="$UNIT_DIR/jobnikd.service"
  for line in 'Type=notify' 'ExecStart=@BINDIR@/jobnikd --config /etc/jobnik/jobnikd.yaml serve' \
    'WatchdogSec=30s' 'KillMode=mixed' 'Restart=on-failure' 'DynamicUser=yes' 'StateDirectory=jobnik' \
    'Environment=JOBNIK_DATA_DIR=/var/lib/jobnik' 'EnvironmentFile=-/etc/jobnik/jobnikd.env' \
    'ProtectSystem=strict' 'MemoryDenyWriteExecute=yes' 'CapabilityBoundingSet=' \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service' \
    'SystemCallErrorNumber=EPERM' 'ProtectProc=invisible' 'ProcSubset=pid' 'PrivateMounts=yes'; do
    run grep -cxF -- "$line" "$unit"
    assert_output 1
  done
  # Longer than shutdown_timeout's default (10 s) plus the embedded database's stop (30 s).
  stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
  (( stop > 40 ))
  run grep -cxF 'ExecStart=@BINDIR@/jobnik-worker --config /etc/jobnik/worker-%i.yaml' \
    "$UNIT_DIR/jobnik-worker@.service"
  assert_output 1
  for line in 'Restart=always' 'StartLimitIntervalSec=5min' 'StartLimitBurst=5' 'Type=notify' 'KillMode=mixed' \
    'NoNewPrivileges=yes' 'ProtectSystem=strict' 'SystemCallFilter=@system-service' 'ProtectProc=invisible'; do
    run grep -cxF -- "$line" "$UNIT_DIR/jobnik-worker@.service"
    assert_output 1
  done
  # Longer than the worker's shutdown_timeout (30 s) plus kill_grace (5 s).
  stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$UNIT_DIR/jobnik-worker@.service")
  (( stop > 35 ))
}

@test "sd_notify: READY=1 with MAINPID once serving, STOPPING=1 on SIGTERM, exit 0" {
  start_listener "$BATS_TEST_TMPDIR/notify.sock"
  serve_notified NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock"
  wait_for_note READY=1
  run grep -cxF "MAINPID=$JOBNIKD_PID" "$NOTES"
  assert_output 1
  # READY=1 means serving: the API answers now.
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$LOG" | head -n1)
  run curl -sf "http://127.0.0.1:$port/readiness"
  assert_success
  run grep -c '^STOPPING=1$' "$NOTES"
  assert_output 0

  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  wait_for_note STOPPING=1
  # No watchdog was asked for.
  run grep -c '^WATCHDOG=1$' "$NOTES"
  assert_output 0
}

@test "sd_notify: an abstract-namespace NOTIFY_SOCKET (@name) works too" {
  socket="@jobnik-e2e-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  start_listener "$socket"
  serve_notified NOTIFY_SOCKET="$socket"
  wait_for_note READY=1
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  wait_for_note STOPPING=1
}

@test "sd_notify: WATCHDOG_USEC makes jobnikd send WATCHDOG=1 every half interval" {
  start_listener "$BATS_TEST_TMPDIR/notify.sock"
  # WATCHDOG_PID unset: the watchdog is meant for whoever reads WATCHDOG_USEC.
  serve_notified NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" WATCHDOG_USEC=200000
  wait_for_note READY=1
  wait_for_note WATCHDOG=1 2
  run grep -n -m1 -x 'WATCHDOG=1' "$NOTES"
  watchdog_line=${output%%:*}
  run grep -n -m1 -x 'READY=1' "$NOTES"
  ready_line=${output%%:*}
  # The first keep-alive follows READY=1.
  ((watchdog_line > ready_line))
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  wait_for_note STOPPING=1
}

@test "sd_notify: a WATCHDOG_PID naming another process turns the watchdog off" {
  start_listener "$BATS_TEST_TMPDIR/notify.sock"
  # $$ is this shell's pid, never jobnikd's.
  serve_notified NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" WATCHDOG_USEC=100000 WATCHDOG_PID=$$
  wait_for_note READY=1
  # An observation window of ten would-be intervals (not synchronisation: nothing is
  # expected to happen in it).
  sleep 1
  stop_jobnikd TERM
  assert_equal "$STOP_STATUS" 0
  wait_for_note STOPPING=1
  run grep -c '^WATCHDOG=1$' "$NOTES"
  assert_output 0
}
