#!/usr/bin/env bash
# bench/peer/run-peer.sh URL OUT_JSON JOBS CONCURRENCY - the peer baseline of `make bench`
# (BENCH_PEER=1): graphile-worker 0.17.3 (npm), default and batched (bench/peer/graphile.cjs),
# on the bench's PostgreSQL at URL, each on a fresh schema. Installs graphile-worker into
# $BENCH_PEER_CACHE (default ~/.cache/jobnik-bench) the first time: Node.js and npm from
# Debian (apt-get install nodejs npm) and the npm registry are needed then. Writes
# {"graphile_default": {...}, "graphile_batched": {...}} to OUT_JSON; exit 1 when a run
# failed (what ran is still written), 2 on usage or a missing Node.js.
set -euo pipefail

[[ $# -eq 4 ]] || { echo "usage: $0 URL OUT_JSON JOBS CONCURRENCY" >&2; exit 2; }
url=$1 out=$2 jobs=$3 concurrency=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=0.17.3
cache=${BENCH_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jobnik-bench}
modules=$cache/graphile-worker-$version

command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "$0: node and npm are needed for the peer baseline (apt-get install nodejs npm)" >&2; exit 2; }
if [[ ! -f $modules/node_modules/graphile-worker/package.json ]]; then
  echo "peer: installing graphile-worker $version into $modules" >&2
  mkdir -p "$modules"
  echo '{"private": true}' >"$modules/package.json"
  npm install --prefix "$modules" --no-audit --no-fund --loglevel=error "graphile-worker@$version" >&2
fi

status=0
results=()
for mode in default batched; do
  schema=peer_graphile_$mode
  psql -X -q -d "$url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  if r=$(node "$here/graphile.cjs" --modules "$modules" --url "$url" --schema "$schema" --jobs "$jobs" \
    --concurrency "$concurrency" --mode "$mode"); then
    echo "peer: graphile-worker $mode: $(jq -r '"\(.jobs_per_s) jobs/s (\(.jobs) jobs in \(.wall_s) s)"' <<<"$r")" >&2
  else
    echo "peer: graphile-worker $mode failed" >&2
    status=1
    r=${r:-'{"ok": false}'}
  fi
  results+=("$(jq -c --arg k "graphile_$mode" '{($k): .}' <<<"$r")")
  psql -X -q -d "$url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
done
printf '%s\n' "${results[@]}" | jq -s 'add' >"$out"
exit "$status"
