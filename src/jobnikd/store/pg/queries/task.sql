-- Queries on the task table.
-- Columns of a task row, read by name (store/pg/rows.cc), usually in this order: id,
-- stage_id, data, user_metadata, status, attempts, max_attempts, creation_time,
-- update_time, start_time, end_time, traceparent, tracestate; then, where the task JSON
-- needs them, claim_id, lease_expires_at, worker_id, errors (schema/0003), retry and
-- not_before (schema/0005), read by name.

-- Lifecycle rules in SQL. The rules of SPEC A.3 are decided by lib/domain/lifecycle.h and
-- the store applies its decisions, except on the claim and report paths, where a second
-- round trip per request would cost more than the rule: there the SQL computes the same
-- thing in the statement itself, and tests/integration/lifecycle_test.cc runs the same
-- cases through the store and through the domain functions and compares the outcomes.
-- What is computed here, and its reference:
--   StageCountFinished (TaskReportCounted, TaskReportBatch): a stage's counters,
--     percentage and status after final reports        -> domain::TallyFinishedTasks
--   TaskReport: a RETRIED task is claimable again when its stage and job are active
--                                                        -> domain::TasksClaimable
--   StageActivateNext (stage.sql): only a CREATED next stage starts
--                                                        -> domain::StartsWhenPreviousCompletes
--   JobRefreshPercentage (job.sql): the job's percentage -> domain::JobPercentage
--   TaskClaim: the first claim starts a PENDING stage and job (SPEC A.3.4)
-- The task's own new status and attempts (domain::DecideTaskReport), the status of a new
-- stage (domain::InitialStageStatus) and the job's outcome (domain::JobAfterStageCompleted,
-- domain::JobAfterStageFailed) are decided in C++ and passed to the SQL.

-- Inserts a batch of tasks from one JSON array ($5), keeping the array's order.
-- Each element: a NewTask in its wire form (domain/codec.h, trace context resolved):
-- {"data":{},"userMetadata":{},"maxAttempts":n,"traceparent":"..","tracestate":"..","retry":{..},
-- "notBefore":".."}.
-- A task without a retry policy of its own takes its stage's (none when the stage has none).
-- Delayed start (schema/0007): a task waits for the latest of its own notBefore and $6 (the
-- later of its stage's and job's, NULL for none). When that is still in the future it is
-- inserted not ready with not_before set, as a RETRIED task waiting for its retry delay
-- (the scheduler makes it ready when due: TaskPromoteDue); otherwise ready is $4.
-- name: TaskInsertBatch
INSERT INTO task (id, stage_id, stage_type, priority, ready, status, data, user_metadata,
                  max_attempts, creation_time, update_time, traceparent, tracestate, retry, not_before)
SELECT new_id(), $1::uuid, $2, $3, $4 AND d.wait IS NULL, 'PENDING', e -> 'data',
       coalesce(e -> 'userMetadata', '{}'::jsonb), (e ->> 'maxAttempts')::int, now(), now(),
       e ->> 'traceparent', e ->> 'tracestate', coalesce(e -> 'retry', (SELECT st.retry FROM stage st WHERE st.id = $1::uuid)),
       d.wait
FROM jsonb_array_elements($5::jsonb) WITH ORDINALITY AS x(e, n)
CROSS JOIN LATERAL (
  SELECT CASE WHEN nb > now() THEN nb END AS wait
  FROM (SELECT greatest($6::timestamptz, (e ->> 'notBefore')::timestamptz) AS nb) g
) d
ORDER BY n
RETURNING id::text, stage_id::text, data::text, user_metadata::text, status, attempts, max_attempts,
          creation_time, update_time, start_time, end_time, traceparent, tracestate, seq, retry::text AS retry,
          not_before;

-- The same for a job submission, which does not return its tasks (used when no task of
-- the batch can wait: $6 is NULL and no element has a notBefore).
-- name: TaskInsertBatchQuiet
INSERT INTO task (id, stage_id, stage_type, priority, ready, status, data, user_metadata,
                  max_attempts, creation_time, update_time, traceparent, tracestate, retry)
SELECT new_id(), $1::uuid, $2, $3, $4, 'PENDING', e -> 'data',
       coalesce(e -> 'userMetadata', '{}'::jsonb), (e ->> 'maxAttempts')::int, now(), now(),
       e ->> 'traceparent', e ->> 'tracestate', coalesce(e -> 'retry', (SELECT st.retry FROM stage st WHERE st.id = $1::uuid))
FROM jsonb_array_elements($5::jsonb) WITH ORDINALITY AS x(e, n)
ORDER BY n;

-- name: TaskGet
SELECT id::text, stage_id::text, data::text, user_metadata::text, status, attempts, max_attempts,
       creation_time, update_time, start_time, end_time, traceparent, tracestate,
       claim_id::text, lease_expires_at, worker_id, errors::text, retry::text AS retry, not_before
FROM task WHERE id = $1::uuid;

-- name: TaskListForStages
SELECT id::text, stage_id::text, data::text, user_metadata::text, status, attempts, max_attempts,
       creation_time, update_time, start_time, end_time, traceparent, tracestate,
       claim_id::text, lease_expires_at, worker_id, errors::text, retry::text AS retry, not_before
FROM task WHERE stage_id = ANY ($1::uuid[])
ORDER BY stage_id, seq;

-- name: TaskFind
SELECT id::text, stage_id::text, data::text, user_metadata::text, status, attempts, max_attempts,
       creation_time, update_time, start_time, end_time, traceparent, tracestate,
       claim_id::text, lease_expires_at, worker_id, errors::text, retry::text AS retry, not_before
FROM task
WHERE ($1::uuid IS NULL OR stage_id = $1)
  AND ($2::text IS NULL OR stage_type = $2)
  AND ($3::text IS NULL OR status = $3)
  AND ($4::timestamptz IS NULL OR creation_time >= $4)
  AND ($5::timestamptz IS NULL OR creation_time <= $5)
ORDER BY seq;

-- Keeps the claim index's copy of the priority in step for every unfinished task.
-- name: TaskSetPriorityForJob
UPDATE task SET priority = $2
WHERE stage_id IN (SELECT id FROM stage WHERE job_id = $1::uuid)
  AND status NOT IN ('COMPLETED', 'FAILED') AND priority <> $2;

-- Tasks of a paused, aborted or failed job stop being claimable.
-- name: TaskClearReadyForJob
UPDATE task SET ready = false
WHERE stage_id IN (SELECT id FROM stage WHERE job_id = $1::uuid)
  AND ready AND status IN ('PENDING', 'RETRIED');

-- Tasks of the active stages of a resumed job become claimable, except RETRIED tasks still
-- waiting for their retry delay (not_before in the future: the scheduler's, TaskPromoteDue).
-- Wakes the requests waiting for work of those types (TaskNotifyClaimable): one row per type.
-- name: TaskSetReadyForJob
WITH made_ready AS (
  UPDATE task SET ready = true, not_before = NULL
  WHERE stage_id IN (SELECT id FROM stage WHERE job_id = $1::uuid AND status IN ('PENDING', 'IN_PROGRESS'))
    AND NOT ready AND status IN ('PENDING', 'RETRIED') AND (not_before IS NULL OR not_before <= now())
  RETURNING stage_type
)
SELECT pg_notify('jobnik_claimable', current_schema() || E'\t' || stage_type || E'\t' || count(*))
FROM made_ready GROUP BY stage_type;

-- Tasks of a stage that became active become claimable (its job is active: the caller
-- checks), except those waiting for their retry delay, as above.
-- Wakes waiting requests as TaskSetReadyForJob does.
-- name: TaskSetReadyForStage
WITH made_ready AS (
  UPDATE task SET ready = true, not_before = NULL
  WHERE stage_id = $1::uuid AND NOT ready AND status IN ('PENDING', 'RETRIED')
    AND (not_before IS NULL OR not_before <= now())
  RETURNING stage_type
)
SELECT pg_notify('jobnik_claimable', current_schema() || E'\t' || stage_type || E'\t' || count(*))
FROM made_ready GROUP BY stage_type;

-- Long-poll wake-up (services/claim_waiter.h): $2 tasks of stage type $1 became claimable in
-- this transaction. Every statement that sets task.ready (or inserts ready tasks) is
-- followed by this, or notifies itself (TaskSetReadyForJob, TaskSetReadyForStage). The
-- payload is "<schema>\t<stage type>\t<count>"; PostgreSQL delivers it at commit (never on
-- rollback) to every jobnikd listening on the database, and folds identical payloads of one
-- transaction into one.
-- name: TaskNotifyClaimable
SELECT pg_notify('jobnik_claimable', current_schema() || E'\t' || $1::text || E'\t' || $2::bigint);

-- The poll fallback of the long-poll wake-up (no NOTIFY, e.g. behind PgBouncer in
-- transaction mode): how many tasks of stage type $1 a claim would find now, at most $2.
-- The claim's conditions (TaskClaim) through the same index, without locking anything.
-- name: TaskCountClaimable
SELECT count(*) AS n FROM (
  SELECT 1
  FROM task t
  CROSS JOIN LATERAL ({ActiveStageAndJob}) a
  WHERE t.stage_type = $1 AND t.ready AND t.status IN ('PENDING', 'RETRIED')
  LIMIT $2
) x;

-- Concurrency limits (schema/0008; docs/design.md, "Concurrency limits"), the first CTE of
-- the claim statements: the free slots of the limited types among the statement's
-- ({types}: all its type parameters), one row per limited type. claim_slots locks their
-- limit rows and counts their tasks in progress; it is not called at all (one-time
-- filter) when none of the types has a limit, so a claim of unlimited types costs one
-- index probe of the small stage_type_limit table more than without limits. A branch
-- claims at most its type's free slots.
-- fragment: ClaimSlots
slots AS MATERIALIZED (
  SELECT sl.stage_type, sl.free FROM claim_slots(ARRAY[{types}]::text[]) sl
  WHERE EXISTS (SELECT 1 FROM stage_type_limit l WHERE l.stage_type = ANY (ARRAY[{types}]::text[]))
),

-- A claim branch's check that a task's stage and job are active (and their statuses and
-- the job's id, for starting them), run for each task the branch reads from task_claim, in
-- its order: a LATERAL subquery kept out of the join by OFFSET 0, so the planner cannot
-- start from stage or job. Joined freely, a generic plan made when stage and job had no
-- statistics (a queue of fewer than 50 jobs is never analyzed by autovacuum) started from
-- them and bitmap-ANDed task_claim with task_stage for each stage: 10-20 ms per claim of
-- 16 types, where the index order costs well under one.
-- fragment: ActiveStageAndJob
SELECT s.status AS stage_status, j.id AS job_id, j.status AS job_status
FROM stage s JOIN job j ON j.id = s.job_id
WHERE s.id = t.stage_id AND s.status IN ('PENDING', 'IN_PROGRESS') AND j.status IN ('PENDING', 'IN_PROGRESS')
OFFSET 0

-- The scan of one type that claims lock as they go: its claimable tasks of active stages and
-- jobs in the v1 order, locked SKIP LOCKED, at most {limit} (or the type's free slots). After
-- the select list of TaskClaim's branches and of TaskClaimManyOne.
-- fragment: LockedScanOfType
FROM task t
CROSS JOIN LATERAL ({ActiveStageAndJob}) a
WHERE t.stage_type = {type} AND t.ready AND t.status IN ('PENDING', 'RETRIED')
ORDER BY t.priority, t.seq
LIMIT least({limit}::bigint, coalesce((SELECT sl.free FROM slots sl WHERE sl.stage_type = {type}), {limit}::bigint))
FOR UPDATE OF t SKIP LOCKED

-- The first claim of a stage or job starts it (PENDING -> IN_PROGRESS, SPEC A.3.4), guarded
-- by the current status so that concurrent first claims start it once; CTEs of the claim
-- statements, after their CTE `candidate` (stage_id, stage_status, job_id, job_status as the
-- claim read them). Each row is found by its primary key, one probe per stage or job the
-- claim saw PENDING (a join from `candidate`, whatever the statistics say of the table's
-- size), and the status test is a CASE, which no index on status can serve. Written
-- `status = 'PENDING'`, a plan made while the statistics counted few PENDING jobs (a burst
-- of new jobs on top of a large history is far below autovacuum's analyze threshold) read
-- the entry of every PENDING job in job_unfinished_status, and of every PENDING stage in
-- stage_type_status, in each claim: 1 ms more per claim with 5,000 jobs waiting, growing
-- with the queue (store_test.cc: ClaimsStartStagesAndJobsByPrimaryKeyWhateverTheStatistics).
-- fragment: StartStagesAndJobs
stage_started AS (
  UPDATE stage s SET status = 'IN_PROGRESS', update_time = now()
  FROM (SELECT DISTINCT stage_id FROM candidate WHERE stage_status = 'PENDING') c
  WHERE s.id = c.stage_id AND CASE WHEN s.status = 'PENDING' THEN true END
  RETURNING s.id
), job_started AS (
  UPDATE job j SET status = 'IN_PROGRESS', update_time = now()
  FROM (SELECT DISTINCT job_id FROM candidate WHERE job_status = 'PENDING') c
  WHERE j.id = c.job_id AND CASE WHEN j.status = 'PENDING' THEN true END
  RETURNING j.id
)

-- The claim of one batch of dequeue requests (see group_commit.h), for K stage types at
-- once: a template, expanded in statements.cc into the statements
-- TaskClaim1..TaskClaim16. The part between the "per type" lines is repeated once
-- per type i = 1..K, with {i} replaced by i, {type} by $(2i-1) (the stage type) and
-- {limit} by $(2i) (how many requests of that type wait); {candidates} becomes the
-- UNION ALL of the branches c1..cK, and {options} $(2K+1) (the requests' claim options).
-- Each branch claims highest job priority first, oldest first, served by task_claim
-- (equality on stage_type, then its exact sort order) whatever the statistics. The
-- updates find their rows by primary key through ARRAY(...) (an index lookup per id):
-- a generic plan guesses a LIMIT $n at 10% of the type's rows, and a join against that
-- guess could turn into a scan of the whole task, stage or job table. The statement runs
-- with generic plans forced (Pool::Plans::kGeneric): a custom plan of 16 branches costs
-- more to plan (~1.5 ms) than to run. SKIP LOCKED lets
-- concurrent claims pass each other. The joins re-check that the stage and job are
-- active, so a stale `ready` flag can never hand out a task of a paused job.
-- One statement, run in autocommit (one round trip, one commit for the whole batch):
-- the first claim of a stage or job also starts it (StartStagesAndJobs).
-- Data-modifying CTEs always run to completion.
-- Returns the claimed tasks by branch, in claim order within each, each with its job
-- id and whether this statement started its stage and its job.
-- (A variant over an array of types through a LATERAL join was measured and dropped:
-- with 2M rows of history its generic plan took ~0.5 s per claim. FOR UPDATE is not
-- allowed in the branches of a UNION, hence one CTE per type.)
-- template: TaskClaim
WITH
{ClaimSlots}
-- per type: begin
c{i} AS (
  SELECT {i} AS branch, t.id, t.stage_id, t.priority, t.seq, a.stage_status, a.job_id, a.job_status
  {LockedScanOfType}
),
-- per type: end
candidate AS (
  {candidates}
), request_options AS (
  -- {options}: per branch, the options of its requests in request order (a JSON array of
  -- arrays of {"workerId": w, "leaseSeconds": n}); '[]' when no request has any (v1).
  SELECT b.branch::int AS branch, o.n, o.e
  FROM jsonb_array_elements({options}::jsonb) WITH ORDINALITY AS b(requests, branch),
       jsonb_array_elements(b.requests) WITH ORDINALITY AS o(e, n)
), claim_options AS (
  -- The k-th task claimed of a branch goes to its k-th request (the order of the result).
  SELECT c.id, o.e ->> 'workerId' AS worker_id, (o.e ->> 'leaseSeconds')::int AS lease_seconds
  FROM (SELECT id, branch, row_number() OVER (PARTITION BY branch ORDER BY priority, seq) AS n
        FROM candidate) c
  JOIN request_options o ON o.branch = c.branch AND o.n = c.n
), claimed AS (
  -- Every claim gets a fresh claim token; the worker and lease of its request, or none.
  UPDATE task t SET status = 'IN_PROGRESS', start_time = now(), update_time = now(), claim_id = gen_random_uuid(),
                    worker_id = (SELECT o.worker_id FROM claim_options o WHERE o.id = t.id),
                    lease_expires_at = now() + make_interval(secs => (SELECT o.lease_seconds FROM claim_options o
                                                                      WHERE o.id = t.id))
  WHERE t.id = ANY (ARRAY(SELECT id FROM candidate))
  RETURNING t.id AS uuid, t.id::text, t.stage_id::text, t.data::text, t.user_metadata::text, t.status,
            t.attempts, t.max_attempts, t.creation_time, t.update_time, t.start_time, t.end_time,
            t.traceparent, t.tracestate, t.stage_id AS stage_uuid, t.priority, t.seq,
            t.claim_id::text AS claim_id, t.lease_expires_at, t.worker_id, t.errors::text AS errors
), {StartStagesAndJobs}
(SELECT cl.id, cl.stage_id, cl.data, cl.user_metadata, cl.status, cl.attempts, cl.max_attempts,
       cl.creation_time, cl.update_time, cl.start_time, cl.end_time, cl.traceparent, cl.tracestate,
       cl.claim_id, cl.lease_expires_at, cl.worker_id, cl.errors,
       c.job_id::text,
       EXISTS (SELECT 1 FROM stage_started ss WHERE ss.id = cl.stage_uuid),
       EXISTS (SELECT 1 FROM job_started js WHERE js.id = c.job_id),
       c.branch, NULL::text AS limited_type, NULL::int AS free
FROM claimed cl JOIN candidate c ON c.id = cl.uuid
ORDER BY c.branch, cl.priority, cl.seq)
UNION ALL
-- Then a row per limited type: its free slots before this claim (limited_type not NULL).
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, sl.stage_type, sl.free FROM slots sl;

-- The end of both batch claims (TaskClaimMany, TaskClaimManyOne), after their CTE
-- `candidate` (id, stage_id, priority, seq, stage_status, job_id, job_status: the tasks to
-- claim, locked): claims them, starts their stages and jobs, returns them in (priority, seq)
-- order, then a row per limited type with its free slots before this claim.
-- fragment: TaskClaimManyEnd
claimed AS (
  UPDATE task t SET status = 'IN_PROGRESS', start_time = now(), update_time = now(), claim_id = gen_random_uuid(),
                    worker_id = {worker}::text,
                    lease_expires_at = now() + make_interval(secs => {lease}::int)
  WHERE t.id = ANY (ARRAY(SELECT id FROM candidate))
  RETURNING t.id AS uuid, t.id::text, t.stage_id::text, t.data::text, t.user_metadata::text, t.status,
            t.attempts, t.max_attempts, t.creation_time, t.update_time, t.start_time, t.end_time,
            t.traceparent, t.tracestate, t.stage_id AS stage_uuid, t.priority, t.seq,
            t.claim_id::text AS claim_id, t.lease_expires_at, t.worker_id, t.errors::text AS errors
), {StartStagesAndJobs}
(SELECT cl.id, cl.stage_id, cl.data, cl.user_metadata, cl.status, cl.attempts, cl.max_attempts,
       cl.creation_time, cl.update_time, cl.start_time, cl.end_time, cl.traceparent, cl.tracestate,
       cl.claim_id, cl.lease_expires_at, cl.worker_id, cl.errors,
       c.job_id::text,
       EXISTS (SELECT 1 FROM stage_started ss WHERE ss.id = cl.stage_uuid),
       EXISTS (SELECT 1 FROM job_started js WHERE js.id = c.job_id), NULL::text AS limited_type, NULL::int AS free
FROM claimed cl JOIN candidate c ON c.id = cl.uuid
ORDER BY cl.priority, cl.seq)
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, sl.stage_type, sl.free FROM slots sl;

-- The batch claim (POST /v1/tasks/claim): up to {limit} tasks over K stage types at once,
-- all for one request; a template expanded in statements.cc into TaskClaimMany1..16 like
-- TaskClaim ({type} is $i, {limit} $(K+1), {worker} $(K+2), {lease} $(K+3) seconds or
-- NULL). The branches c{i} read each type's claimable tasks in the v1 order (task_claim),
-- without locking them; the UNION ALL of the branches in (priority, seq) order (a Merge
-- Append of the K ordered index scans: highest job priority first, then the oldest, over
-- all the types) is pulled one row at a time: a row whose stage and job are active
-- (ActiveStageAndJob) is locked SKIP LOCKED by primary key, re-checked (a row claimed
-- meanwhile no longer matches), and the first {limit} locked rows are the claim. So a claim
-- reads and locks about {limit} rows whatever K is (locking {limit} in every branch and
-- keeping {limit} of K·{limit} made a claim of 10 over 16 types lock 160 rows and cost
-- 7 ms), and concurrent claims pass each other as single claims do. A branch of a limited
-- type reads at most its free slots (LIMIT NULL: no limit). Claims, starts stages and jobs
-- exactly as TaskClaim (one statement in autocommit: one round trip, one commit).
-- template: TaskClaimMany
WITH
{ClaimSlots}
-- per type: begin
c{i} AS (
  SELECT t.id, t.stage_id, t.priority, t.seq
  FROM task t
  WHERE t.stage_type = {type} AND t.ready AND t.status IN ('PENDING', 'RETRIED')
  ORDER BY t.priority, t.seq
  LIMIT (SELECT sl.free FROM slots sl WHERE sl.stage_type = {type})
),
-- per type: end
candidate AS (
  SELECT t.id, t.stage_id, t.priority, t.seq, a.stage_status, a.job_id, a.job_status
  FROM ({candidates} ORDER BY priority, seq) t
  CROSS JOIN LATERAL ({ActiveStageAndJob}) a
  CROSS JOIN LATERAL (
    SELECT 1 FROM task l
    WHERE l.id = t.id AND l.ready AND l.status IN ('PENDING', 'RETRIED')
    FOR UPDATE OF l SKIP LOCKED) locked
  LIMIT {limit}
), {TaskClaimManyEnd}

-- The batch claim of one stage type: as TaskClaim's branch, the ordered scan of task_claim
-- locks as it goes (SKIP LOCKED) and stops at {limit} (or the type's free slots).
-- Parameters as TaskClaimMany's with K = 1 (statements.cc uses it for TaskClaimMany1).
-- template: TaskClaimManyOne
WITH
{ClaimSlots}
-- per type: begin
candidate AS (
  SELECT t.id, t.stage_id, t.priority, t.seq, a.stage_status, a.job_id, a.job_status
  {LockedScanOfType}
),
-- per type: end
{TaskClaimManyEnd}

-- A failure (a status $3 other than COMPLETED) appends an entry to the task's `errors`,
-- keeping the newest 20: the failed attempt ($4, the new attempts), when, the reason ($6,
-- already cut to 8 KiB; none when NULL) and the worker of the claim. A completion writes
-- nothing here.
-- fragment: TaskFailureRecorded
errors = CASE WHEN $3::text = 'COMPLETED' THEN t.errors ELSE
           coalesce((SELECT jsonb_agg(x.e ORDER BY x.n)
                     FROM jsonb_array_elements(t.errors) WITH ORDINALITY AS x(e, n)
                     WHERE x.n > jsonb_array_length(t.errors) - 19), '[]'::jsonb)
           || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                'attempt', $4::int, 'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'reason', $6::text, 'workerId', t.worker_id)))
         END

-- A worker's (or the sweeper's) report on an IN_PROGRESS task. Guarded by the status,
-- attempts and claim ($5, NULL for none) read just before, so a concurrent report or a
-- new claim makes this match no row (409). $3: new status, $4: new attempts, $6: the
-- failure's reason. A RETRIED task is claimable again at once ($7, its retry delay in
-- seconds, is 0: domain::RetryDelaySeconds) if its stage and job are still active; with a
-- delay it waits, not ready, until not_before (the scheduler makes it ready: TaskPromoteDue).
-- name: TaskReport
UPDATE task t SET status = $3::text, attempts = $4, update_time = now(), {TaskFailureRecorded},
                  end_time = CASE WHEN $3::text IN ('COMPLETED', 'FAILED') THEN now() ELSE t.end_time END,
                  ready = CASE WHEN $3::text = 'RETRIED' THEN $7::float8 <= 0 AND EXISTS (
                            SELECT 1 FROM stage s JOIN job j ON j.id = s.job_id
                            WHERE s.id = t.stage_id AND s.status IN ('PENDING', 'IN_PROGRESS')
                              AND j.status IN ('PENDING', 'IN_PROGRESS'))
                          ELSE t.ready END,
                  not_before = CASE WHEN $3::text = 'RETRIED' AND $7::float8 > 0
                                 THEN now() + make_interval(secs => $7::float8) ELSE t.not_before END
WHERE t.id = $1::uuid AND t.status = 'IN_PROGRESS' AND t.attempts = $2 AND t.claim_id IS NOT DISTINCT FROM $5::uuid
RETURNING t.id::text, t.stage_id::text, t.data::text, t.user_metadata::text, t.status, t.attempts,
          t.max_attempts, t.creation_time, t.update_time, t.start_time, t.end_time, t.traceparent,
          t.tracestate, t.worker_id, t.errors::text AS errors, t.retry::text AS retry, t.not_before,
          t.ready, t.stage_type;

-- The stage counters of tasks that reached a final status, shared by TaskReportCounted
-- and TaskReportBatch (statements.cc puts this text where they name the fragment): the
-- CTE `counted` over `per_stage` (stage_uuid, completed, failed), one row per stage.
-- Each stage's counters move once (+completed, +failed), its percentage follows, and an
-- IN_PROGRESS stage fails with a final failure among them (IN_PROGRESS -> FAILED), or else
-- completes when this was its last task (IN_PROGRESS -> COMPLETED), SPEC A.3.5, or else
-- fails when every task is final and some of them had failed (tasks left FAILED while
-- others of the stage were re-run: RetryTask); a stage in another status only counts. Reference: domain::TallyFinishedTasks. The stage row is the
-- hot row of the completion path; this is the only statement that writes it, and the last
-- one before commit unless the stage just finished. Returns the stage's id, job, order and
-- status after the update (the statements return them as job_id, stage_order, stage_status).
-- fragment: StageCountFinished
counted AS (
  UPDATE stage s
  SET task_completed = s.task_completed + c.completed,
      task_failed = s.task_failed + c.failed,
      percentage = 100 * (s.task_completed + c.completed) / s.task_total,
      status = CASE
                 WHEN s.status <> 'IN_PROGRESS' THEN s.status
                 WHEN c.failed > 0 THEN 'FAILED'
                 WHEN s.task_completed + c.completed = s.task_total THEN 'COMPLETED'
                 -- every task is final, and some had failed and were not re-run (RetryTask)
                 WHEN s.task_failed > 0 AND s.task_completed + c.completed + s.task_failed = s.task_total
                   THEN 'FAILED'
                 ELSE s.status
               END,
      update_time = now()
  FROM per_stage c
  WHERE s.id = c.stage_uuid
  RETURNING s.id, s.job_id::text, s."order", s.status
)

-- A report that reaches a final status (COMPLETED, or FAILED with no attempts left; $3,
-- decided by domain::DecideTaskReport): TaskReport (same parameters) and its stage's
-- counters (StageCountFinished) in one statement. No row: another report won (409). Used for
-- final failures (COMPLETED reports are grouped: TaskReportBatch).
-- name: TaskReportCounted
WITH done AS (
  UPDATE task t SET status = $3::text, attempts = $4, update_time = now(), end_time = now(), {TaskFailureRecorded}
  WHERE t.id = $1::uuid AND t.status = 'IN_PROGRESS' AND t.attempts = $2 AND t.claim_id IS NOT DISTINCT FROM $5::uuid
  RETURNING t.id::text, t.stage_id::text, t.data::text, t.user_metadata::text, t.status, t.attempts,
            t.max_attempts, t.creation_time, t.update_time, t.start_time, t.end_time, t.traceparent,
            t.tracestate, t.stage_id AS stage_uuid, t.worker_id, t.errors::text AS errors, t.retry::text AS retry,
            t.stage_type
), per_stage AS (
  SELECT stage_uuid, CASE WHEN $3::text = 'COMPLETED' THEN 1 ELSE 0 END AS completed,
         CASE WHEN $3::text = 'FAILED' THEN 1 ELSE 0 END AS failed
  FROM done
), {StageCountFinished}
SELECT done.id, done.stage_id, done.data, done.user_metadata, done.status, done.attempts, done.max_attempts,
       done.creation_time, done.update_time, done.start_time, done.end_time, done.traceparent, done.tracestate,
       counted.job_id, counted."order" AS stage_order, counted.status AS stage_status, done.worker_id, done.errors,
       done.retry, done.stage_type
FROM done, counted;

-- Group commit of completions: the COMPLETED reports that arrived together, in one
-- statement: their tasks (locked in id order, the same for every batch), then each
-- stage's counters once (+n, StageCountFinished).
-- Returns each completed task with its stage's job, order and status after the update
-- (and its stage type: a completion of a limited type wakes a waiting claim, PgStore);
-- a task no longer IN_PROGRESS, or whose report named ($2, parallel to $1; NULL for none)
-- another claim, is simply not returned (its report gets 400 or 409).
-- name: TaskReportBatch
WITH done AS (
  UPDATE task t SET status = 'COMPLETED', update_time = now(), end_time = now()
  FROM unnest($1::uuid[], $2::uuid[]) AS x(id, claim)
  WHERE t.id = x.id AND t.status = 'IN_PROGRESS' AND (x.claim IS NULL OR t.claim_id = x.claim)
  RETURNING t.id::text, t.stage_id::text, t.data::text, t.user_metadata::text, t.status, t.attempts,
            t.max_attempts, t.creation_time, t.update_time, t.start_time, t.end_time, t.traceparent,
            t.tracestate, t.stage_id AS stage_uuid, t.stage_type
), per_stage AS (
  SELECT stage_uuid, count(*) AS completed, 0 AS failed FROM done GROUP BY stage_uuid
), {StageCountFinished}
SELECT d.id, d.stage_id, d.data, d.user_metadata, d.status, d.attempts, d.max_attempts, d.creation_time,
       d.update_time, d.start_time, d.end_time, d.traceparent, d.tracestate,
       c.job_id, c."order" AS stage_order, c.status AS stage_status, d.stage_type
FROM done d JOIN counted c ON c.id = d.stage_uuid;

-- name: TaskSetUserMetadata
UPDATE task SET user_metadata = $2::jsonb, update_time = now() WHERE id = $1::uuid;

-- The stale-task sweeper's batch: tasks claimed without a lease in progress since before
-- the cutoff, oldest first. (A leased task lives by its lease: TaskFindLeaseExpired.)
-- name: TaskFindStale
SELECT id::text, attempts, claim_id::text AS claim_id FROM task
WHERE status = 'IN_PROGRESS' AND start_time < $1::timestamptz AND lease_expires_at IS NULL
ORDER BY start_time
LIMIT $2;

-- The sweeper's batch of leased tasks whose lease expired before $1, soonest expired first.
-- Finds them among the IN_PROGRESS rows (bounded by the running work, through task_active);
-- lease_expires_at has no index of its own, so a heartbeat stays a HOT update.
-- name: TaskFindLeaseExpired
SELECT id::text, attempts, claim_id::text AS claim_id FROM task
WHERE status = 'IN_PROGRESS' AND lease_expires_at < $1::timestamptz
ORDER BY lease_expires_at
LIMIT $2;

-- The sweeper's read of one task it is about to fail, locked so that a heartbeat or a
-- report waits for its decision.
-- name: TaskGetForUpdate
SELECT id::text, stage_id::text, data::text, user_metadata::text, status, attempts, max_attempts,
       creation_time, update_time, start_time, end_time, traceparent, tracestate,
       claim_id::text, lease_expires_at, worker_id, errors::text, retry::text AS retry, not_before
FROM task WHERE id = $1::uuid FOR UPDATE;

-- A heartbeat: the lease of an IN_PROGRESS task whose claim is $2 (any claim when NULL)
-- and whose job is still active moves to now() + $3 seconds. One short statement on the
-- task row alone (HOT: no indexed column changes); no stage or job row is written. No
-- row: TaskHeartbeatRefused says why.
-- name: TaskHeartbeat
UPDATE task t SET lease_expires_at = now() + make_interval(secs => $3::int)
FROM stage s JOIN job j ON j.id = s.job_id
WHERE t.id = $1::uuid AND t.status = 'IN_PROGRESS' AND ($2::uuid IS NULL OR t.claim_id = $2::uuid)
  AND s.id = t.stage_id AND j.status IN ('PENDING', 'IN_PROGRESS')
RETURNING t.lease_expires_at, t.claim_id::text AS claim_id;

-- Why a heartbeat matched no row: the task's status and claim, and its job's status.
-- name: TaskHeartbeatRefused
SELECT t.status, t.claim_id::text AS claim_id, j.status AS job_status
FROM task t JOIN stage s ON s.id = t.stage_id JOIN job j ON j.id = s.job_id
WHERE t.id = $1::uuid;

-- One page of GET /v1/tasks, in the list's order (seq) through task_seq: a range scan
-- from the cursor ($6, the last seq seen; NULL for the first page), never a sort. Filters
-- as TaskFind but stage_id, which has its own statement below; then LIMIT $7 OFFSET $8.
-- The cursor is an index condition also in a generic plan (coalesce of a parameter),
-- so a page never rescans the rows before it. The last column is the row's seq.
-- name: TaskPage
SELECT id::text, stage_id::text, data::text, user_metadata::text, status, attempts, max_attempts,
       creation_time, update_time, start_time, end_time, traceparent, tracestate, seq,
       claim_id::text, lease_expires_at, worker_id, errors::text, retry::text AS retry, not_before
FROM task
WHERE seq > coalesce($6::bigint, 0)
  AND ($1::uuid IS NULL OR stage_id = $1)
  AND ($2::text IS NULL OR stage_type = $2)
  AND ($3::text IS NULL OR status = $3)
  AND ($4::timestamptz IS NULL OR creation_time >= $4)
  AND ($5::timestamptz IS NULL OR creation_time <= $5)
ORDER BY seq
LIMIT $7 OFFSET $8;

-- The same within one stage ($1, required), through task_stage (stage_id, seq).
-- name: TaskPageOfStage
SELECT id::text, stage_id::text, data::text, user_metadata::text, status, attempts, max_attempts,
       creation_time, update_time, start_time, end_time, traceparent, tracestate, seq,
       claim_id::text, lease_expires_at, worker_id, errors::text, retry::text AS retry, not_before
FROM task
WHERE stage_id = $1::uuid AND seq > coalesce($6::bigint, 0)
  AND ($2::text IS NULL OR stage_type = $2)
  AND ($3::text IS NULL OR status = $3)
  AND ($4::timestamptz IS NULL OR creation_time >= $4)
  AND ($5::timestamptz IS NULL OR creation_time <= $5)
ORDER BY stage_id, seq
LIMIT $7 OFFSET $8;

-- The retry scheduler (services/scheduler.h), on the leader: up to $1 RETRIED tasks whose
-- retry delay is over (not_before <= now()), soonest due first, through task_not_before.
-- Each becomes claimable (ready) when its stage and job are active, and its not_before is
-- cleared either way (a task of a paused job then becomes ready on resume, like any other).
-- SKIP LOCKED: a report, heartbeat or second scheduler holding a row passes it by (it is
-- still due next time). Returns each task with its stage, job, whether it is now ready and
-- how late after its due time this made it so.
-- name: TaskPromoteDue
WITH due AS (
  SELECT id, not_before FROM task WHERE not_before <= now() ORDER BY not_before LIMIT $1 FOR UPDATE SKIP LOCKED
)
UPDATE task t SET not_before = NULL,
                  ready = t.status IN ('PENDING', 'RETRIED') AND EXISTS (
                            SELECT 1 FROM stage s JOIN job j ON j.id = s.job_id
                            WHERE s.id = t.stage_id AND s.status IN ('PENDING', 'IN_PROGRESS')
                              AND j.status IN ('PENDING', 'IN_PROGRESS'))
FROM due
WHERE t.id = due.id
RETURNING t.id::text, t.stage_id::text, t.ready, t.stage_type,
          (SELECT s.job_id::text FROM stage s WHERE s.id = t.stage_id) AS job_id,
          extract(epoch FROM now() - due.not_before)::float8 AS late_seconds;

-- In how many seconds the next waiting task is due (negative: overdue); no row when none
-- waits. One read of the first entry of task_not_before.
-- name: TaskNextDue
SELECT extract(epoch FROM not_before - now())::float8 AS due_in_seconds
FROM task WHERE not_before IS NOT NULL ORDER BY not_before LIMIT 1;

-- Re-running failed work (docs/design.md, "Re-running failed work"; RetryJob, RetryTask):
-- the FAILED tasks of stage $1 (only task $2 when it is not NULL) become PENDING with fresh
-- attempts (0), not ready (the caller then makes them ready if their stage and job are
-- active: TaskSetReadyForJob/ForStage, which notify), their claim, lease and times
-- cleared; their errors are kept. The stage's failure counter drops by as many and its
-- status becomes $3 (IN_PROGRESS, or the status it has). Each re-opened task is recorded
-- in the event log of job $4 (reason $5, actor $6). The caller holds the job's and the
-- stage's locks. Returns how many tasks were re-opened.
-- name: TaskReopenFailed
WITH reopened AS (
  UPDATE task t SET status = 'PENDING', attempts = 0, ready = false, start_time = NULL, end_time = NULL,
                    update_time = now(), claim_id = NULL, lease_expires_at = NULL, not_before = NULL
  WHERE t.stage_id = $1::uuid AND t.status = 'FAILED' AND ($2::uuid IS NULL OR t.id = $2::uuid)
  RETURNING t.id, t.seq
), counted AS (
  UPDATE stage s SET task_failed = s.task_failed - (SELECT count(*) FROM reopened), status = $3::text,
                     update_time = now()
  WHERE s.id = $1::uuid
  RETURNING s.id
), recorded AS (
  INSERT INTO job_event (job_id, time, entity, entity_id, kind, old_value, new_value, reason, actor)
  SELECT $4::uuid, now(), 'task', id, 'status', 'FAILED', 'PENDING', $5::text, $6::text FROM reopened ORDER BY seq
)
SELECT (SELECT count(*) FROM reopened) AS reopened, (SELECT count(*) FROM counted) AS stages;
