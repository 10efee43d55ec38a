#!/usr/bin/env bats
# Batch claims and batch reports (POST /v1/tasks/claim, POST /v1/tasks/status) through
# curl against a real jobnikd (docs/design.md, "Batch claims and reports").

load helpers

setup() { start_jobnikd_on_own_schema; }
teardown() { stop_jobnikd_on_own_schema; }

# new_work TYPE N PRIORITY: a job of PRIORITY with one stage of TYPE and N tasks.
new_work() {
  local job stage tasks i
  job=$(api POST /v1/jobs "{\"name\":\"batch\",\"data\":{},\"priority\":\"$3\"}" | jq -r .id)
  stage=$(api POST "/v1/jobs/$job/stage" "{\"type\":\"$1\",\"data\":{}}" | jq -r .id)
  tasks="["
  for ((i = 0; i < $2; i++)); do
    if ((i > 0)); then tasks+=","; fi
    tasks+="{\"data\":{\"i\":$i,\"type\":\"$1\"}}"
  done
  api POST "/v1/stages/$stage/tasks" "$tasks]" >/dev/null
  assert_equal "$(last_status)" 201
}

@test "a batch claim takes the highest priority first over its types, then the oldest" {
  new_work e2e-a 2 LOW
  new_work e2e-b 2 HIGH
  claimed=$(api POST /v1/tasks/claim '{"stageTypes":["e2e-a","e2e-b"],"limit":3,"leaseSeconds":60,"workerId":"w1"}')
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -r '[.tasks[].data.type] | join(",")' <<<"$claimed")" "e2e-b,e2e-b,e2e-a"
  assert_equal "$(jq -r '[.tasks[].data.i] | join(",")' <<<"$claimed")" "0,1,0"
  assert_equal "$(jq -r '[.tasks[] | .status == "IN_PROGRESS" and (.claimId | length) == 36
                          and .workerId == "w1" and has("leaseExpiresAt")] | all' <<<"$claimed")" true
  # The rest, then nothing (200 with an empty list, not a 404).
  assert_equal "$(api POST /v1/tasks/claim '{"stageTypes":["e2e-a","e2e-b"],"limit":10}' | jq '.tasks | length')" 1
  assert_equal "$(api POST /v1/tasks/claim '{"stageTypes":["e2e-a"],"limit":10,"waitSeconds":0}')" '{"tasks":[]}'
  assert_equal "$(last_status)" 200
}

@test "a bad batch claim is a 400 naming the field" {
  run api POST /v1/tasks/claim '{"stageTypes":["a"],"limit":0}'
  assert_equal "$(last_status)" 400
  assert_equal "$(jq -r .code <<<"$output")" VALIDATION_ERROR
  assert_output --partial "request/body/limit"
  run api POST /v1/tasks/claim '{"stageTypes":["a","a"],"limit":1}'
  assert_equal "$(last_status)" 400
  assert_output --partial "request/body/stageTypes/1"
  run api POST /v1/tasks/claim '{"stageTypes":["a"],"limit":1,"waitSeconds":600}'
  assert_equal "$(last_status)" 400
  assert_output --partial "request/body/waitSeconds"
}

@test "a batch report answers each item in order; a bad item fails alone" {
  new_work e2e-r 3 MEDIUM
  claimed=$(api POST /v1/tasks/claim '{"stageTypes":["e2e-r"],"limit":3}')
  t0=$(jq -r '.tasks[0].id' <<<"$claimed")
  c0=$(jq -r '.tasks[0].claimId' <<<"$claimed")
  t1=$(jq -r '.tasks[1].id' <<<"$claimed")
  t2=$(jq -r '.tasks[2].id' <<<"$claimed")
  body="{\"updates\":[{\"id\":\"$t0\",\"status\":\"COMPLETED\",\"claimId\":\"$c0\"},
        {\"id\":\"$t1\",\"status\":\"COMPLETED\",\"claimId\":\"11111111-1111-4111-8111-111111111111\"},
        {\"id\":\"not-a-uuid\",\"status\":\"COMPLETED\"},
        {\"id\":\"$t2\",\"status\":\"FAILED\",\"reason\":\"broke\"}]}"
  results=$(api POST /v1/tasks/status "$body")
  assert_equal "$(last_status)" 200
  assert_equal "$(jq -c '[.results[] | .ok // .code]' <<<"$results")" \
    '[true,"TASK_CLAIM_MISMATCH","VALIDATION_ERROR",true]'
  assert_equal "$(jq -r '.results[2].id' <<<"$results")" not-a-uuid
  assert_equal "$(api GET "/v1/tasks/$t0" | jq -r .status)" COMPLETED
  assert_equal "$(api GET "/v1/tasks/$t1" | jq -r .status)" IN_PROGRESS
  assert_equal "$(api GET "/v1/tasks/$t2" | jq -r .status)" FAILED
  # The body as a whole must be right.
  run api POST /v1/tasks/status '{"updates":[]}'
  assert_equal "$(last_status)" 400
  assert_output --partial "request/body/updates"
}
