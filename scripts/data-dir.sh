#!/usr/bin/env bash
# Prints the state directory `make run` gives jobnikd's embedded database: ./var/jobnik in the
# checkout (DIR, default the current directory), unless we are root and the `postgres` user, as
# which the embedded PostgreSQL then runs, cannot enter DIR (a checkout under /root, say): then
# /var/lib/jobnik-dev, with a note on stderr.
#   scripts/data-dir.sh [DIR]
set -euo pipefail
dir=$(cd "${1:-.}" && pwd)
if [[ "$(id -u)" == 0 ]] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$dir"; then
  echo "jobnikd: the postgres user cannot enter $dir; keeping the embedded database in /var/lib/jobnik-dev" >&2
  echo /var/lib/jobnik-dev
else
  echo ./var/jobnik
fi
