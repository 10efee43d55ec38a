#!/usr/bin/env bats
# The README's commands, run literally as a new user would.

load helpers
bats_require_minimum_version 1.5.0

setup() {
  README="$JOBNIK_SOURCE_DIR/README.md"
  [[ -f "$README" ]] || README="$BATS_TEST_DIRNAME/../../README.md"
}

teardown() { stop_jobnikd; }

# The first ```sh block after the line containing $1, as a script.
readme_block() {
  awk -v marker="$1" '
    index($0, marker) { found = 1; next }
    found && /^```sh$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }
  ' "$README"
}

@test "the quick start's commands work as written against jobnikd" {
  start_jobnikd "$BATS_TEST_TMPDIR/jobnikd.log" --database-url "$(test_database_url)" \
    --database-schema "$(unique_schema)" serve --migrate
  script=$(readme_block "Then,")
  [[ -n "$script" ]]
  # The README talks to the default address; this jobnikd listens on a free port.
  script=${script//localhost:8080/${JOBNIK_URL#http://}}
  # ... and jobnikctl is where the build put it (the script's PATH names ./build/src).
  PATH="$JOBNIK_BIN_DIR:$PATH" run bash -euo pipefail -c "$script"
  assert_success
  # Two tasks, one claimed and completed: its stage is half done.
  assert_line --regexp '^jobnikctl: task [0-9a-f-]{36} COMPLETED$'
  assert_output --partial '"name": "hello"'
  assert_output --partial '"status": "IN_PROGRESS"'
  assert_output --partial '"percentage": 50'
  assert_output --partial '"completed": 1'
}

@test "make run keeps the embedded database where the postgres user can reach it" {
  [[ "$(id -u)" == 0 ]] && id postgres >/dev/null 2>&1 || skip "only as root with a postgres user"
  private=$(mktemp -d)
  chmod 700 "$private"
  mkdir "$private/checkout"
  run --separate-stderr "$JOBNIK_SOURCE_DIR/scripts/data-dir.sh" "$private/checkout"
  assert_success
  assert_output /var/lib/jobnik-dev
  [[ "$stderr" == *"cannot enter $private/checkout"* ]]

  open=$(make_data_dir)
  run "$JOBNIK_SOURCE_DIR/scripts/data-dir.sh" "$open"
  assert_success
  assert_output ./var/jobnik
  rm -rf "$private" "$open"
}
