#!/usr/bin/env bash
# PostgreSQL baseline for `make bench`: what PostgreSQL itself does for the work
# jobnikd asks of it, with the minimum SQL and no daemon in between.
#
#   bench/baseline/run-baseline.sh [--claim16] URL OUT_JSON
#
# --claim16 measures only claim+done at 16 clients (claim_done_pairs_per_s["16"]): the
#          figure bench/run.sh measures again beside its runs at W = 16, so that a ratio
#          compares two figures taken a minute apart, not one taken minutes earlier.
# URL      libpq connection URL of a running PostgreSQL, superuser role (CHECKPOINT,
#          CREATE SCHEMA); 64 clients need max_connections >= 70.
# OUT_JSON where to write the results (jq format below); a table goes to stdout,
#          progress to stderr.
#
# Environment:
#   BENCH_SECONDS  duration of each timed pgbench run (default 10)
#   BENCH_ROWS     PENDING rows loaded before each claim+done run
#                  (default max(200000, 40000 * BENCH_SECONDS): enough for 40,000
#                  pairs/s, several times what 64 clients do on 2 cores; if a claim
#                  comes back empty the run fails and says to raise it)
#   PGBENCH, PSQL  client binaries (default: from PATH, else PostgreSQL 15's bindir)
#
# Measures, in the private schema bench_baseline (dropped first and at the end):
#   claim_done_pairs_per_s        claim_done.sql at 1, 4, 16, 64 clients
#   claim_done_16types_pairs_per_s claim_done_16types.sql at 16 clients
#   claim10_done_tasks_per_s      claim_done_batch10.sql at 16 clients (10 rows per claim
#                                 and per completion): tasks/s
#   bulk_insert_rows_per_s        insert_bulk.sql, 100 transactions x 1000 rows, 1 client
#   single_insert_rows_per_s      insert_single.sql, 1 row per transaction, 1 client
# Each claim run starts from a freshly loaded table (load.sql). Exits non-zero if
# pgbench fails, reports failed transactions, or a claim came back empty (the
# table ran dry).
set -euo pipefail
shopt -s inherit_errexit

usage() {
  echo "usage: $0 [--claim16] URL OUT_JSON   (env: BENCH_SECONDS=10, BENCH_ROWS)" >&2
  exit 2
}
only_claim16=false
if [[ ${1:-} == --claim16 ]]; then
  only_claim16=true
  shift
fi
[[ $# -eq 2 ]] || usage
url=$1
out=$2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
seconds=${BENCH_SECONDS:-10}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SECONDS must be a positive integer" >&2; exit 2; }
rows=${BENCH_ROWS:-$((seconds * 40000 > 200000 ? seconds * 40000 : 200000))}
[[ $rows =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROWS must be a positive integer" >&2; exit 2; }
bulk_tx=100        # insert_bulk.sql transactions ...
bulk_tx_rows=1000  # ... of this many rows each (fixed in insert_bulk.sql)

find_bin() {
  if command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  elif [[ -x /usr/lib/postgresql/15/bin/$1 ]]; then
    echo "/usr/lib/postgresql/15/bin/$1"
  else
    echo "$0: $1 not found" >&2
    exit 1
  fi
}
pgbench=${PGBENCH:-$(find_bin pgbench)}
psql_bin=${PSQL:-$(find_bin psql)}
command -v jq >/dev/null || { echo "$0: jq not found" >&2; exit 1; }

threads=$(nproc 2>/dev/null || echo 2)

work=$(mktemp -d)
schema_created=0
cleanup() {
  if [[ $schema_created == 1 ]]; then
    "$psql_bin" -X -q -d "$url" -c 'SET client_min_messages = warning' \
      -c 'DROP SCHEMA IF EXISTS bench_baseline CASCADE' >/dev/null 2>&1 ||
      echo "warning: could not drop schema bench_baseline" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

log() { echo "baseline: $*" >&2; }
die() { echo "baseline: error: $*" >&2; exit 1; }

psql_run() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$url" "$@"; }

# pgbench_run NAME CLIENTS SCRIPT PGBENCH_ARGS... -> prints pgbench's tps.
# Fails on a non-zero exit (aborted clients exit 2), or failed transactions.
pgbench_run() {
  local name=$1 clients=$2 script=$3
  shift 3
  local j=$((clients < threads ? clients : threads))
  local logf="$work/$name.log"
  if ! "$pgbench" -n -M prepared -c "$clients" -j "$j" -f "$here/$script" "$@" "$url" >"$logf" 2>&1; then
    cat "$logf" >&2
    die "pgbench $name failed"
  fi
  local failed tps
  failed=$(awk '/^number of failed transactions:/ {print $5}' "$logf")
  tps=$(awk '/^tps = / {print $3}' "$logf")
  if [[ -n $failed && $failed != 0 ]]; then
    cat "$logf" >&2
    die "pgbench $name: $failed failed transactions"
  fi
  [[ -n $tps ]] || { cat "$logf" >&2; die "pgbench $name: no tps in output"; }
  echo "$tps"
}

# "number of transactions actually processed: N" (-T) or "N/M" (-t) -> N
processed() { awk '/^number of transactions actually processed:/ {split($6, a, "/"); print a[1]}' "$work/$1.log"; }

# claim_run NAME CLIENTS SCRIPT TYPES [ROWS_PER_EXECUTION] -> prints pairs/s.
# pgbench counts one execution of the script (claim + done = two SQL
# transactions) as one "transaction", so its tps IS pairs/s: no division by 2.
# A script that claims and completes ROWS rows per execution (default 1) prints
# its tps x ROWS: tasks/s.
claim_run() {
  local name=$1 clients=$2 script=$3 types=$4 per=${5:-1}
  log "loading $rows PENDING rows ($types stage type(s))"
  psql_run -v rows="$rows" -v types="$types" -f "$here/load.sql" >/dev/null
  log "$name: $clients client(s), ${seconds}s"
  local tps n counts completed pending in_progress
  tps=$(pgbench_run "$name" "$clients" "$script" -T "$seconds")
  n=$(processed "$name")
  counts=$(psql_run -At -F ' ' -c "SELECT count(*) FILTER (WHERE status = 'COMPLETED'),
      count(*) FILTER (WHERE status = 'PENDING'), count(*) FILTER (WHERE status = 'IN_PROGRESS')
    FROM bench_baseline.task")
  read -r completed pending in_progress <<<"$counts"
  # Every script execution must have claimed and completed exactly one row; a
  # shortfall means claims came back empty, i.e. the table (or a type) ran dry.
  if [[ $completed != "$((n * per))" || $in_progress != 0 || $pending == 0 ]]; then
    die "$name: $n pairs run but $completed COMPLETED, $in_progress IN_PROGRESS, $pending PENDING left (ran dry? raise BENCH_ROWS)"
  fi
  tps=$(jq -n --argjson t "$tps" --argjson p "$per" '$t * $p')
  log "$name: $tps pairs/s ($n executions x $per, $pending rows still PENDING)"
  echo "$tps"
}

version=$("$pgbench" --version)
server=$(psql_run -At -c 'SHOW server_version')
log "$version, server $server, ${seconds}s per run, $threads pgbench threads"

psql_run -f "$here/schema.sql" >/dev/null
schema_created=1

if [[ $only_claim16 == true ]]; then
  c16=$(claim_run claim_done_c16 16 claim_done.sql 1)
  jq -n --argjson c16 "$c16" --arg version "$version" --argjson seconds "$seconds" \
    '{claim_done_pairs_per_s: {"16": ($c16 * 10 | round / 10)}, pgbench_version: $version, seconds: $seconds}' >"$out"
  exit 0
fi

declare -A pairs
for c in 1 4 16 64; do
  pairs[$c]=$(claim_run "claim_done_c$c" "$c" claim_done.sql 1)
done
pairs16types=$(claim_run claim_done_16types_c16 16 claim_done_16types.sql 16)
batch10=$(claim_run claim_done_batch10_c16 16 claim_done_batch10.sql 1 10)

# Bulk insert: into the emptied table, 100 transactions x 1000 rows from one client.
psql_run -c 'TRUNCATE bench_baseline.task RESTART IDENTITY' -c 'CHECKPOINT' >/dev/null
log "bulk insert: $bulk_tx transactions x $bulk_tx_rows rows, 1 client"
bulk_tps=$(pgbench_run insert_bulk 1 insert_bulk.sql -t "$bulk_tx")
[[ $(processed insert_bulk) == "$bulk_tx" ]] || die "insert_bulk: expected $bulk_tx transactions"
got=$(psql_run -At -c 'SELECT count(*) FROM bench_baseline.task')
[[ $got == $((bulk_tx * bulk_tx_rows)) ]] || die "insert_bulk: $got rows in table, expected $((bulk_tx * bulk_tx_rows))"
bulk_rows=$(jq -n --argjson t "$bulk_tps" --argjson r "$bulk_tx_rows" '$t * $r')

psql_run -c 'TRUNCATE bench_baseline.task RESTART IDENTITY' -c 'CHECKPOINT' >/dev/null
log "single-row insert: 1 row per transaction, 1 client, ${seconds}s"
single_rows=$(pgbench_run insert_single 1 insert_single.sql -T "$seconds")

jq -n \
  --argjson c1 "${pairs[1]}" --argjson c4 "${pairs[4]}" \
  --argjson c16 "${pairs[16]}" --argjson c64 "${pairs[64]}" \
  --argjson t16 "$pairs16types" --argjson b10 "$batch10" --argjson bulk "$bulk_rows" --argjson single "$single_rows" \
  --arg version "$version" --argjson seconds "$seconds" \
  'def r: . * 10 | round / 10;
   {claim_done_pairs_per_s: {"1": ($c1 | r), "4": ($c4 | r), "16": ($c16 | r), "64": ($c64 | r)},
    claim_done_16types_pairs_per_s: ($t16 | r),
    claim10_done_tasks_per_s: ($b10 | r),
    bulk_insert_rows_per_s: ($bulk | r),
    single_insert_rows_per_s: ($single | r),
    pgbench_version: $version,
    seconds: $seconds}' >"$out"

jq -r '
  "PostgreSQL baseline (\(.pgbench_version), \(.seconds)s per run)",
  "  claim+done pairs/s, 1 client       \(.claim_done_pairs_per_s["1"])",
  "  claim+done pairs/s, 4 clients      \(.claim_done_pairs_per_s["4"])",
  "  claim+done pairs/s, 16 clients     \(.claim_done_pairs_per_s["16"])",
  "  claim+done pairs/s, 64 clients     \(.claim_done_pairs_per_s["64"])",
  "  claim+done pairs/s, 16 cl/16 types \(.claim_done_16types_pairs_per_s)",
  "  claim 10+done tasks/s, 16 clients  \(.claim10_done_tasks_per_s)",
  "  bulk insert rows/s (1000/tx)       \(.bulk_insert_rows_per_s)",
  "  single insert rows/s (1/tx)        \(.single_insert_rows_per_s)"' "$out"
