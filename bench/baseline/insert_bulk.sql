-- pgbench script: one transaction inserting 1000 PENDING task rows (data {"i":N}
-- parsed as jsonb text, as a client's rows would be). Run with -t 100 from one
-- client: 100,000 rows. rows/s = pgbench tps * 1000.
INSERT INTO bench_baseline.task (stage_id, stage_type, priority, status, data)
SELECT '6f1c1d7e-7a35-4f3e-9d55-0c5b7f1a2b3c'::uuid, 'bench', 3, 'PENDING', ('{"i":' || g || '}')::jsonb
FROM generate_series(1, 1000) AS g;
