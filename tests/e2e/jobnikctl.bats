#!/usr/bin/env bats
# jobnikctl against a real jobnikd: every command and every exit status of jobnikctl(1).
# One jobnikd (on its own schema) serves the file; each test uses its own stage types.

load helpers
bats_require_minimum_version 1.5.0

SRC="${JOBNIK_SOURCE_DIR:-$BATS_TEST_DIRNAME/../..}"

setup_file() {
  URL=$(test_database_url)
  SCHEMA=$(unique_schema)
  LOG="$BATS_FILE_TMPDIR/jobnikd.log"
  start_jobnikd "$LOG" --database-url "$URL" --database-schema "$SCHEMA" serve --migrate
  export URL SCHEMA LOG JOBNIK_URL JOBNIKD_PID
}

teardown_file() {
  [[ -n "${JOBNIKD_PID:-}" ]] && kill -KILL "$JOBNIKD_PID" 2>/dev/null
  psql "$URL" -qAtc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
}

setup() {
  # No user configuration: only what a test sets.
  export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config" HOME="$BATS_TEST_TMPDIR"
  unset JOBNIK_TOKEN JOBNIK_TIMEOUT JOBNIK_OUTPUT
  T="t$BATS_TEST_NUMBER"  # this test's stage type prefix
}

teardown() {
  if [[ -f "$BATS_TEST_TMPDIR/other.pid" ]]; then
    kill -KILL "$(cat "$BATS_TEST_TMPDIR/other.pid")" 2>/dev/null || true
  fi
  if [[ "${BATS_TEST_COMPLETED:-}" != 1 ]]; then
    echo "---- tail of jobnikd.log" >&2
    tail -n 5 "$LOG" >&2
  fi
}

ctl() { "$JOBNIKCTL" "$@"; }

# A nothing-listening URL (a bound, not listening socket's port would be exact; port 1 is
# refused on any test machine).
DEAD_URL=http://127.0.0.1:1

# spec NAME TYPE NTASKS [MAXATTEMPTS]: a one-stage job spec on stdout.
spec() {
  local name=$1 type=$2 n=$3 attempts=${4:-1} i
  printf 'name: %s\nstages:\n  - type: %s\n    taskDefaults: {maxAttempts: %s}\n    tasks:\n' "$name" "$type" "$attempts"
  for ((i = 0; i < n; i++)); do printf '      - data: {i: %d}\n' "$i"; done
}

# finish TYPE N [complete|fail]: claims N tasks of TYPE and reports each.
finish() {
  local type=$1 n=$2 verb=${3:-complete} i id
  for ((i = 0; i < n; i++)); do
    id=$(ctl task claim "$type")
    ctl -q task "$verb" "$id"
  done
}

job_status() { ctl get job "$1" -o json | jq -r .status; }

@test "health: 0 when ready, 3 when nothing listens; version names both programs" {
  run ctl health
  assert_success
  assert_output '{
  "status": "ok"
}'
  run ctl health -o name
  assert_success
  assert_output ok
  run ctl ping -o name  # the same as health
  assert_success
  assert_output ok
  run --separate-stderr ctl --url "$DEAD_URL" health
  assert_failure 3
  run ctl --url "$DEAD_URL" ping
  assert_failure 3
  [[ "$stderr" == "jobnikctl: cannot reach jobnikd"*"$DEAD_URL"* ]]
  run ctl version -o table
  assert_success
  assert_line --regexp '^jobnikctl [0-9]+\.[0-9]+\.[0-9]+$'
  assert_line --regexp "^jobnikd [0-9]+\.[0-9]+\.[0-9]+ at $JOBNIK_URL\$"
}

@test "submit reads a YAML spec, prints the job id; get and tree show the tree" {
  spec "$T-job" "$T" 3 >"$BATS_TEST_TMPDIR/job.yaml"
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/job.yaml"
  assert_success
  assert_output --regexp '^[0-9a-f-]{36}$'
  id=$output
  run ctl get job "$id" -o json
  assert_success
  [[ $(jq -r .name <<<"$output") == "$T-job" ]]
  [[ $(jq -r .status <<<"$output") == PENDING ]]
  run ctl tree "$id" -o table
  assert_success
  assert_line --index 0 --regexp "^job $id $T-job PENDING 0% \(MEDIUM\)$"
  assert_line --index 1 --regexp "^└─ 1\. $T [0-9a-f-]{36} PENDING 0%: 0/3 done$"
  run ctl tree "$id" -o json
  [[ $(jq '.stages[0].summary.pending' <<<"$output") == 3 ]]
}

@test "submit from stdin (JSON) with --set, \${ENV} and tasksFrom" {
  printf '{"data":{"n":1}}\n{"data":{"n":2}}\n' >"$BATS_TEST_TMPDIR/more.jsonl"
  cat >"$BATS_TEST_TMPDIR/job.yaml" <<EOF
name: \${NAME}
priority: \${PRIO:-LOW}
data: {bucket: photos}
stages:
  - type: $T
    tasksFrom: more.jsonl
EOF
  NAME="$T-env" run ctl submit "$BATS_TEST_TMPDIR/job.yaml" --set data.bucket=archive --set stages[0].data.width=512
  assert_success
  id=$output
  run ctl get job "$id" -o json
  [[ $(jq -c '[.name, .priority, .data]' <<<"$output") == "[\"$T-env\",\"LOW\",{\"bucket\":\"archive\"}]" ]]
  run ctl list tasks --type "$T" -o json
  [[ $(jq -c '[.[].data.n]' <<<"$output") == "[1,2]" ]]
  run ctl list stages --job "$id" -o json
  [[ $(jq -c '.[0].data' <<<"$output") == '{"width":512}' ]]

  run bash -c "echo '{\"name\":\"$T-stdin\",\"stages\":[{\"type\":\"$T-b\",\"tasks\":[{\"data\":{}}]}]}' | '$JOBNIKCTL' submit -"
  assert_success
  [[ $(job_status "$output") == PENDING ]]
}

@test "a bad spec is exit 2 with FILE:LINE:COLUMN and the field path; nothing is created" {
  printf 'name: x\nstages:\n  - type: %s\n    tasks:\n      - data: {}\n        maxAtempts: 2\n' "$T" \
    >"$BATS_TEST_TMPDIR/bad.yaml"
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/bad.yaml"
  assert_failure 2
  assert_output ""
  [[ "$stderr" == "jobnikctl: $BATS_TEST_TMPDIR/bad.yaml:6:9: stages[0].tasks[0].maxAtempts: unknown field"* ]]
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/missing.yaml"
  assert_failure 2
  [[ "$stderr" == "jobnikctl: cannot read $BATS_TEST_TMPDIR/missing.yaml: No such file or directory" ]]
  run ctl list stages --type "$T" -o name
  assert_output ""
}

@test "submit --idempotency-key and --dedupe-window: a repeated submission prints the first job" {
  spec "$T-job" "$T" 1 >"$BATS_TEST_TMPDIR/job.yaml"
  first=$(ctl submit "$BATS_TEST_TMPDIR/job.yaml" --idempotency-key "$T-nightly")
  again=$(ctl submit "$BATS_TEST_TMPDIR/job.yaml" --idempotency-key "$T-nightly")
  assert_equal "$again" "$first"
  # The same key for another spec is refused, exit 1, with the server's code.
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/job.yaml" --idempotency-key "$T-nightly" --set data.x=1
  assert_failure 1
  [[ "$stderr" == *IDEMPOTENCY_KEY_REUSED* ]]
  # --dedupe-window derives the key from the spec: the same spec twice is one job, another
  # spec is another job.
  one=$(ctl submit "$BATS_TEST_TMPDIR/job.yaml" --dedupe-window 1h)
  two=$(ctl submit "$BATS_TEST_TMPDIR/job.yaml" --dedupe-window 1h)
  assert_equal "$two" "$one"
  other=$(ctl submit "$BATS_TEST_TMPDIR/job.yaml" --dedupe-window 1h --set data.x=2)
  [[ "$other" != "$one" ]]
  # Without either, each submission is a job of its own.
  plain=$(ctl submit "$BATS_TEST_TMPDIR/job.yaml")
  [[ "$plain" != "$one" && "$plain" != "$first" ]]
  [[ $(ctl list jobs --name "$T-job" -o json | jq length) == 4 ]]
  # Bad values are usage errors naming the option.
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/job.yaml" --dedupe-window soon
  assert_failure 2
  [[ "$stderr" == *--dedupe-window* ]]
  run --separate-stderr ctl submit "$BATS_TEST_TMPDIR/job.yaml" --dedupe-window 1h --idempotency-key k
  assert_failure 2
}

@test "submit --wait exits 0 when the job completes, and prints only the id" {
  spec "$T-job" "$T" 2 >"$BATS_TEST_TMPDIR/job.yaml"
  ctl submit "$BATS_TEST_TMPDIR/job.yaml" --wait >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
  pid=$!
  poll 10 test -s "$BATS_TEST_TMPDIR/out"
  finish "$T" 2
  wait "$pid"
  run cat "$BATS_TEST_TMPDIR/out"
  assert_output --regexp '^[0-9a-f-]{36}$'
  [[ $(job_status "$output") == COMPLETED ]]
}

@test "wait: 0 COMPLETED, 5 FAILED, 6 ABORTED, 7 timeout, 4 not found, 3 unreachable, 2 usage" {
  done_id=$(spec "$T-a" "$T-a" 1 | ctl submit -)
  finish "$T-a" 1
  run ctl wait "$done_id"
  assert_success
  assert_output "$done_id COMPLETED"

  failed_id=$(spec "$T-b" "$T-b" 1 | ctl submit -)
  finish "$T-b" 1 fail
  run ctl wait "$failed_id" "$done_id"
  assert_failure 5

  aborted_id=$(spec "$T-c" "$T-c" 1 | ctl submit -)
  ctl -q abort "$aborted_id"
  run ctl wait "$aborted_id" "$done_id"
  assert_failure 6
  run ctl wait "$aborted_id" "$failed_id"
  assert_failure 5  # FAILED outranks ABORTED

  pending_id=$(spec "$T-d" "$T-d" 1 | ctl submit -)
  run --separate-stderr ctl wait "$pending_id" --timeout 300ms
  assert_failure 7
  [[ "$stderr" == "jobnikctl: timed out waiting for $pending_id (PENDING)" ]]

  run --separate-stderr ctl wait 00000000-0000-4000-8000-000000000000
  assert_failure 4
  [[ "$stderr" == *"(JOB_NOT_FOUND)" ]]
  run --separate-stderr ctl -v wait 00000000-0000-4000-8000-000000000000
  assert_failure 4
  [[ "${stderr_lines[1]}" == "jobnikctl: jobnikd at $JOBNIK_URL; error JOB_NOT_FOUND; exit status 4" ]]
  run ctl wait "$done_id" --url "$DEAD_URL"
  assert_failure 3
  run ctl wait
  assert_failure 2
  run ctl wait "$done_id" --timeout soon
  assert_failure 2
}

@test "get job|stage|task in every output format; a missing one is exit 4" {
  id=$(spec "$T-job" "$T" 1 | ctl submit -)
  stage=$(ctl list stages --job "$id" -o name)
  task=$(ctl list tasks --stage "$stage" -o name)
  run ctl get stage "$stage" -o yaml
  assert_success
  assert_line "type: \"$T\""
  assert_line "jobId: \"$id\""
  run ctl get task "$task" -o table
  assert_success
  assert_line --index 0 --regexp '^ID +STAGE +STATUS +ATTEMPTS +CREATED$'
  assert_line --index 1 --regexp "^$task +$stage +PENDING +0/1 +20"
  run ctl get job "$id" -o name
  assert_output "$id"
  for kind in job stage task; do
    run --separate-stderr ctl get "$kind" 00000000-0000-4000-8000-000000000000
    assert_failure 4
    [[ "$stderr" == "jobnikctl: "*"(${kind^^}_NOT_FOUND)" ]]
  done
}

@test "list: filters, --limit pages with the cursor on stderr, --cursor, --all" {
  for i in 1 2 3; do spec "$T-job" "$T-$i" 1 | ctl submit - >/dev/null; done
  run ctl list jobs --name "$T-job" -o name
  assert_success
  [[ ${#lines[@]} == 3 ]]
  run --separate-stderr ctl list jobs --name "$T-job" --limit 2 -o name
  assert_success
  [[ ${#lines[@]} == 2 ]]
  [[ "$stderr" =~ ^jobnikctl:\ more\ jobs\ follow:\ --cursor\ ([^ ]+)\ \(or\ --all\)$ ]]
  cursor=${BASH_REMATCH[1]}
  first_two=$output
  run --separate-stderr ctl list jobs --name "$T-job" --limit 2 --cursor "$cursor" -o name
  assert_success
  [[ ${#lines[@]} == 1 ]]
  [[ -z "$stderr" ]]
  third=$output
  run ctl list jobs --name "$T-job" --limit 1 --all -o name
  assert_output "$first_two
$third"
  run ctl list jobs --name "$T-job" --status PENDING --priority medium -o json
  [[ $(jq length <<<"$output") == 3 ]]
  run ctl list jobs --name "$T-job" --status COMPLETED -o json
  assert_output "[]"
  # A search: part of the name, any case.
  run ctl list jobs --name-contains "${T^^}-JO" -o name
  assert_success
  assert_output "$first_two
$third"
  run --separate-stderr ctl list jobs --name-contains ""
  assert_failure 2
  assert_equal "$stderr" "jobnikctl: --name-contains must not be empty"
  run ctl list stages --type "$T-2" --status pending -o json
  [[ $(jq -r '.[0].type' <<<"$output") == "$T-2" ]]
  run ctl list tasks --type "$T-3" --status PENDING -o table
  assert_line --index 0 --regexp '^ID +STAGE +STATUS'
  [[ ${#lines[@]} == 2 ]]
  run ctl list jobs --from 2000-01-01T00:00:00Z --to 2999-01-01T00:00:00Z --name "$T-job" -o name
  [[ ${#lines[@]} == 3 ]]
  run --separate-stderr ctl list jobs --from yesterday
  assert_failure 2
  [[ "$stderr" == "jobnikctl: --from must be an RFC 3339 time"* ]]
  run --separate-stderr ctl list tasks --status DONE
  assert_failure 2
}

@test "pause, resume, abort, priority and delete; an illegal change is exit 1 with the server's code" {
  id=$(spec "$T-job" "$T" 1 | ctl submit -)
  ctl pause "$id"
  [[ $(job_status "$id") == PAUSED ]]
  run --separate-stderr ctl task claim "$T"
  assert_failure 4  # a paused job's tasks are not handed out
  ctl resume "$id"
  [[ $(job_status "$id") == PENDING ]]
  run --separate-stderr ctl priority "$id" very_high
  assert_success
  [[ "$stderr" == "jobnikctl: job $id priority VERY_HIGH" ]]
  [[ $(ctl get job "$id" -o json | jq -r .priority) == VERY_HIGH ]]
  run --separate-stderr ctl priority "$id" URGENT
  assert_failure 2
  run --separate-stderr ctl delete "$id"
  assert_failure 1
  [[ "$stderr" == *"(JOB_NOT_IN_FINITE_STATE)" ]]
  ctl -q abort "$id"
  run --separate-stderr ctl abort "$id"
  assert_failure 1
  [[ "$stderr" == *"(ILLEGAL_JOB_STATUS_TRANSITION)" ]]
  run ctl delete "$id"
  assert_success
  run ctl get job "$id"
  assert_failure 4
  run ctl pause 00000000-0000-4000-8000-000000000000
  assert_failure 4
}

@test "events: a job's history newest first, as a table and as JSON, in pages; an unknown job is exit 4" {
  id=$(spec "$T-job" "$T" 2 2 | ctl submit -)
  ctl -q priority "$id" high
  ctl -q pause "$id"
  ctl -q resume "$id"
  task=$(ctl task claim "$T")
  ctl -q task fail "$task" --reason "disk full"
  run ctl events "$id" -o json
  assert_success
  [[ $(jq length <<<"$output") == 4 ]]
  [[ $(jq -c '[.[] | [.entity, .kind, .oldValue, .newValue]]' <<<"$output") == \
    '[["task","status","IN_PROGRESS","RETRIED"],["job","status","PAUSED","PENDING"],["job","status","PENDING","PAUSED"],["job","priority","MEDIUM","HIGH"]]' ]]
  [[ $(jq -r '.[0].reason' <<<"$output") == "disk full" ]]
  [[ $(jq -r '.[0].entityId' <<<"$output") == "$task" ]]
  [[ $(jq -c '[.[] | .actor]' <<<"$output") == '[null,null,null,null]' ]]
  [[ $(jq -r '[.[].id] | . == (sort | reverse)' <<<"$output") == true ]]
  all_ids=$(jq -r '.[].id' <<<"$output")

  run ctl events "$id" -o table
  assert_success
  assert_line --index 0 --regexp '^ID +TIME +ENTITY +ENTITY_ID +KIND +OLD +NEW +REASON +WORKER$'
  assert_line --index 1 --regexp "^[0-9]+ +[0-9T:-]+Z +task +$task +status +IN_PROGRESS +RETRIED +disk full"
  [[ ${#lines[@]} == 5 ]]

  run --separate-stderr ctl events "$id" --limit 3 -o name
  assert_success
  [[ ${#lines[@]} == 3 ]]
  [[ "$stderr" =~ ^jobnikctl:\ more\ events\ follow:\ --cursor\ ([^ ]+)\ \(or\ --all\)$ ]]
  first_three=$output
  run --separate-stderr ctl events "$id" --limit 3 --cursor "${BASH_REMATCH[1]}" -o name
  assert_success
  [[ ${#lines[@]} == 1 ]]
  [[ -z "$stderr" ]]
  assert_output "$(tail -n 1 <<<"$all_ids")"
  run ctl events "$id" --limit 1 --all -o name
  assert_output "$all_ids"
  [[ "$first_three" == "$(head -n 3 <<<"$all_ids")" ]]

  run --separate-stderr ctl events 00000000-0000-4000-8000-000000000000
  assert_failure 4
  [[ "$stderr" == *"(JOB_NOT_FOUND)" ]]
  run --separate-stderr ctl events "$id" --limit 0
  assert_failure 2
}

@test "metadata set replaces the userMetadata of a job, a stage and a task" {
  id=$(spec "$T-job" "$T" 1 | ctl submit -)
  stage=$(ctl list stages --job "$id" -o name)
  task=$(ctl list tasks --stage "$stage" -o name)
  ctl metadata set job "$id" '{"owner":"ops"}'
  ctl metadata set stage "$stage" '{"note":1}'
  ctl metadata set task "$task" '{"tile":[1,2]}'
  [[ $(ctl get job "$id" -o json | jq -c .userMetadata) == '{"owner":"ops"}' ]]
  [[ $(ctl get stage "$stage" -o json | jq -c .userMetadata) == '{"note":1}' ]]
  [[ $(ctl get task "$task" -o json | jq -c .userMetadata) == '{"tile":[1,2]}' ]]
  run --separate-stderr ctl metadata set job "$id" '[1]'
  assert_failure 2
  [[ "$stderr" == "jobnikctl: JSON must be a JSON object"* ]]
  run ctl metadata set jobs "$id" '{}'
  assert_failure 2
  run ctl metadata set task 00000000-0000-4000-8000-000000000000 '{}'
  assert_failure 4
}

@test "stage release lets a waiting stage's tasks be claimed" {
  id=$(printf 'name: %s\nstages:\n  - type: %s-a\n    tasks: [{data: {}}]\n  - type: %s-b\n    startAsWaiting: true\n    tasks: [{data: {}}]\n' \
    "$T" "$T" "$T" | ctl submit -)
  finish "$T-a" 1
  waiting=$(ctl list stages --job "$id" --type "$T-b" -o name)
  [[ $(ctl get stage "$waiting" -o json | jq -r .status) == WAITING ]]
  run ctl task claim "$T-b"
  assert_failure 4
  ctl stage release "$waiting"
  finish "$T-b" 1
  run ctl wait "$id"
  assert_success
  run ctl stage release 00000000-0000-4000-8000-000000000000
  assert_failure 4
}

@test "task claim, complete and fail --reason; an empty queue is exit 4" {
  id=$(spec "$T-job" "$T" 2 2 | ctl submit -)
  run --separate-stderr ctl task claim "$T"
  assert_success
  task=$output
  run ctl get task "$task" -o json
  [[ $(jq -r .status <<<"$output") == IN_PROGRESS ]]
  run --separate-stderr ctl task fail "$task" --reason "disk full"
  assert_success
  [[ "$stderr" == "jobnikctl: task $task RETRIED" ]]
  [[ $(ctl get task "$task" -o json | jq -c '[.status, .errors[-1].reason]') == '["RETRIED","disk full"]' ]]
  run ctl task claim "$T" -o json
  assert_success
  [[ $(jq -r .status <<<"$output") == IN_PROGRESS ]]
  run ctl task complete "$(jq -r .id <<<"$output")" -o json
  [[ $(jq -r .status <<<"$output") == COMPLETED ]]
  run ctl task complete "$task"
  assert_failure 1  # not claimed
  finish "$T" 1
  run --separate-stderr ctl task claim "$T"
  assert_failure 4
  [[ "$stderr" == "jobnikctl: no task of stage type '$T' is waiting" ]]
  run ctl task fail 00000000-0000-4000-8000-000000000000
  assert_failure 4
}

@test "watch through a pipe prints one line per change and exits like wait" {
  id=$(spec "$T-job" "$T" 2 | ctl submit -)
  out="$BATS_TEST_TMPDIR/watch.out"
  ctl watch "$id" >"$out" &
  pid=$!
  poll 10 grep -q "0/2 done" "$out"
  finish "$T" 1
  poll 10 grep -q "1/2 done" "$out"
  finish "$T" 1
  wait "$pid"  # exit 0: COMPLETED
  run cat "$out"
  assert_line --index 0 --regexp "^20[0-9-]+T[0-9:.]+Z job $id PENDING 0% \| $T PENDING 0/2 done$"
  assert_line --partial "$T IN_PROGRESS 1/2 done"
  assert_line --index -1 --regexp "job $id COMPLETED 100% \| $T COMPLETED 2/2 done$"
  # One line per change: no line repeats the one before.
  run bash -c "cut -d' ' -f2- '$out' | uniq -d"
  assert_output ""

  failed=$(spec "$T-f" "$T-f" 1 | ctl submit -)
  finish "$T-f" 1 fail
  run ctl watch "$failed"
  assert_failure 5
  run ctl watch "$failed" --url "$DEAD_URL"
  assert_failure 3
  pending=$(spec "$T-p" "$T-p" 1 | ctl submit -)
  run ctl watch "$pending" --timeout 200ms
  assert_failure 7
}

@test "watch follows the job's stream; a jobnikd without streams is polled" {
  id=$(spec "$T-job" "$T" 2 | ctl submit -)
  gets() { grep -c "method=GET route=/v1/jobs/{jobId} " "$1" || true; }
  before=$(gets "$LOG")
  out="$BATS_TEST_TMPDIR/watch.out"
  ctl watch "$id" >"$out" &
  pid=$!
  poll 10 grep -q "0/2 done" "$out"
  finish "$T" 1
  poll 10 grep -q "1/2 done" "$out"
  finish "$T" 1
  wait "$pid"
  run tail -n 1 "$out"
  assert_output --regexp "job $id COMPLETED 100% \| $T COMPLETED 2/2 done$"
  run grep -c "method=GET route=/v1/stream status=200" "$LOG"
  assert_output --regexp '^[1-9]'
  # Pushed, not polled: the job was never read on its own while it was watched.
  assert_equal "$(gets "$LOG")" "$before"

  # A second jobnikd on the same database with streams off: watch polls it instead.
  local main_url=$JOBNIK_URL main_pid=$JOBNIKD_PID other_log="$BATS_TEST_TMPDIR/other.log"
  start_jobnikd "$other_log" --database-url "$URL" --database-schema "$SCHEMA" --stream-max-clients 0 serve
  echo "$JOBNIKD_PID" >"$BATS_TEST_TMPDIR/other.pid"
  local other_url=$JOBNIK_URL
  JOBNIK_URL=$main_url JOBNIKD_PID=$main_pid
  id=$(spec "$T-2" "$T-2" 1 | ctl submit -)
  ctl watch "$id" --url "$other_url" >"$out" &
  pid=$!
  poll 10 grep -q "0/1 done" "$out"
  finish "$T-2" 1
  wait "$pid"
  run tail -n 1 "$out"
  assert_output --regexp "job $id COMPLETED 100% \| $T-2 COMPLETED 1/1 done$"
  run grep -c "method=GET route=/v1/stream status=503" "$other_log"
  assert_output 1
  run gets "$other_log"
  assert_output --regexp '^[1-9]'
  kill -TERM "$(cat "$BATS_TEST_TMPDIR/other.pid")"
  wait "$(cat "$BATS_TEST_TMPDIR/other.pid")"
  rm "$BATS_TEST_TMPDIR/other.pid"
}

@test "curl -N on /v1/stream shows the job, then its events as they happen" {
  id=$(spec "$T-job" "$T" 1 | ctl submit -)
  out="$BATS_TEST_TMPDIR/stream.out"
  curl -sN "$JOBNIK_URL/v1/stream?job_id=$id" >"$out" &
  pid=$!
  poll 10 grep -q '^event: job$' "$out"
  ctl -q pause "$id"
  poll 10 grep -q '^event: jobEvent$' "$out"
  kill "$pid"
  wait "$pid" || true
  run cat "$out"
  assert_line --index 0 "retry: 3000"
  assert_output --partial "data: {\"id\":\"$id\""
  assert_output --regexp $'id: [0-9]+\nevent: jobEvent\ndata: \\{"id":[0-9]+,.*"newValue":"PAUSED"'
  run curl -s "$JOBNIK_URL/v1/stream?job_id=$id&after=-1"
  assert_output --partial "request/query/after"
}

@test "watch on a terminal redraws a bar per stage" {
  command -v script >/dev/null || skip "script(1) is not installed"
  id=$(spec "$T-job" "$T" 2 | ctl submit -)
  out="$BATS_TEST_TMPDIR/tty.out"
  script -qec "'$JOBNIKCTL' watch $id" /dev/null >"$out" &
  pid=$!
  poll 10 grep -q '\[\.\.\.\.' "$out"
  finish "$T" 2
  wait "$pid"  # exit 0: COMPLETED
  run cat "$out"
  assert_output --partial "job $id $T-job"
  assert_output --regexp "$T +\[#{30}\] +100% COMPLETED +2/2 done"
  assert_output --partial $'\e[2A\e[J'  # up over the last frame (the job line and one stage), cleared
}

@test "global options go before or after the command; unknown commands are named" {
  run ctl -o name get job 00000000-0000-4000-8000-000000000000
  assert_failure 4
  id=$(spec "$T-job" "$T" 1 | ctl submit -)
  run ctl -o name get job "$id"
  assert_output "$id"
  run ctl get job "$id" -o name
  assert_output "$id"
  run ctl get -o name job "$id"
  assert_output "$id"
  run --separate-stderr ctl frobnicate
  assert_failure 2
  [[ "$stderr" == "jobnikctl: unknown command 'frobnicate' (commands: health, "* ]]
  run --separate-stderr ctl -o json list widgets
  assert_failure 2
  [[ "$stderr" == "jobnikctl: unknown list command 'widgets' (expected one of: jobs, stages, tasks)" ]]
  run --separate-stderr ctl get job "$id" --bogus
  assert_failure 2
  [[ "$stderr" == *"--bogus"* ]]
  run --separate-stderr ctl get job "$id" -o xml
  assert_failure 2
  [[ "$stderr" == "jobnikctl: flag -o,--output: output must be table, json, yaml or name, not 'xml'" ]]
}

@test "configuration: flags > JOBNIK_* environment > ~/.config/jobnik/jobnikctl.yaml" {
  mkdir -p "$XDG_CONFIG_HOME/jobnik"
  printf 'url: %s/v1\noutput: name\n' "$JOBNIK_URL" >"$XDG_CONFIG_HOME/jobnik/jobnikctl.yaml"
  id=$(spec "$T-job" "$T" 1 | ctl submit -)
  run env -u JOBNIK_URL "$JOBNIKCTL" get job "$id"
  assert_success
  assert_output "$id"  # the file's url (with /v1) and output
  run env JOBNIK_URL="$DEAD_URL" "$JOBNIKCTL" get job "$id"
  assert_failure 3
  run env JOBNIK_URL="$DEAD_URL" "$JOBNIKCTL" get job "$id" --url "$JOBNIK_URL" -o json
  assert_success
  [[ $(jq -r .id <<<"$output") == "$id" ]]
  printf 'colour: blue\n' >"$BATS_TEST_TMPDIR/other.yaml"
  run --separate-stderr ctl --config "$BATS_TEST_TMPDIR/other.yaml" health
  assert_failure 2
  [[ "$stderr" == *"unknown configuration key 'colour'"* ]]
  # The token travels as a bearer token (jobnikd does not check it yet; it must not hurt).
  run ctl --token s3cret health -o name
  assert_success
}

@test "examples/tiles.yaml runs through resize, a released merge stage and publish" {
  id=$(ctl submit "$SRC/examples/tiles.yaml" --set name="$T-tiles" --set stages[0].type="$T-resize" \
    --set stages[1].type="$T-merge" --set stages[2].type="$T-publish")
  n=$(ctl get job "$id" -o json | jq -r .name)
  [[ $n == "$T-tiles" ]]
  resize=$(ctl list stages --job "$id" --type "$T-resize" -o json | jq '.[0].summary.pending')
  ((resize >= 4))
  finish "$T-resize" "$resize"
  merge=$(ctl list stages --job "$id" --type "$T-merge" -o name)
  [[ $(ctl get stage "$merge" -o json | jq -r .status) == WAITING ]]
  ctl stage release "$merge"
  finish "$T-merge" 1
  finish "$T-publish" 1
  run ctl wait "$id"
  assert_success
}

@test "completion: the bash script completes commands, kinds and values; committed copy is current" {
  run ctl completion bash
  assert_success
  diff <(echo "$output") "$SRC/completions/jobnikctl.bash"
  complete_words() {
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _jobnikctl; echo "${COMPREPLY[*]}"' \
      _ "$SRC/completions/jobnikctl.bash" "$@"
  }
  run complete_words jobnikctl su
  assert_output "submit"
  run complete_words jobnikctl ev
  assert_output "events"
  run complete_words jobnikctl events x --c
  assert_output "--ca-file --client-cert --client-key --config --cursor"
  run complete_words jobnikctl get ""
  assert_output "job stage task"
  run complete_words jobnikctl -o json list ""
  assert_output "jobs stages tasks"
  run complete_words jobnikctl list jobs --status CO
  assert_output "COMPLETED"
  run complete_words jobnikctl list stages --status W
  assert_output "WAITING"
  run complete_words jobnikctl get job x -o y
  assert_output "yaml"
  run complete_words jobnikctl priority abc V
  assert_output "VERY_HIGH VERY_LOW"
  run complete_words jobnikctl wait --time
  assert_output "--timeout"
  run complete_words jobnikctl completion ""
  assert_output "bash zsh fish"
  cd "$SRC/examples"
  run complete_words jobnikctl submit tiles.y
  assert_output "tiles.yaml"
}

@test "completion: zsh and fish scripts are valid in their shells (when installed)" {
  ctl completion zsh >"$BATS_TEST_TMPDIR/_jobnikctl.zsh"
  ctl completion fish >"$BATS_TEST_TMPDIR/jobnikctl.fish"
  grep -q bashcompinit "$BATS_TEST_TMPDIR/_jobnikctl.zsh"
  grep -q "complete -c jobnikctl -n '__fish_use_subcommand' -a submit" "$BATS_TEST_TMPDIR/jobnikctl.fish"
  run ctl completion powershell
  assert_failure 2
  local checked=0
  if command -v zsh >/dev/null; then
    zsh -n "$BATS_TEST_TMPDIR/_jobnikctl.zsh"
    checked=1
  fi
  if command -v fish >/dev/null; then
    fish --no-execute "$BATS_TEST_TMPDIR/jobnikctl.fish"
    checked=1
  fi
  ((checked)) || skip "neither zsh nor fish is installed (their scripts were generated, not checked)"
}

@test "the man pages jobnikctl(1) and jobnik-spec(5) render without warnings" {
  command -v man >/dev/null || skip "man is not installed"
  for page in "$SRC/man/jobnikctl.1" "$SRC/man/jobnik-spec.5"; do
    run --separate-stderr env MANWIDTH=80 man --warnings -l "$page"
    assert_success
    [[ -z "$stderr" ]] || { echo "$stderr"; false; }
    [[ ${#lines[@]} -gt 40 ]]
  done
  # Every command and every exit status is documented.
  page=$(MANWIDTH=200 man -l "$SRC/man/jobnikctl.1" 2>/dev/null)
  for cmd in health version submit "get job" "list jobs" events tree wait watch pause resume abort priority delete \
    "metadata set" "stage release" "task complete" "task fail" "task claim" completion; do
    grep -q "$cmd" <<<"$page" || { echo "not documented: $cmd"; false; }
  done
  for code in 0 1 2 3 4 5 6 7; do
    grep -qE "^ +$code +" <<<"$page" || { echo "exit status $code not documented"; false; }
  done
}
