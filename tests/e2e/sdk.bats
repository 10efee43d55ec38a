#!/usr/bin/env bats
# The SDK examples of lib/client/README.md (examples/sdk), built with the project, against a
# real jobnikd: the typed producer submits a job tree, the typed worker completes it (reading
# the job through its handler context, recording userMetadata, logging with the task's ids)
# and stops cleanly on SIGTERM.

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
  # The three tasks of one job: one GET of their stage and one of their job, for all 4 slots.
  assert_line --regexp '^context cache: 2 requests, [0-9]+ hits$'
  # context.log(): the task's, its stage's and its job's ids on every line of the handler.
  local stage ids='[0-9a-f-]{36}'
  stage=$(api GET "/v1/jobs/$job?should_return_stages=true" | jq -r '.stages[0].id')
  for image in beach hills town; do
    assert_line --regexp "info  jobnik-example-worker: task=$ids stage=$stage job=$job $image.png scaled to 256 px for album 'holidays'$"
  done
  # The metadata helpers: each task's thumbnail, and the job's album and last thumbnail.
  assert_equal "$(api GET "/v1/stages/$stage?should_return_tasks=true" | jq -r '.tasks[].userMetadata.thumbnail' |
    sort | tr '\n' ' ')" "thumbs/256/beach.png thumbs/256/hills.png thumbs/256/town.png "
  [[ "$(api GET "/v1/jobs/$job" | jq -r .userMetadata.album)" == holidays ]]
  [[ "$(api GET "/v1/jobs/$job" | jq -r .userMetadata.lastThumbnail)" =~ ^thumbs/256/(beach|hills|town)\.png$ ]]
}

@test "the example producer names an unreachable server and fails" {
  run "$EXAMPLES/jobnik-example-producer" http://127.0.0.1:1
  assert_failure 1
  assert_output --partial "producer: "
}
