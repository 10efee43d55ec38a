#!/usr/bin/env bats
# shellcheck disable=SC2030,SC2031 # bats runs each @test in its own process, on purpose
# Tests of tests/harness/pg-harness.sh against the real PostgreSQL 15 binaries.
#
# Clusters are started with --owner "$$" (this test's bats-exec-test process):
# `run` executes its command in a short-lived subshell, so the default owner
# ($PPID) would make the watchdog tear the cluster down right after start.

bats_require_minimum_version 1.5.0

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
  HARNESS="$BATS_TEST_DIRNAME/pg-harness.sh"
  OWNER=$$
  DIRS=()
  SCRATCH=()
  OWNER_PIDS=()
}

teardown() {
  local d pid
  for d in "${DIRS[@]}"; do
    bash "$HARNESS" stop "$d" || true
  done
  for pid in "${OWNER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if ((${#SCRATCH[@]})); then rm -rf -- "${SCRATCH[@]}"; fi
}

# Sets NEW_DIR to a fresh directory (mktemp -d directly under /tmp: its parent is
# searchable by the postgres user) and registers it for teardown.
new_dir() {
  NEW_DIR=$(mktemp -d)
  DIRS+=("$NEW_DIR")
}

# Sets NEW_DIR to a fresh directory that teardown removes with rm -rf.
new_scratch_dir() {
  NEW_DIR=$(mktemp -d)
  SCRATCH+=("$NEW_DIR")
}

# Starts a cluster in a new dir; sets DIR and URL.
start_cluster() {
  new_dir
  DIR=$NEW_DIR
  URL=$(bash "$HARNESS" start --owner "$OWNER" "$DIR")
}

sql() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

port_listening() {
  [ -n "$(ss -Hltn "sport = :$1")" ]
}

# Is PID a live process (zombies waiting to be reaped count as gone)?
pid_running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != [ZX] ]]
}

process_gone() {
  ! pid_running "$1"
}

dir_gone() {
  [ ! -e "$1" ]
}

# Polls CONDITION... every 0.1 s, at most TENTHS times; fails if it never holds.
wait_until() {
  local tenths=$1 i
  shift
  for ((i = 0; i < tenths; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

@test "start prints one URL that psql can use as role jobnik in db jobnik_test" {
  new_dir
  run --separate-stderr bash "$HARNESS" start --owner "$OWNER" "$NEW_DIR"
  assert_success
  assert_equal "${#lines[@]}" 1
  assert_output --regexp '^postgresql://jobnik@127\.0\.0\.1:[0-9]+/jobnik_test$'
  url=$output
  port=${url#postgresql://jobnik@127.0.0.1:}
  port=${port%%/*}
  ((port >= 20000 && port <= 60999))
  assert_equal "$(cat "$NEW_DIR/url")" "$url"
  assert_equal "$(cat "$NEW_DIR/port")" "$port"

  run sql "$url" "SELECT 1"
  assert_success
  assert_output "1"

  run sql "$url" "SELECT current_user || '/' || current_database() || '/' || rolsuper
                    FROM pg_roles WHERE rolname = current_user"
  assert_output "jobnik/jobnik_test/true"

  run sql "$url" "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database
                   WHERE datname = 'jobnik_test'"
  assert_output "jobnik"

  # The unix socket in DIR/sock works too.
  run psql -X -A -t -h "$NEW_DIR/sock" -p "$port" -U jobnik -d jobnik_test -c "SELECT 2"
  assert_success
  assert_output "2"
}

@test "start applies the test-friendly settings" {
  start_cluster
  run sql "$URL" "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
                   WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes',
                                  'max_connections', 'listen_addresses', 'port')"
  assert_output "fsync=off full_page_writes=off listen_addresses=127.0.0.1 max_connections=300 port=$(cat "$DIR/port") synchronous_commit=off"
  run sql "$URL" "SHOW shared_buffers"
  assert_output "128MB"
  run sql "$URL" "SHOW unix_socket_directories"
  assert_output "$DIR/sock"
  assert [ -s "$DIR/postgres.log" ]
}

@test "PG_HARNESS_DURABLE keeps durability defaults and PG_HARNESS_SETTINGS adds settings" {
  PG_HARNESS_DURABLE=1 PG_HARNESS_SETTINGS="work_mem=7MB application_name=x'y" start_cluster
  run sql "$URL" "SELECT current_setting('fsync') || current_setting('synchronous_commit')
                      || current_setting('full_page_writes')"
  assert_output "ononon"
  run sql "$URL" "SHOW work_mem"
  assert_output "7MB"
  run sql "$URL" "SELECT setting FROM pg_file_settings WHERE name = 'application_name'"
  assert_output "x'y"
}

@test "two clusters started at once get different ports and both work" {
  new_dir
  d1=$NEW_DIR
  new_dir
  d2=$NEW_DIR
  bash "$HARNESS" start --owner "$OWNER" "$d1" >"$BATS_TEST_TMPDIR/1.out" &
  p1=$!
  bash "$HARNESS" start --owner "$OWNER" "$d2" >"$BATS_TEST_TMPDIR/2.out" &
  p2=$!
  wait "$p1"
  wait "$p2"
  url1=$(cat "$BATS_TEST_TMPDIR/1.out")
  url2=$(cat "$BATS_TEST_TMPDIR/2.out")
  refute [ "$(cat "$d1/port")" = "$(cat "$d2/port")" ]
  refute [ "$url1" = "$url2" ]

  sql "$url1" "CREATE TABLE only_in_one (x int)"
  run sql "$url1" "SELECT current_setting('data_directory')"
  assert_output "$d1/data"
  run sql "$url2" "SELECT current_setting('data_directory')"
  assert_output "$d2/data"
  run sql "$url2" "SELECT to_regclass('only_in_one') IS NULL"
  assert_output "t"
}

@test "stop removes the dir, ends the server and the watchdog, frees the port" {
  start_cluster
  port=$(cat "$DIR/port")
  postmaster=$(head -n 1 "$DIR/data/postmaster.pid")
  watchdog=$(cat "$DIR/watchdog.pid")
  assert port_listening "$port"
  assert pid_running "$postmaster"
  assert pid_running "$watchdog"

  run bash "$HARNESS" stop "$DIR"
  assert_success
  refute [ -e "$DIR" ]
  refute port_listening "$port"
  refute pid_running "$postmaster"
  refute pid_running "$watchdog"
  run sql "$URL" "SELECT 1"
  assert_failure
}

@test "the watchdog stops the cluster and removes DIR when the owner dies" {
  sleep 1000 &
  owner=$!
  OWNER_PIDS+=("$owner")
  new_dir
  DIR=$NEW_DIR
  URL=$(bash "$HARNESS" start --owner "$owner" "$DIR")
  port=$(cat "$DIR/port")
  postmaster=$(head -n 1 "$DIR/data/postmaster.pid")
  run sql "$URL" "SELECT 1"
  assert_output "1"

  kill "$owner"
  wait "$owner" || true
  wait_until 150 dir_gone "$DIR"
  wait_until 50 process_gone "$postmaster"
  refute port_listening "$port"
}

@test "the watchdog treats an owner that died but was never reaped (zombie) as gone" {
  # The inner sleep's parent becomes `sleep 1000` (exec), which never reaps it.
  bash -c 'sleep 1000 & echo $! >"$1"; exec sleep 1000' _ "$BATS_TEST_TMPDIR/owner" 3>&- &
  reaper=$!
  OWNER_PIDS+=("$reaper")
  wait_until 50 test -s "$BATS_TEST_TMPDIR/owner"
  owner=$(cat "$BATS_TEST_TMPDIR/owner")
  OWNER_PIDS+=("$owner")
  new_dir
  DIR=$NEW_DIR
  URL=$(bash "$HARNESS" start --owner "$owner" "$DIR")

  kill "$owner"
  wait_until 50 grep -q '^State:.*Z' "/proc/$owner/status"
  wait_until 150 dir_gone "$DIR"
}

@test "the watchdog survives while its owner lives" {
  sleep 1000 &
  owner=$!
  OWNER_PIDS+=("$owner")
  new_dir
  DIR=$NEW_DIR
  URL=$(bash "$HARNESS" start --owner "$owner" "$DIR")
  watchdog=$(cat "$DIR/watchdog.pid")
  # Give the watchdog several of its 1 s polls; a wrong liveness test would fire.
  for _ in 1 2 3; do
    sleep 1
    assert pid_running "$watchdog"
    run sql "$URL" "SELECT 1"
    assert_output "1"
  done
}

@test "run exports the URL, runs the command and leaves nothing behind" {
  new_scratch_dir
  parent=$NEW_DIR
  chmod 0755 "$parent" # our own temp dir: let the postgres user into it
  # shellcheck disable=SC2016 # expanded by the inner sh
  run env TMPDIR="$parent" bash "$HARNESS" run -- \
    sh -c 'echo "dir=$JOBNIK_TEST_PG_DIR"; psql -X -A -t "$JOBNIK_TEST_DATABASE_URL" -c "select 1"'
  assert_success
  assert_line "1"
  assert_line --regexp "^dir=$parent/pg-harness\\."
  pg_dir=$(printf '%s\n' "$output" | sed -n 's/^dir=//p')
  refute [ -e "$pg_dir" ]
  assert_equal "$(find "$parent" -mindepth 1 | wc -l)" 0
  refute pgrep -f -- "-D $pg_dir/data"
  refute pgrep -f -- "__watchdog $pg_dir"
}

@test "run returns the command's exit status and still cleans up" {
  new_scratch_dir
  parent=$NEW_DIR
  chmod 0755 "$parent"
  run env TMPDIR="$parent" bash "$HARNESS" run -- sh -c 'exit 3'
  assert_failure 3
  assert_equal "$(find "$parent" -mindepth 1 | wc -l)" 0
}

@test "stop is idempotent" {
  start_cluster
  run bash "$HARNESS" stop "$DIR"
  assert_success
  run bash "$HARNESS" stop "$DIR"
  assert_success
  run bash "$HARNESS" stop "$BATS_TEST_TMPDIR/never-started"
  assert_success
}

@test "stop refuses to delete a directory it did not create" {
  new_scratch_dir
  touch "$NEW_DIR/precious"
  run bash "$HARNESS" stop "$NEW_DIR"
  assert_failure
  assert [ -e "$NEW_DIR/precious" ]
}

@test "missing PostgreSQL binaries exit 2 naming the package" {
  new_dir
  PG_HARNESS_BINDIR=/nonexistent run bash "$HARNESS" start --owner "$OWNER" "$NEW_DIR"
  assert_failure 2
  assert_output --partial "postgresql-15"
}

@test "a DIR the postgres user cannot reach fails clearly without loosening its parent" {
  [ "$EUID" -eq 0 ] || skip "only root switches to the postgres user"
  new_scratch_dir
  parent=$NEW_DIR # mktemp -d: 0700 root
  run bash "$HARNESS" start --owner "$OWNER" "$parent/pg"
  assert_failure 1
  assert_output --partial "cannot reach"
  assert_equal "$(stat -c %a "$parent")" 700
  refute [ -e "$parent/pg" ]
}

@test "a failing start exits 1 and shows the server log" {
  new_dir
  PG_HARNESS_SETTINGS="no_such_setting=1" run bash "$HARNESS" start --owner "$OWNER" "$NEW_DIR"
  assert_failure 1
  assert_output --partial "postgres.log"
  assert_output --partial 'unrecognized configuration parameter "no_such_setting"'
}

@test "--help documents the commands" {
  run bash "$HARNESS" --help
  assert_success
  assert_output --partial "start [--owner PID] DIR"
  assert_output --partial "stop DIR"
  assert_output --partial "run [--] CMD"
  assert_output --partial "PG_HARNESS_DURABLE"
}
