#!/usr/bin/env bats
# The SDK examples of lib/client/README.md (examples/sdk), built with the project, against a
# real jobnikd: the typed producer submits a job tree, the typed worker completes it and
# stops cleanly on SIGTERM.

load helpers

EXAMPLES="$JOBNIK_BIN_DIR/../examples/sdk"

setup() { start_jobnikd_on_own_schema; }
teardown() { stop_jobnikd_on_own_schema; }

job_is() { [[ "$(api GET "/v1/jobs/$1" | jq -r .status)" == "$2" ]]; }

@test "the example producer submits a typed job tree and the example worker completes it" {
  local job out="$BATS_TEST_TMPDIR/worker.out" pid status=0
  job=$("$EXAMPLES/jobnik-example-producer" "$JOBNIK_URL")
  [[ "$(api GET "/v1/jobs/$job" | jq -r .name)" == thumbnails ]]
  [[ "$(api GET "/v1/jobs/$job" | jq -c .data)" == '{"title":"holidays"}' ]]
  JOBNIK_URL=$JOBNIK_URL "$EXAMPLES/jobnik-example-worker" >"$out" 2>&1 &
  pid=$!
  poll 20 job_is "$job" COMPLETED
  kill -TERM "$pid"
  wait "$pid" || status=$?
  [[ "$status" == 0 ]]
  run sort "$out"
  assert_line --regexp '^task [0-9a-f-]{36}: beach.png at 256 px$'
  assert_line --regexp '^task [0-9a-f-]{36}: hills.png at 256 px$'
  assert_line --regexp '^task [0-9a-f-]{36}: town.png at 256 px$'
  assert_line stopped
}

@test "the example producer names an unreachable server and fails" {
  run "$EXAMPLES/jobnik-example-producer" http://127.0.0.1:1
  assert_failure 1
  assert_output --partial "producer: "
}
