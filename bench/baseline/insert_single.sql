-- pgbench script: one autocommit transaction inserting one PENDING task row.
-- rows/s = pgbench tps.
\set i random(1, 1000000000)
INSERT INTO bench_baseline.task (stage_id, stage_type, priority, status, data)
VALUES ('6f1c1d7e-7a35-4f3e-9d55-0c5b7f1a2b3c', 'bench', 3, 'PENDING', ('{"i":' || :i || '}')::jsonb);
