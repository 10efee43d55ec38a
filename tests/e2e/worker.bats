#!/usr/bin/env bats
# jobnik-worker against a real jobnikd: the task contract (argv, placeholders, environment,
# stdin, task and result files), failures and retries, timeouts killing the whole process
# group, concurrency, graceful shutdown, bad configuration, and a burst over several workers.
load helpers
# A jobnikd of another build (e.g. with leases) for a manual run of this suite.
JOBNIKD=${JOBNIK_TEST_JOBNIKD:-$JOBNIKD}

setup() {
  start_jobnikd_on_own_schema
  WORKER_LOG="$BATS_TEST_TMPDIR/worker.log"
  : >"$WORKER_LOG"
  WORKER_PIDS=()
  W="$BATS_TEST_TMPDIR/w"
  mkdir -p "$W"
}

teardown() {
  local pid
  for pid in "${WORKER_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [[ "${BATS_TEST_COMPLETED:-}" != 1 ]]; then
    echo "---- tail of worker.log" >&2
    tail -n 40 "$WORKER_LOG" >&2
  fi
  stop_jobnikd_on_own_schema
}

# make_stage TYPE: a job with one stage of TYPE; prints the stage id.
make_stage() {
  local job
  job=$(api POST /v1/jobs '{"name":"worker-test","data":{}}' | jq -r .id)
  api POST "/v1/jobs/$job/stage" "{\"type\":\"$1\",\"data\":{}}" | jq -r .id
}

# add_tasks STAGE JSON_ARRAY: prints the new tasks' ids, one a line.
add_tasks() { api POST "/v1/stages/$1/tasks" "$2" | jq -r '.[].id'; }

task_field() { api GET "/v1/tasks/$1" | jq -cr ".$2"; }
task_is() { [[ "$(task_field "$1" status)" == "$2" ]]; }
stage_is() { [[ "$(api GET "/v1/stages/$1" | jq -r .status)" == "$2" ]]; }

# start_worker ARGS...: a jobnik-worker on this jobnikd, in the background (WORKER_PID).
start_worker() {
  "$JOBNIK_WORKER" --url "$JOBNIK_URL" "$@" >>"$WORKER_LOG" 2>&1 &
  WORKER_PID=$!
  WORKER_PIDS+=("$WORKER_PID")
}

# wait_worker: waits for WORKER_PID; WORKER_STATUS is its exit status.
wait_worker() {
  WORKER_STATUS=0
  wait "$WORKER_PID" || WORKER_STATUS=$?
}

# stop_worker_within MS: SIGTERM to WORKER_PID; it must exit 0 within MS milliseconds.
stop_worker_within() {
  local t0 elapsed_ms
  t0=$(date +%s%N)
  kill -TERM "$WORKER_PID"
  wait_worker
  elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
  echo "SIGTERM -> exit: ${elapsed_ms} ms"
  assert_equal "$WORKER_STATUS" 0
  ((elapsed_ms < $1))
}

# script NAME BODY: an executable /bin/sh script in $W; prints its path.
script() {
  printf '#!/bin/sh\n%s\n' "$2" >"$W/$1"
  chmod +x "$W/$1"
  echo "$W/$1"
}

@test "a task's command gets argv, the environment, stdin and the task file; exit 0 completes it" {
  local cmd stage id
  cmd=$(script show.sh 'out="$1"; shift
{ printf "arg:%s\n" "$@"; env | grep -E "^(JOBNIK_|TRACEPARENT=)" | sort; echo "stdin:$(cat)"; echo "file:$(cat "$JOBNIK_TASK_FILE")"; } >"$out"')
  stage=$(make_stage show)
  id=$(add_tasks "$stage" "[{\"data\":{\"out\":\"$W/out\",\"name\":\"two words\",\"n\":7}}]")
  JOBNIK_TOKEN=s3cret start_worker --stage-type show -- "$cmd" '{data.out}' '{data.name}' '{data.n}'
  poll 20 task_is "$id" COMPLETED
  run cat "$W/out"
  assert_line "arg:two words"
  assert_line "arg:7"
  assert_line "JOBNIK_TASK_ID=$id"
  assert_line "JOBNIK_STAGE_ID=$stage"
  assert_line "JOBNIK_JOB_ID=$(api GET "/v1/stages/$stage" | jq -r .jobId)"
  assert_line "JOBNIK_STAGE_TYPE=show"
  assert_line "JOBNIK_ATTEMPT=1"
  assert_line "JOBNIK_MAX_ATTEMPTS=1"
  assert_line "JOBNIK_URL=$JOBNIK_URL"
  assert_line --regexp '^TRACEPARENT=00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$'
  assert_line --regexp '^JOBNIK_RESULT_FILE=/'
  refute_line --partial "JOBNIK_TOKEN"
  [[ "$(grep '^stdin:' "$W/out" | cut -c7- | jq -r .id)" == "$id" ]]
  [[ "$(grep '^file:' "$W/out" | cut -c6- | jq -r .data.name)" == "two words" ]]
  # The slot's directory (task and result files) goes when the worker stops.
  local task_file
  task_file=$(sed -n 's/^JOBNIK_TASK_FILE=//p' "$W/out")
  kill -TERM "$WORKER_PID"
  wait_worker
  assert_equal "$WORKER_STATUS" 0
  [[ ! -e "$(dirname "$task_file")" ]]
}

@test "--idempotent-claims: each claim carries an Idempotency-Key; the tasks complete once" {
  local stage
  stage=$(make_stage idem)
  add_tasks "$stage" '[{"data":{}},{"data":{}},{"data":{}}]' >/dev/null
  start_worker --stage-type idem --idempotent-claims --no-combine-requests -- /bin/true
  poll 20 stage_is "$stage" COMPLETED
  # One stored answer per claim that found a task (and those that found none: 404s).
  run psql "$URL" -qAtc "SELECT count(*) FILTER (WHERE status = 200), count(*) FILTER (WHERE status NOT IN (200, 404))
                           FROM $SCHEMA.idempotency_key WHERE key LIKE 'jobnik-%'"
  assert_output "3|0"
  kill -TERM "$WORKER_PID"
  wait_worker
  # The slots' shared (batch) claims carry keys too: one stored answer per claim, each
  # of them 200 (with the tasks claimed, or none).
  stage=$(make_stage idem2)
  add_tasks "$stage" '[{"data":{}},{"data":{}},{"data":{}}]' >/dev/null
  psql "$URL" -qAtc "DELETE FROM $SCHEMA.idempotency_key"
  start_worker --stage-type idem2 --concurrency 3 --idempotent-claims -- /bin/true
  poll 20 stage_is "$stage" COMPLETED
  run psql "$URL" -qAtc "SELECT count(*) > 0, count(*) FILTER (WHERE status <> 200)
                           FROM $SCHEMA.idempotency_key WHERE key LIKE 'jobnik-%'"
  assert_output "t|0"
  run "$JOBNIK_WORKER" --stage-type idem --idempotent-claims --print-config -- /bin/true
  assert_output --partial "idempotent_claims: true"
}

@test "a slot's next task finds its own task file and nothing its predecessor left" {
  local cmd stage ids
  # Each task lists its directory, then leaves a result and litter behind.
  cmd=$(script litter.sh 'd=$(dirname "$JOBNIK_TASK_FILE"); { echo "task:$JOBNIK_TASK_ID"; ls -A "$d"; jq -r .id "$JOBNIK_TASK_FILE"; } >>"$1"
echo "{\"n\":1}" >"$JOBNIK_RESULT_FILE"; mkdir "$d/junk"; touch "$d/junk/x" "$d/.hidden"')
  stage=$(make_stage litter)
  ids=$(add_tasks "$stage" "[{\"data\":{\"out\":\"$W/out\"}},{\"data\":{\"out\":\"$W/out\"}},{\"data\":{\"out\":\"$W/out\"}}]")
  start_worker --stage-type litter --concurrency 1 -- "$cmd" '{data.out}'
  poll 20 stage_is "$stage" COMPLETED
  # Three tasks, each saw only task.json, holding its own task.
  [[ $(grep -c '^task:' "$W/out") == 3 ]]
  [[ $(grep -vc '^task:\|^task.json$\|^[0-9a-f-]\{36\}$' "$W/out") == 0 ]]
  while read -r id; do
    grep -A2 -x "task:$id" "$W/out" | tail -n1 | grep -qx "$id"
    [[ "$(api GET "/v1/tasks/$id" | jq -c .userMetadata)" == '{"n":1}' ]]
  done <<<"$ids"
}

@test "a slot's task file is replaced whole: shorter after longer, and after a command broke it" {
  local cmd stage pad
  # Each task checks that its task file is exactly its own task (valid JSON, its id), notes
  # its mode, then breaks the file for the next task as the mode says.
  cmd=$(script breaker.sh 'f=$JOBNIK_TASK_FILE
jq -e . "$f" >/dev/null || exit 3
[ "$(jq -r .id "$f")" = "$JOBNIK_TASK_ID" ] || exit 4
jq -r .data.mode "$f" >>"$1"
case $(jq -r .data.mode "$f") in
  chmod) chmod 000 "$f" ;;
  dir) rm -f "$f"; mkdir "$f"; touch "$f/x" ;;
  link) rm -f "$f"; ln -s "$2" "$f" ;;
esac')
  echo "keep me" >"$W/victim"
  pad=$(printf 'x%.0s' {1..3000})
  stage=$(make_stage breaker)
  add_tasks "$stage" "[{\"data\":{\"mode\":\"chmod\",\"pad\":\"$pad\"}},{\"data\":{\"mode\":\"dir\"}},
    {\"data\":{\"mode\":\"link\"}},{\"data\":{\"mode\":\"none\"}}]" >/dev/null
  start_worker --stage-type breaker --concurrency 1 -- "$cmd" "$W/out" "$W/victim"
  poll 20 stage_is "$stage" COMPLETED
  # All four ran in order, each on a whole file of its own; the symlink's target is untouched.
  assert_equal "$(tr '\n' ' ' <"$W/out")" "chmod dir link none "
  assert_equal "$(cat "$W/victim")" "keep me"
}

@test "a failing command fails the task with its stderr, retried by the server until FAILED" {
  local cmd stage id
  cmd=$(script fail.sh 'echo "$JOBNIK_ATTEMPT/$JOBNIK_MAX_ATTEMPTS" >>"$1"; echo "out of disk" >&2; exit 3')
  stage=$(make_stage fails)
  id=$(add_tasks "$stage" '[{"data":{},"maxAttempts":3}]')
  start_worker --stage-type fails -- "$cmd" "$W/attempts"
  poll 30 task_is "$id" FAILED
  [[ "$(task_field "$id" attempts)" == 3 ]]
  run cat "$W/attempts"
  assert_output $'1/3\n2/3\n3/3'
  run grep -c "task=$id failed after .* the command exited with status 3: out of disk" "$WORKER_LOG"
  assert_output 3
  grep -q "task=$id stderr: out of disk" "$WORKER_LOG"
  if [[ "$(task_field "$id" errors)" != null ]]; then
    [[ "$(task_field "$id" 'errors | length')" == 3 ]]
    [[ "$(task_field "$id" 'errors[-1].reason')" == "the command exited with status 3: out of disk" ]]
  fi
}

@test "a timeout kills the command's whole process group (TERM ignored: KILL after the grace), none left" {
  local cmd stage id pgid
  cmd=$(script hang.sh 'trap "" TERM
sleep 300 &
echo "$(ps -o pgid= $$ | tr -d " ")" >"$1"
wait')
  stage=$(make_stage hang)
  id=$(add_tasks "$stage" '[{"data":{}}]')
  start_worker --stage-type hang --timeout 1 --kill-grace 1 -- "$cmd" "$W/pgid"
  poll 10 test -s "$W/pgid"
  pgid=$(cat "$W/pgid")
  pgrep -g "$pgid" >/dev/null
  poll 20 task_is "$id" FAILED
  grep -q "task=$id failed after .*timed out after 1 s" "$WORKER_LOG"
  # No member of the group survives (the sleep ignored SIGTERM too).
  poll 5 bash -c "! pgrep -g $pgid >/dev/null"
}

@test "concurrency runs commands in parallel" {
  local cmd stage
  cmd=$(script par.sh 'date +%s.%N >>"$1.start"; sleep 1; date +%s.%N >>"$1.end"')
  stage=$(make_stage par)
  add_tasks "$stage" '[{"data":{}},{"data":{}},{"data":{}},{"data":{}}]' >/dev/null
  start_worker --stage-type par --concurrency 4 -- "$cmd" "$W/t"
  poll 30 stage_is "$stage" COMPLETED
  [[ $(wc -l <"$W/t.start") == 4 ]]
  # Every command started before the first one ended.
  local last_start first_end
  last_start=$(sort -n "$W/t.start" | tail -n1)
  first_end=$(sort -n "$W/t.end" | head -n1)
  awk -v s="$last_start" -v e="$first_end" 'BEGIN { exit !(s < e) }'
}

@test "placeholders take nested fields and JSON values; a missing field fails the task with its name" {
  local cmd stage ok missing
  cmd=$(script args.sh 'out="$1"; shift; printf "%s\n" "$@" >"$out.$JOBNIK_TASK_ID"')
  stage=$(make_stage ph)
  ok=$(add_tasks "$stage" '[{"data":{"a":{"b":"x y"},"n":5,"flag":true}}]')
  missing=$(add_tasks "$stage" '[{"data":{"a":{}}}]')
  start_worker --stage-type ph -- "$cmd" "$W/args" '{data.a.b}' 'n={data.n}' '{data.flag}' '{data.a}' '{database}'
  poll 20 task_is "$ok" COMPLETED
  run cat "$W/args.$ok"
  assert_output $'x y\nn=5\ntrue\n{"b":"x y"}\n{database}'
  poll 20 task_is "$missing" FAILED
  [[ ! -e "$W/args.$missing" ]]
  grep -q "task=$missing failed after .*argument 2: placeholder {data.a.b}: the task's data has no field 'data.a.b'" "$WORKER_LOG"
}

@test "task data cannot inject shell commands (argv, and quoted with shell: true)" {
  local cmd stage id1 id2 evil
  evil='$(touch '"$W"'/pwned1); `touch '"$W"'/pwned2`; touch '"$W"'/pwned3 '"'"' " \'
  cmd=$(script echo.sh 'printf "%s" "$2" >"$1"')
  stage=$(make_stage inj)
  id1=$(add_tasks "$stage" "$(jq -cn --arg e "$evil" '[{data: {e: $e}}]')")
  start_worker --stage-type inj -- "$cmd" "$W/argv.out" '{data.e}'
  poll 20 task_is "$id1" COMPLETED
  [[ "$(cat "$W/argv.out")" == "$evil" ]]
  stage=$(make_stage injsh)
  id2=$(add_tasks "$stage" "$(jq -cn --arg e "$evil" '[{data: {e: $e}}]')")
  start_worker --stage-type injsh --shell -- "printf %s {data.e} >$W/shell.out"
  poll 20 task_is "$id2" COMPLETED
  [[ "$(cat "$W/shell.out")" == "$evil" ]]
  [[ ! -e "$W/pwned1" && ! -e "$W/pwned2" && ! -e "$W/pwned3" ]]
}

@test "JOBNIK_RESULT_FILE's object is merged into the task's userMetadata" {
  local cmd stage id bad
  cmd=$(script result.sh 'if [ "$1" = bad ]; then echo "[1,2]" >"$JOBNIK_RESULT_FILE"; else echo "{\"size\": 42, \"keep\": \"new\"}" >"$JOBNIK_RESULT_FILE"; fi')
  stage=$(make_stage res)
  id=$(add_tasks "$stage" '[{"data":{"m":"good"},"userMetadata":{"keep":"old","other":1}}]')
  bad=$(add_tasks "$stage" '[{"data":{"m":"bad"}}]')
  start_worker --stage-type res -- "$cmd" '{data.m}'
  poll 20 task_is "$id" COMPLETED
  [[ "$(api GET "/v1/tasks/$id" | jq -cS .userMetadata)" == '{"keep":"new","other":1,"size":42}' ]]
  poll 20 task_is "$bad" FAILED
  grep -q "task=$bad failed after .*JOBNIK_RESULT_FILE) does not hold a JSON object" "$WORKER_LOG"
}

@test "SIGTERM: no more claims, a command that ends within --shutdown-timeout completes, exit 0" {
  local cmd stage id
  cmd=$(script short.sh 'touch "$1.started"; while [ ! -e "$1.go" ]; do sleep 0.05; done')
  stage=$(make_stage short)
  id=$(add_tasks "$stage" '[{"data":{}}]')
  start_worker --stage-type short --shutdown-timeout 30 -- "$cmd" "$W/s"
  poll 10 test -e "$W/s.started"
  kill -TERM "$WORKER_PID"
  poll 10 grep -q "running task(s) get 30 s to finish" "$WORKER_LOG"
  touch "$W/s.go"
  wait_worker
  [[ "$WORKER_STATUS" == 0 ]]
  task_is "$id" COMPLETED
}

@test "SIGTERM in the middle of a long task: killed after --shutdown-timeout, reported FAILED, exit 0" {
  local cmd stage id next pgid
  cmd=$(script long.sh 'echo "$(ps -o pgid= $$ | tr -d " ")" >"$1"; exec sleep 300')
  stage=$(make_stage long)
  id=$(add_tasks "$stage" '[{"data":{}}]')
  next=$(add_tasks "$stage" '[{"data":{}}]')
  start_worker --stage-type long --shutdown-timeout 1 -- "$cmd" "$W/pgid"
  poll 10 test -s "$W/pgid"
  pgid=$(cat "$W/pgid")
  kill -TERM "$WORKER_PID"
  wait_worker
  [[ "$WORKER_STATUS" == 0 ]]
  task_is "$id" FAILED
  grep -q "task=$id failed after .*: worker shutdown" "$WORKER_LOG"
  # A server with claim tokens keeps the reason with the task.
  if [[ "$(task_field "$id" errors)" != null ]]; then
    [[ "$(task_field "$id" 'errors[-1].reason')" == "worker shutdown" ]]
  fi
  ! pgrep -g "$pgid"
  # Nothing more was claimed after the signal.
  task_is "$next" PENDING
}

@test "a second signal ends the running commands at once" {
  local cmd stage id
  cmd=$(script long2.sh 'touch "$1"; exec sleep 300')
  stage=$(make_stage long2)
  id=$(add_tasks "$stage" '[{"data":{}}]')
  start_worker --stage-type long2 --shutdown-timeout 600 -- "$cmd" "$W/started"
  poll 10 test -e "$W/started"
  kill -TERM "$WORKER_PID"
  poll 10 grep -q "get 600 s to finish" "$WORKER_LOG"
  kill -INT "$WORKER_PID"
  wait_worker
  [[ "$WORKER_STATUS" == 0 ]]
  task_is "$id" FAILED
  grep -q "second signal: stopping the running commands" "$WORKER_LOG"
}

@test "bad configuration is rejected at start with one line naming the file, key and problem" {
  local f="$W/worker.yaml"
  printf 'url: http://127.0.0.1:1\nhandlers:\n  - stage_type: a\n    command: [/bin/true]\n    timeout: soon\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f"
  assert_failure 2
  assert_output "jobnik-worker: $f: handlers[0].timeout: must be an integer, not 'soon'"
  printf 'handlers:\n  - stage_type: a\n    command: [/bin/true]\n    colour: red\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f"
  assert_failure 2
  assert_output "jobnik-worker: $f: handlers[0]: unknown key 'colour'"
  printf 'handlers:\n  - stage_type: a\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f"
  assert_failure 2
  assert_output "jobnik-worker: $f: handlers[0].command: is missing (the program and its arguments)"
  printf 'handlers:\n  - stage_type: a\n    command: [/bin/true]\n    user: no-such-user-here\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f"
  assert_failure 2
  assert_output "jobnik-worker: $f: handlers[0].user: no such user 'no-such-user-here'"
  printf 'combine_requests: sometimes\nhandlers:\n  - stage_type: a\n    command: [/bin/true]\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f"
  assert_failure 2
  assert_output --partial "jobnik-worker: $f: combine_requests: "
  assert_output --partial "'sometimes'"
  printf 'combine_requests: false\nhandlers:\n  - stage_type: a\n    command: [/bin/true]\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f" --print-config
  assert_success
  assert_line "combine_requests: false"
  run "$JOBNIK_WORKER" --stage-type a --print-config -- /bin/true
  assert_line "combine_requests: true"
  printf 'handlers: [\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f"
  assert_failure 2
  assert_output --regexp "^jobnik-worker: $f: line [0-9]+: not valid YAML"
  run "$JOBNIK_WORKER" --config "$W/missing.yaml"
  assert_failure 2
  assert_output "jobnik-worker: $W/missing.yaml: cannot read the file: No such file or directory"
  run "$JOBNIK_WORKER" --url 'ftp://x' --stage-type a -- /bin/true
  assert_failure 2
  assert_output --partial "jobnik-worker: url: "
  run "$JOBNIK_WORKER" --stage-type a
  assert_failure 2
  assert_output --partial "no command"
}

@test "a configured worker runs several handlers from its file" {
  local f="$W/worker.yaml" s1 s2 a b
  cat >"$f" <<YAML
url: $JOBNIK_URL
shutdown_timeout: 5
handlers:
  - stage_type: one
    command: ["/bin/sh", "-c", "echo one:\$GREETING >\"\$0\"", "$W/one.out"]
    env: {GREETING: hello}
  - stage_type: two
    command: "echo two:\$(pwd) >$W/two.out"
    shell: true
    cwd: $W
    concurrency: 2
YAML
  run "$JOBNIK_WORKER" --config "$f" --print-config
  assert_success
  assert_line --partial "stage_type: two"
  s1=$(make_stage one)
  s2=$(make_stage two)
  a=$(add_tasks "$s1" '[{"data":{}}]')
  b=$(add_tasks "$s2" '[{"data":{}}]')
  "$JOBNIK_WORKER" --config "$f" >>"$WORKER_LOG" 2>&1 &
  WORKER_PID=$!
  WORKER_PIDS+=("$WORKER_PID")
  poll 20 task_is "$a" COMPLETED
  poll 20 task_is "$b" COMPLETED
  [[ "$(cat "$W/one.out")" == "one:hello" ]]
  [[ "$(cat "$W/two.out")" == "two:$W" ]]
}

@test "a burst of 2,000 tiny tasks over three worker processes: none lost, none run twice" {
  local cmd stage i
  cmd=$(script tiny.sh 'echo "$JOBNIK_TASK_ID" >>"$1"')
  stage=$(make_stage tiny)
  for ((i = 0; i < 4; i++)); do
    add_tasks "$stage" "$(jq -cn '[range(500) | {data: {i: .}}]')" >/dev/null
  done
  for i in 1 2 3; do start_worker --stage-type tiny --concurrency 4 -- "$cmd" "$W/ids"; done
  poll 300 stage_is "$stage" COMPLETED
  [[ $(wc -l <"$W/ids") == 2000 ]]
  [[ $(sort -u "$W/ids" | wc -l) == 2000 ]]
  [[ "$(api GET "/v1/stages/$stage" | jq -c '.summary | {completed, total}')" == '{"completed":2000,"total":2000}' ]]
}

PLUGIN_DIR="$JOBNIK_BIN_DIR/../examples/plugins"

@test "a plugin completes tasks (its result merged into userMetadata) and fails them with its reason" {
  local stage ok bad
  stage=$(make_stage echo)
  ok=$(add_tasks "$stage" '[{"data":{"x":1}}]')
  bad=$(add_tasks "$stage" '[{"data":{"fail":true}}]')
  start_worker --stage-type echo --concurrency 2 --plugin "$PLUGIN_DIR/libjobnik_echo_plugin.so" --plugin-config hi
  poll 20 task_is "$ok" COMPLETED
  [[ "$(api GET "/v1/tasks/$ok" | jq -cS .userMetadata)" == '{"attempt":1,"echo":{"x":1},"greeting":"hi"}' ]]
  poll 20 task_is "$bad" FAILED
  grep -q "task=$bad failed after .*: asked to fail" "$WORKER_LOG"
}

@test "the no-op plugin completes tasks without touching their userMetadata" {
  local stage ids
  stage=$(make_stage noop)
  ids=$(add_tasks "$stage" '[{"data":{"x":1},"userMetadata":{"keep":true}},{"data":{}}]')
  start_worker --stage-type noop --concurrency 2 --plugin "$PLUGIN_DIR/libjobnik_noop_plugin.so"
  poll 20 stage_is "$stage" COMPLETED
  [[ "$(api GET "/v1/tasks/$(head -n1 <<<"$ids")" | jq -c .userMetadata)" == '{"keep":true}' ]]
}

@test "a plugin of another ABI version, or one that cannot be loaded, is rejected at start" {
  run "$JOBNIK_WORKER" --stage-type echo --plugin "$PLUGIN_DIR/libjobnik_echo_plugin_wrong_abi.so"
  assert_failure 2
  assert_output "jobnik-worker: plugin: '$PLUGIN_DIR/libjobnik_echo_plugin_wrong_abi.so' was built for plugin ABI version 99; this worker loads version 1"
  run "$JOBNIK_WORKER" --stage-type echo --plugin "$W/nope.so"
  assert_failure 2
  assert_output --partial "jobnik-worker: plugin: cannot load '$W/nope.so': "
  printf 'handlers:\n  - stage_type: a\n    plugin: /bin/true\n' >"$W/p.yaml"
  run "$JOBNIK_WORKER" --config "$W/p.yaml"
  assert_failure 2
  assert_output --partial "jobnik-worker: $W/p.yaml: handlers[0].plugin: cannot load '/bin/true': "
}

@test "an idle worker does not busy-loop: few claims against an empty queue over several seconds" {
  local before after mode
  # The slots' shared batch claims (the default), and each slot's own dequeues.
  claims() { grep -c 'route=/v1/stages/{stageType}/tasks/dequeue\|route=/v1/tasks/claim ' "$LOG" || true; }
  for mode in "" --no-combine-requests; do
    before=$(claims)
    start_worker --stage-type idle --concurrency 4 $mode -- /bin/true
    sleep 5  # the time span being measured, not a synchronisation
    after=$(claims)
    kill -TERM "$WORKER_PID"
    wait_worker
    [[ "$WORKER_STATUS" == 0 ]]
    # 4 slots backing off 1 s, 2 s, 4 s (full jitter) make a few claims each in 5 s; a
    # busy loop would make thousands.
    echo "claims in 5 s ${mode:-combined}: $((after - before))"
    (( after - before >= 2 && after - before <= 60 ))
  done
}

@test "with --wait-seconds an idle worker long-polls: one claim per wait, a new task claimed at once" {
  local before after stage id t0 elapsed_ms
  # Claims are logged when they end: a waiting one is not counted yet.
  claims() { grep -c 'route=/v1/tasks/claim ' "$LOG" || true; }
  waiting() { [[ $(curl -s "$JOBNIK_URL/metrics" | sed -n 's/^jobnik_claim_waiting_requests //p') == 1 ]]; }
  before=$(claims)
  start_worker --stage-type lp --concurrency 2 --wait-seconds 30 -- /bin/true
  poll 20 waiting  # one claim waits in jobnikd, for both slots
  stage=$(make_stage lp)
  t0=$(date +%s%N)
  id=$(add_tasks "$stage" '[{"data":{}}]')
  poll 20 task_is "$id" COMPLETED
  elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
  echo "created -> completed: ${elapsed_ms} ms"
  (( elapsed_ms < 5000 ))  # a poll with backoff may sleep up to 60 s; the long poll is woken
  poll 20 waiting          # and the slots wait again
  after=$(claims)
  # One claim ended (the one that got the task); no slot polled meanwhile.
  assert_equal "$((after - before))" 1
  # A graceful stop cuts the waiting claims instead of waiting 30 s for them, and jobnikd
  # stops waiting for the clients that are gone (nothing is claimed for them).
  stop_worker_within 10000
  gone() { [[ $(curl -s "$JOBNIK_URL/metrics" | sed -n 's/^jobnik_claim_waiting_requests //p') == 0 ]]; }
  poll 10 gone
  id=$(add_tasks "$(make_stage lp)" '[{"data":{}}]')
  task_is "$id" PENDING
  run grep -c 'claim failed' "$WORKER_LOG"
  assert_output 0
}

@test "with --wait-seconds and --idempotent-claims a graceful stop cuts the waits and asks for their answers" {
  waiting() { [[ $(curl -s "$JOBNIK_URL/metrics" | sed -n 's/^jobnik_claim_waiting_requests //p') == "$1" ]]; }
  # Each slot its own long poll here (--no-combine-requests): two claims to cut.
  start_worker --stage-type lpi --concurrency 2 --wait-seconds 30 --idempotent-claims --no-combine-requests -- /bin/true
  poll 20 waiting 2
  stop_worker_within 10000
  waiting 0
  # Each cut claim was asked for again with its key: its answer (no task) was replayed.
  replayed() { curl -s "$JOBNIK_URL/metrics" | sed -n 's/^jobnik_idempotent_requests_total{outcome="replayed"} //p'; }
  assert_equal "$(replayed)" 2
  run grep -c 'claim failed' "$WORKER_LOG"
  assert_output 0
}

@test "make demo's script runs the examples/ job spec and worker configuration end to end" {
  local src="${JOBNIK_SOURCE_DIR:-$BATS_TEST_DIRNAME/../..}"
  run timeout 120 "$src/scripts/demo.sh" "$JOBNIK_BIN_DIR/.."
  assert_success
  assert_output --partial ": COMPLETED"
  assert_output --partial '"userMetadata":{"greeting":"hello, Grace"}'
}

@test "aborting the job while its command runs kills the command (heartbeats; a server with claim tokens)" {
  local cmd stage id job pgid
  cmd=$(script abort.sh 'echo "$(ps -o pgid= $$ | tr -d " ")" >"$1"; exec sleep 300')
  stage=$(make_stage abort)
  job=$(api GET "/v1/stages/$stage" | jq -r .jobId)
  id=$(add_tasks "$stage" '[{"data":{}}]')
  start_worker --stage-type abort --heartbeat-interval 1 -- "$cmd" "$W/pgid"
  poll 10 test -s "$W/pgid"
  pgid=$(cat "$W/pgid")
  if [[ "$(task_field "$id" claimId)" == null ]]; then
    skip "this jobnikd has no claim tokens (no heartbeats)"
  fi
  api PUT "/v1/jobs/$job/status" '{"status":"ABORTED"}' >/dev/null
  [[ "$(last_status)" == 200 ]]
  poll 15 bash -c "! pgrep -g $pgid >/dev/null"
  grep -q "task=$id the job is no longer active: stopping the command" "$WORKER_LOG"
  grep -q "task=$id failed after .*the job is no longer active (the command was killed)" "$WORKER_LOG"
  kill -TERM "$WORKER_PID"
  wait_worker
  [[ "$WORKER_STATUS" == 0 ]]
}

# status_url: the worker's status address from its log (after --listen 127.0.0.1:0).
status_url() {
  local addr
  addr=$(sed -n 's|.*status on http://\([0-9.]*:[0-9]*\) .*|\1|p' "$WORKER_LOG" | head -n1)
  [[ -n "$addr" ]] && echo "http://$addr"
}
# metric NAME_WITH_LABELS: the value of one series on the worker's /metrics.
metric() { curl -sf "$(status_url)/metrics" | awk -v s="$1" '$1 == s { print $2 }'; }
metric_is() { [[ "$(metric "$1")" == "$2" ]]; }

@test "--listen serves /metrics (tasks started, completed, failed, timed out; duration) and /healthz, /readyz" {
  local cmd stage
  cmd=$(script mixed.sh 'case "$1" in fail) echo "bad input" >&2; exit 4;; hang) exec sleep 60;; esac')
  stage=$(make_stage mixed)
  add_tasks "$stage" '[{"data":{"do":"ok"}},{"data":{"do":"ok"}},{"data":{"do":"fail"}},{"data":{"do":"hang"}}]' >/dev/null
  start_worker --stage-type mixed --concurrency 4 --timeout 1 --kill-grace 0 --listen 127.0.0.1:0 -- "$cmd" '{data.do}'
  poll 10 status_url
  local t='{stage_type="mixed"}'
  poll 20 metric_is "jobnik_worker_tasks_failed_total$t" 2
  metric_is "jobnik_worker_tasks_started_total$t" 4
  metric_is "jobnik_worker_tasks_completed_total$t" 2
  metric_is "jobnik_worker_tasks_timed_out_total$t" 1
  metric_is "jobnik_worker_handler_duration_seconds_count$t" 4
  poll 5 metric_is "jobnik_worker_tasks_in_flight$t" 0
  metric_is "jobnik_worker_breaker_state{breaker=\"claim\",stage_type=\"mixed\"}" 0
  # Every task came in a claim the slots shared; the two completions went in shared reports
  # (the failures are reported one by one, with their reasons).
  metric_is 'jobnik_worker_tasks_per_request_sum{request="claim",stage_type="mixed"}' 4
  metric_is 'jobnik_worker_tasks_per_request_sum{request="report",stage_type="mixed"}' 2
  run curl -s "$(status_url)/healthz"
  assert_output '{"status":"ok"}'
  run curl -s -w ' %{http_code}' "$(status_url)/readyz"
  assert_output '{"status":"ok"} 200'
  stage_is "$stage" FAILED
}

@test "a failing handler opens the handler breaker: no more claims, and /readyz says why" {
  local f="$W/worker.yaml" cmd stage
  cmd=$(script broken.sh 'echo "disk full" >&2; exit 1')
  printf 'url: %s\nlisten: 127.0.0.1:0\nhandler_breaker: {min_calls: 3, failure_ratio: 1, reset_timeout: 600}\nhandlers:\n  - stage_type: broken\n    command: [%s]\n' \
    "$JOBNIK_URL" "$cmd" >"$f"
  stage=$(make_stage broken)
  add_tasks "$stage" "$(jq -cn '[range(10) | {data: {}, maxAttempts: 5}]')" >/dev/null
  "$JOBNIK_WORKER" --config "$f" >>"$WORKER_LOG" 2>&1 &
  WORKER_PID=$!
  WORKER_PIDS+=("$WORKER_PID")
  poll 20 grep -q "handler breaker open (was closed): the handler keeps failing" "$WORKER_LOG"
  poll 5 status_url
  run curl -s -w ' %{http_code}' "$(status_url)/readyz"
  assert_output '{"status":"handler of broken keeps failing (handler breaker open)"} 503'
  metric_is 'jobnik_worker_breaker_state{breaker="handler",stage_type="broken"}' 2
  # The three failures that opened it (retried by the server: the stage goes on).
  metric_is 'jobnik_worker_tasks_started_total{stage_type="broken"}' 3
  metric_is 'jobnik_worker_tasks_failed_total{stage_type="broken"}' 3
  stage_is "$stage" IN_PROGRESS
  kill -TERM "$WORKER_PID"
  wait_worker
  [[ "$WORKER_STATUS" == 0 ]]
}

@test "claims that keep failing open the claim breaker and make the worker not ready" {
  local f="$W/worker.yaml"
  printf 'url: http://127.0.0.1:1\nlisten: 127.0.0.1:0\nclaim_breaker: {min_calls: 1, reset_timeout: 600}\nhandlers:\n  - stage_type: x\n    command: [/bin/true]\n' >"$f"
  "$JOBNIK_WORKER" --config "$f" >>"$WORKER_LOG" 2>&1 &
  WORKER_PID=$!
  WORKER_PIDS+=("$WORKER_PID")
  poll 20 grep -q "claim breaker open (was closed): claims keep failing" "$WORKER_LOG"
  run curl -s -w ' %{http_code}' "$(status_url)/readyz"
  assert_output '{"status":"claims of x keep failing (claim breaker open)"} 503'
  run curl -s -w ' %{http_code}' "$(status_url)/healthz"
  assert_output '{"status":"ok"} 200'
  [[ "$(metric 'jobnik_worker_claim_errors_total{stage_type="x"}')" -ge 1 ]]
  kill -TERM "$WORKER_PID"
  wait_worker
  [[ "$WORKER_STATUS" == 0 ]]
}

@test "bad breaker and listen settings are rejected at start" {
  local f="$W/worker.yaml"
  printf 'claim_breaker: {failure_ratio: 2}\nhandlers:\n  - stage_type: a\n    command: [/bin/true]\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f"
  assert_failure 2
  assert_output "jobnik-worker: $f: claim_breaker.failure_ratio: must be a number greater than 0 and at most 1, not '2'"
  printf 'handler_breaker: {colour: red}\nhandlers:\n  - stage_type: a\n    command: [/bin/true]\n' >"$f"
  run "$JOBNIK_WORKER" --config "$f"
  assert_failure 2
  assert_output "jobnik-worker: $f: handler_breaker: unknown key 'colour'"
  run "$JOBNIK_WORKER" --listen nowhere --stage-type a -- /bin/true
  assert_failure 2
  assert_output "jobnik-worker: listen: 'nowhere' is not HOST:PORT (e.g. 127.0.0.1:9090)"
  run "$JOBNIK_WORKER" --lease-seconds -1 --stage-type a -- /bin/true
  assert_failure 2
}

@test "the bash completion offers every long option of --help, and its values" {
  local src="${JOBNIK_SOURCE_DIR:-$BATS_TEST_DIRNAME/../..}" opt offered
  # shellcheck source=/dev/null
  offered=$(bash -c 'source "$1/completions/jobnik-worker.bash"; COMP_WORDS=(jobnik-worker --); COMP_CWORD=1
    _jobnik_worker; printf "%s\n" "${COMPREPLY[@]}"' _ "$src")
  for opt in $("$JOBNIK_WORKER" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    grep -qx -- "$opt" <<<"$offered" || { echo "not offered: $opt" >&2; return 1; }
  done
  run bash -c 'source "$1/completions/jobnik-worker.bash"; COMP_WORDS=(jobnik-worker --log-format ""); COMP_CWORD=2
    _jobnik_worker; echo "${COMPREPLY[*]}"' _ "$src"
  assert_output "text json"
}

@test "a command's output reaches the log line by line while it runs" {
  local cmd stage id
  cmd=$(script chatty.sh 'echo "started $1"; while [ ! -e "$2" ]; do sleep 0.05; done; echo finished; printf "no newline" >&2')
  stage=$(make_stage chatty)
  id=$(add_tasks "$stage" '[{"data":{"n":7}}]')
  start_worker --stage-type chatty -- "$cmd" '{data.n}' "$W/go"
  # The command waits for this file: the line is in the log before the command ends.
  poll 20 grep -q "task=$id stdout: started 7" "$WORKER_LOG"
  touch "$W/go"
  poll 20 task_is "$id" COMPLETED
  grep -q "task=$id stdout: finished" "$WORKER_LOG"
  grep -q "task=$id stderr: no newline" "$WORKER_LOG"
}

@test "'retry later' sends retryAfterSeconds: the task waits that long before it is claimable again" {
  local cmd stage id before not_before
  cmd=$(script later.sh 'echo "busy, come back" >&2; exit 75')
  stage=$(make_stage later)
  id=$(add_tasks "$stage" '[{"data":{},"maxAttempts":3}]')
  before=$(date +%s)
  start_worker --stage-type later --retry-exit-code 75 --retry-after 300 -- "$cmd"
  poll 20 task_is "$id" RETRIED
  kill -TERM "$WORKER_PID"
  wait_worker
  not_before=$(date -d "$(task_field "$id" notBefore)" +%s)
  (( not_before >= before + 299 && not_before <= $(date +%s) + 301 ))
  [[ "$(task_field "$id" 'errors[-1].reason')" == "retry later: the command exited with status 75: busy, come back" ]]
}
