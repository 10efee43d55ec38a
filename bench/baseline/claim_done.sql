-- pgbench script: one claim + one done, two autocommit SQL transactions.
-- pgbench counts one execution of this whole script as one "transaction", so
-- pgbench's tps is already claim+done pairs per second (not tps / 2).
--
-- The claim's row lands in :id via \aset rather than \gset: \gset fails the client
-- when the UPDATE returns no row (nothing claimable, or all of it locked), while
-- \aset then assigns nothing. :claimed is reset first and set only by a returned
-- row, so an empty claim skips the done without an error. run-baseline.sh checks
-- afterwards that no claim came back empty (COMPLETED rows = script executions).
\set claimed 0
UPDATE bench_baseline.task SET status = 'IN_PROGRESS', start_time = now(), update_time = now()
WHERE id = (SELECT id FROM bench_baseline.task
            WHERE stage_type = 'bench' AND status IN ('PENDING', 'RETRIED')
            ORDER BY priority, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, 1 AS claimed \aset
\if :claimed
UPDATE bench_baseline.task SET status = 'COMPLETED', end_time = now(), update_time = now() WHERE id = :id;
\endif
