-- claim_done.sql with 16 stage types: client c claims only type 'bench' || (c % 16),
-- so at 16 clients each client has a type (a queue) of its own, as in the
-- end-to-end benchmark's "16 stages" shape. Same counting as claim_done.sql:
-- one script execution = one claim+done pair.
\set claimed 0
\set t :client_id % 16
UPDATE bench_baseline.task SET status = 'IN_PROGRESS', start_time = now(), update_time = now()
WHERE id = (SELECT id FROM bench_baseline.task
            WHERE stage_type = 'bench' || :t AND status IN ('PENDING', 'RETRIED')
            ORDER BY priority, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, 1 AS claimed \aset
\if :claimed
UPDATE bench_baseline.task SET status = 'COMPLETED', end_time = now(), update_time = now() WHERE id = :id;
\endif
