#!/usr/bin/env bash
# pg-harness.sh - private, throw-away PostgreSQL clusters for Jobnik's tests.
#
# Usage:
#   pg-harness.sh start [--owner PID] DIR
#       Create DIR (if missing; it must be empty or a stale harness dir), initdb a
#       cluster in DIR/data, start it on a random free TCP port of 127.0.0.1 (and a
#       unix socket in DIR/sock), create the superuser role "jobnik" (trust auth)
#       and its database "jobnik_test", and print exactly one line on stdout:
#           postgresql://jobnik@127.0.0.1:PORT/jobnik_test
#       The URL is also written to DIR/url and the port to DIR/port.
#       A detached watchdog (pid in DIR/watchdog.pid) polls the owner process
#       (--owner, default: the caller, $PPID) every second; once the owner is gone
#       it stops the cluster (immediate mode) and removes DIR.
#   pg-harness.sh stop DIR
#       Kill the watchdog, stop the cluster (fast, falling back to immediate) and
#       remove DIR. Idempotent: a stopped cluster or a missing DIR exits 0.
#   pg-harness.sh run [--] CMD [ARGS...]
#       start a cluster in a fresh temp dir, export JOBNIK_TEST_DATABASE_URL (and
#       JOBNIK_TEST_PG_DIR), run CMD, always stop the cluster, exit with CMD's status.
#   pg-harness.sh --help
#
# Environment:
#   PG_HARNESS_DURABLE=1      keep fsync/synchronous_commit/full_page_writes at
#                             their defaults (benchmarks).
#   PG_HARNESS_SETTINGS="a=1 b=2"  extra server settings, space separated.
#   PG_HARNESS_BINDIR=DIR     where initdb/pg_ctl/postgres live (default:
#                             /usr/lib/postgresql/15/bin, then $PATH).
#
# As root the server runs as the "postgres" system user (initdb refuses root): DIR
# is chowned to it, and every ancestor of DIR must already be searchable by it.
#
# Exit status: 0 ok, 1 failure (start prints the tail of DIR/postgres.log),
# 2 usage error or PostgreSQL binaries missing.

set -euo pipefail
shopt -s inherit_errexit

readonly PG_ROLE=jobnik
readonly PG_DATABASE=jobnik_test
readonly PG_OS_USER=postgres
readonly PORT_MIN=20000
readonly PORT_MAX=60999
readonly MAX_START_ATTEMPTS=20
readonly MARKER=.pg-harness
SCRIPT_PATH=$(realpath -- "${BASH_SOURCE[0]}")
readonly SCRIPT_PATH

PG_BINDIR=
PSQL=
PORT=
START_ERROR=

usage() {
  sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$SCRIPT_PATH"
}

warn() { printf 'pg-harness: %s\n' "$*" >&2; }

die() {
  local code=$1
  shift
  warn "$*"
  exit "$code"
}

is_root() { [[ $EUID -eq 0 ]]; }

is_true() { [[ ${1,,} =~ ^(1|true|yes|on)$ ]]; }

# ---------------------------------------------------------------- tools

# Sets PG_BINDIR (and PSQL when found); returns 1 if the server binaries are missing.
locate_pg_tools() {
  local dir candidates=()
  if [[ -n ${PG_HARNESS_BINDIR:-} ]]; then
    candidates=("$PG_HARNESS_BINDIR")
  else
    candidates=(/usr/lib/postgresql/15/bin)
    if command -v pg_ctl >/dev/null 2>&1; then
      candidates+=("$(dirname -- "$(realpath -- "$(command -v pg_ctl)")")")
    fi
  fi
  PG_BINDIR=
  for dir in "${candidates[@]}"; do
    if [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres ]]; then
      PG_BINDIR=$dir
      break
    fi
  done
  if [[ -n $PG_BINDIR && -x $PG_BINDIR/psql ]]; then
    PSQL=$PG_BINDIR/psql
  else
    PSQL=$(command -v psql 2>/dev/null) || PSQL=
  fi
  [[ -n $PG_BINDIR ]]
}

# Like locate_pg_tools, but exits 2 naming the package to install.
require_pg_tools() {
  locate_pg_tools || die 2 "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found" \
    "in ${PG_HARNESS_BINDIR:-/usr/lib/postgresql/15/bin or \$PATH}." \
    "Install the Debian package postgresql-15 (apt-get install postgresql-15) or set PG_HARNESS_BINDIR."
  [[ -n $PSQL ]] ||
    die 2 "psql not found. Install the Debian package postgresql-client-15 (pulled in by postgresql-15)."
  if is_root; then
    id -u "$PG_OS_USER" >/dev/null 2>&1 ||
      die 2 "running as root needs the '$PG_OS_USER' system user (created by the postgresql-15 package)."
    command -v runuser >/dev/null 2>&1 || command -v setpriv >/dev/null 2>&1 ||
      die 2 "running as root needs runuser or setpriv (package util-linux)."
  fi
}

# Runs a command as the cluster's OS user (postgres when we are root), from /.
as_pg() {
  (
    cd /
    if ! is_root; then
      exec "$@"
    elif command -v runuser >/dev/null 2>&1; then
      exec runuser -u "$PG_OS_USER" -- "$@"
    else
      exec setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups -- "$@"
    fi
  )
}

# Closes every inherited fd above 2 (e.g. bats' fd 3) so that long-lived children
# (postmaster, watchdog) never hold a caller's pipe open. Call in a subshell.
close_extra_fds() {
  local fd_path fd
  for fd_path in /proc/self/fd/*; do
    fd=${fd_path##*/}
    if ((fd > 2 && fd != 255)); then
      exec {fd}>&-
    fi
  done
}

pg_ctl_cmd() { as_pg "$PG_BINDIR/pg_ctl" "$@"; }

# psql against URL, immune to the caller's PG* connection settings.
run_psql() {
  local url=$1 sql=$2
  env -u PGSERVICE -u PGSSLMODE -u PGOPTIONS -u PGREQUIRESSL PGCONNECT_TIMEOUT=5 \
    "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -d "$url" -c "$sql"
}

make_url() { printf 'postgresql://%s@127.0.0.1:%s/%s' "$PG_ROLE" "$1" "$2"; }

# ---------------------------------------------------------------- processes

# Prints the start time (clock ticks since boot) of a live, non-zombie PID.
proc_start_time() {
  local stat fields
  { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
  read -r -a fields <<<"${stat##*) }"
  [[ ${fields[0]} != [ZX] ]] || return 1
  printf '%s\n' "${fields[19]}"
}

# Is PID alive and still the same process (start time TOKEN, guards pid reuse)?
pid_alive() {
  local pid=$1 token=${2:-} now
  if [[ -d /proc/self ]]; then
    now=$(proc_start_time "$pid") || return 1
    [[ -z $token || $now == "$token" ]]
  else
    kill -0 "$pid" 2>/dev/null
  fi
}

read_pidfile() {
  local pid
  { read -r pid <"$1"; } 2>/dev/null || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

# Polls (bounded) until PID is gone; TENTHS is the budget in 0.1 s steps.
wait_until_gone() {
  local pid=$1 tenths=$2 i
  for ((i = 0; i < tenths; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  ! pid_alive "$pid"
}

is_watchdog_of() {
  local pid=$1 dir=$2 cmdline
  { cmdline=$(tr '\0' '\n' <"/proc/$pid/cmdline"); } 2>/dev/null || return 1
  [[ $cmdline == *$'\n'__watchdog$'\n'"$dir"$'\n'* ]]
}

# ---------------------------------------------------------------- cluster

cluster_pid() { read_pidfile "$1/data/postmaster.pid"; }

# Stops the cluster in DIR: MODE (fast|immediate), then immediate, then SIGKILL.
stop_cluster() {
  local dir=$1 mode=$2 pid
  pid=$(cluster_pid "$dir") || return 0
  # pg_ctl -w returns once postmaster.pid is gone, a moment before the process
  # exits: also wait for the process, so that DIR and the port are really free.
  if [[ -n $PG_BINDIR ]]; then
    if pg_ctl_cmd stop -D "$dir/data" -m "$mode" -w -t 60 >>"$dir/harness.log" 2>&1 ||
      pg_ctl_cmd stop -D "$dir/data" -m immediate -w -t 30 >>"$dir/harness.log" 2>&1; then
      wait_until_gone "$pid" 100 && return 0
    fi
  fi
  # No pg_ctl, or it failed (e.g. a stale pid file): signal the postmaster directly.
  if pid_alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres* ]]; then
    kill -QUIT "$pid" 2>/dev/null || true
    wait_until_gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null || true
    wait_until_gone "$pid" 50 || true
  fi
}

kill_watchdog() {
  local dir=$1 pid
  pid=$(read_pidfile "$dir/watchdog.pid") || return 0
  is_watchdog_of "$pid" "$dir" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_until_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null || true
}

# rm -rf DIR, retrying briefly while dying backends may still write into it.
remove_dir() {
  local dir=$1 i
  for ((i = 0; i < 20; i++)); do
    rm -rf -- "$dir" 2>/dev/null || true
    [[ ! -e $dir ]] && return 0
    sleep 0.1
  done
  rm -rf -- "$dir"
}

teardown() {
  local dir=$1 mode=$2
  stop_cluster "$dir" "$mode"
  remove_dir "$dir"
}

# ---------------------------------------------------------------- watchdog

watchdog_main() {
  local dir=$1 owner=$2 token=$3
  trap '' HUP INT
  while [[ -e $dir/$MARKER ]]; do
    if ! pid_alive "$owner" "$token"; then
      locate_pg_tools || true
      teardown "$dir" immediate
      exit 0
    fi
    sleep 1
  done
}

# Starts the watchdog in its own session, with no inherited fds, and records its pid.
launch_watchdog() {
  local dir=$1 owner=$2 token=$3
  (
    close_extra_fds
    cd /
    # No job control here, so this subshell is not a process-group leader: setsid
    # does not fork and $! below is the watchdog's own pid.
    exec setsid "$BASH" "$SCRIPT_PATH" __watchdog "$dir" "$owner" "$token"
  ) </dev/null >/dev/null 2>&1 &
  printf '%s\n' "$!" >"$dir/watchdog.pid"
}

# ---------------------------------------------------------------- start

check_dir_path() {
  local dir=$1
  [[ $dir != / ]] || die 2 "refusing to use / as DIR"
  [[ $dir != *[[:space:]\'\"\\,]* ]] ||
    die 2 "DIR must not contain whitespace, quotes, backslashes or commas: $dir"
  # sun_path is 108 bytes: DIR/sock/.s.PGSQL.NNNNN must fit.
  ((${#dir} + 20 <= 107)) || die 2 "DIR is too long for a unix socket path (max 87 chars): $dir"
}

# A DIR left by an earlier run whose watchdog is gone is torn down and reused.
reclaim_stale_dir() {
  local dir=$1 pid
  if pid=$(read_pidfile "$dir/watchdog.pid") && is_watchdog_of "$pid" "$dir"; then
    die 1 "$dir is in use by a running harness (watchdog $pid); run '$0 stop $dir' first"
  fi
  warn "removing stale harness directory $dir"
  teardown "$dir" immediate
}

# Fails clearly if the postgres user cannot search every ancestor of DIR.
check_pg_can_reach() {
  local dir=$1 p blocked=()
  as_pg test -x "$dir" && return 0
  p=$dir
  while [[ $p != / ]]; do
    p=$(dirname -- "$p")
    as_pg test -x "$p" || blocked=("$(stat -c '%n (%A %U:%G)' -- "$p")" "${blocked[@]}")
  done
  warn "the '$PG_OS_USER' user cannot reach $dir: not searchable: ${blocked[*]:-?}."
  warn "pg-harness does not loosen permissions outside DIR; use a DIR whose parents are" \
    "searchable by '$PG_OS_USER', e.g. DIR=\$(mktemp -d) itself, not a directory inside it."
  return 1
}

prepare_dir() {
  local dir=$1 created=0
  [[ ! -e $dir || -d $dir ]] || die 1 "$dir exists and is not a directory"
  [[ ! -e $dir/$MARKER ]] || reclaim_stale_dir "$dir"
  if [[ -d $dir ]]; then
    [[ -z $(find "$dir" -mindepth 1 -maxdepth 1 -print -quit) ]] ||
      die 1 "$dir is not empty and is not a pg-harness directory"
  else
    mkdir -p -- "$dir"
    created=1
  fi
  if is_root; then
    chown "$PG_OS_USER:" "$dir"
    chmod 0755 "$dir"
    if ! check_pg_can_reach "$dir"; then
      ((created)) && rmdir -- "$dir"
      exit 1
    fi
  fi
  : >"$dir/$MARKER"
  : >"$dir/harness.log"
  if is_root; then chown "$PG_OS_USER:" "$dir/harness.log"; fi
}

# Prints the tail of the logs, stops a half-started server, exits 1. The watchdog
# is left running: DIR stays for inspection until `stop` or the owner's exit.
fail_start() {
  local dir=$1
  shift
  warn "start failed: $*"
  if [[ -s $dir/harness.log ]]; then
    warn "--- tail of $dir/harness.log"
    tail -n 20 "$dir/harness.log" >&2
  fi
  if [[ -s $dir/postgres.log ]]; then
    warn "--- tail of $dir/postgres.log"
    tail -n 40 "$dir/postgres.log" >&2
  fi
  stop_cluster "$dir" immediate
  exit 1
}

init_cluster() {
  local dir=$1
  as_pg "$PG_BINDIR/initdb" -D "$dir/data" -U "$PG_ROLE" --auth=trust -E UTF8 --locale=C \
    --no-sync --no-instructions >>"$dir/harness.log" 2>&1 || return 1
  printf "\ninclude = 'harness.conf'\n" >>"$dir/data/postgresql.conf"
}

conf_quote() {
  local v=${1//\\/\\\\}
  printf "'%s'" "${v//\'/\'\'}"
}

# Prints PG_HARNESS_SETTINGS as config lines; returns 1 on a malformed pair.
extra_settings() {
  local pair
  local -a pairs=()
  read -r -a pairs <<<"${PG_HARNESS_SETTINGS:-}"
  for pair in "${pairs[@]}"; do
    if [[ ! $pair =~ ^([A-Za-z_][A-Za-z0-9_.]*)=(.*)$ ]]; then
      warn "PG_HARNESS_SETTINGS: expected name=value, got '$pair'"
      return 1
    fi
    printf '%s = %s\n' "${BASH_REMATCH[1]}" "$(conf_quote "${BASH_REMATCH[2]}")"
  done
}

check_settings() { extra_settings >/dev/null || exit 2; }

# Writes DIR/data/harness.conf (included by postgresql.conf) for PORT.
write_server_conf() {
  local dir=$1 port=$2 conf=$1/data/harness.conf
  {
    echo "# written by pg-harness.sh; later lines win"
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = $(conf_quote "$dir/sock")"
    echo "max_connections = 300"
    echo "shared_buffers = '128MB'"
    echo "log_destination = 'stderr'"
    echo "logging_collector = off"
    echo "log_min_messages = warning"
    if ! is_true "${PG_HARNESS_DURABLE:-0}"; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
    extra_settings
  } >"$conf"
  if is_root; then chown "$PG_OS_USER:" "$conf"; fi
}

port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# Sets PORT to a random port in [PORT_MIN, PORT_MAX] that nothing listens on.
pick_free_port() {
  local i candidate
  for ((i = 0; i < 200; i++)); do
    candidate=$((PORT_MIN + ((RANDOM << 15) | RANDOM) % (PORT_MAX - PORT_MIN + 1)))
    if ! port_in_use "$candidate"; then
      PORT=$candidate
      return 0
    fi
  done
  return 1
}

file_size() { if [[ -f $1 ]]; then stat -c %s -- "$1"; else echo 0; fi; }

# Did the postmaster log (after byte OFFSET) say its port was taken?
port_conflict_logged() {
  local log=$1 offset=$2 text
  text=$(tail -c "+$((offset + 1))" -- "$log" 2>/dev/null) || return 1
  [[ $text =~ could\ not\ bind|Address\ already\ in\ use|could\ not\ create\ any\ TCP/IP\ sockets ]]
}

# Starts the server, retrying on a new port when the chosen one got taken meanwhile.
start_server() {
  local dir=$1 attempt offset
  START_ERROR="the server did not start"
  for ((attempt = 1; attempt <= MAX_START_ATTEMPTS; attempt++)); do
    if ! pick_free_port; then
      START_ERROR="no free port found in $PORT_MIN-$PORT_MAX"
      return 1
    fi
    write_server_conf "$dir" "$PORT"
    offset=$(file_size "$dir/postgres.log")
    if (
      close_extra_fds
      pg_ctl_cmd start -D "$dir/data" -l "$dir/postgres.log" -w -t 60
    ) </dev/null >>"$dir/harness.log" 2>&1; then
      return 0
    fi
    port_conflict_logged "$dir/postgres.log" "$offset" || return 1
    echo "pg-harness: port $PORT was taken, retrying" >>"$dir/harness.log"
    stop_cluster "$dir" immediate
  done
  START_ERROR="no free port after $MAX_START_ATTEMPTS attempts"
  return 1
}

# Polls (bounded, ~30 s) until URL accepts connections.
wait_for_connections() {
  local url=$1 i
  for ((i = 0; i < 60; i++)); do
    run_psql "$url" 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

cmd_start() {
  local dir='' owner=$PPID token url
  while (($#)); do
    case $1 in
      --owner)
        [[ ${2:-} =~ ^[0-9]+$ ]] || die 2 "start: --owner needs a PID"
        owner=$2
        shift 2
        ;;
      --owner=*)
        owner=${1#--owner=}
        [[ $owner =~ ^[0-9]+$ ]] || die 2 "start: --owner needs a PID"
        shift
        ;;
      -*) die 2 "start: unknown option $1 (see --help)" ;;
      *)
        [[ -z $dir ]] || die 2 "start: only one DIR expected"
        dir=$1
        shift
        ;;
    esac
  done
  [[ -n $dir ]] || die 2 "start: missing DIR (see --help)"
  require_pg_tools
  check_settings
  token=$(proc_start_time "$owner" 2>/dev/null) || token=
  pid_alive "$owner" "$token" || die 1 "start: owner process $owner is not running"
  dir=$(realpath -m -- "$dir")
  check_dir_path "$dir"
  prepare_dir "$dir"
  launch_watchdog "$dir" "$owner" "$token"

  init_cluster "$dir" || fail_start "$dir" "initdb failed"
  mkdir -m 0755 -- "$dir/sock"
  if is_root; then chown "$PG_OS_USER:" "$dir/sock"; fi
  start_server "$dir" || fail_start "$dir" "$START_ERROR"
  wait_for_connections "$(make_url "$PORT" postgres)" ||
    fail_start "$dir" "the server does not accept connections on 127.0.0.1:$PORT"
  run_psql "$(make_url "$PORT" postgres)" "CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE" \
    >>"$dir/harness.log" 2>&1 || fail_start "$dir" "CREATE DATABASE $PG_DATABASE failed"
  url=$(make_url "$PORT" "$PG_DATABASE")
  printf '%s\n' "$PORT" >"$dir/port"
  printf '%s\n' "$url" >"$dir/url"
  printf '%s\n' "$url"
}

# ---------------------------------------------------------------- stop / run

cmd_stop() {
  (($# == 1)) || die 2 "stop: expected exactly one DIR (see --help)"
  local dir
  dir=$(realpath -m -- "$1")
  [[ -e $dir ]] || return 0
  [[ $dir != / ]] || die 2 "refusing to use / as DIR"
  if [[ ! -e $dir/$MARKER ]]; then
    # An empty dir (e.g. a mktemp -d that was never started) is simply removed.
    rmdir -- "$dir" 2>/dev/null && return 0
    die 1 "stop: $dir is not a pg-harness directory; leaving it alone"
  fi
  locate_pg_tools || true
  kill_watchdog "$dir"
  teardown "$dir" fast
}

RUN_DIR=
run_cleanup() {
  local rc=$?
  if [[ -n $RUN_DIR ]]; then
    "$BASH" "$SCRIPT_PATH" stop "$RUN_DIR" || warn "run: stopping the cluster in $RUN_DIR failed"
  fi
  exit "$rc"
}

cmd_run() {
  [[ ${1:-} != -- ]] || shift
  (($#)) || die 2 "run: missing command (see --help)"
  local url rc
  RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pg-harness.XXXXXXXX")
  trap run_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  url=$("$BASH" "$SCRIPT_PATH" start --owner "$$" "$RUN_DIR")
  export JOBNIK_TEST_DATABASE_URL=$url JOBNIK_TEST_PG_DIR=$RUN_DIR
  set +e
  "$@"
  rc=$?
  set -e
  return "$rc"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    run) cmd_run "$@" ;;
    -h | --help | help) usage ;;
    __watchdog) watchdog_main "$@" ;;
    '') usage >&2 && exit 2 ;;
    *) die 2 "unknown command '$cmd' (see --help)" ;;
  esac
}

main "$@"
