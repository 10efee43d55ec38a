-- Private schema for the PostgreSQL baseline (bench/baseline/run-baseline.sh).
-- The task table has the shape of the project's task table (schema/0001_init.sql)
-- minus the foreign key, the CHECK constraints and the other indexes: only the
-- claim index that dequeue reads.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_baseline CASCADE;
CREATE SCHEMA bench_baseline;
CREATE TABLE bench_baseline.task (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  stage_id uuid NOT NULL,
  stage_type text NOT NULL,
  priority smallint NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  status text NOT NULL,
  data jsonb NOT NULL,
  user_metadata jsonb NOT NULL DEFAULT '{}',
  attempts int NOT NULL DEFAULT 0,
  max_attempts int NOT NULL DEFAULT 1,
  creation_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now(),
  start_time timestamptz, end_time timestamptz,
  traceparent text NOT NULL DEFAULT '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate text);
CREATE INDEX task_claim ON bench_baseline.task (stage_type, priority, seq) WHERE status IN ('PENDING','RETRIED');
