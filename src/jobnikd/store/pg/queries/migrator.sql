-- Schema migrations (store/pg/migrator.cc), on a connection of their own, not prepared.
-- {schema} stands for the migrated schema's quoted name (an identifier cannot be a
-- parameter); the code replaces it.

-- Serialises concurrent migrators of one schema until commit. $1: "jobnik.migrate.<schema>".
-- name: MigrationLock
SELECT pg_advisory_xact_lock(hashtext($1));

-- name: MigrationCreateSchema
CREATE SCHEMA IF NOT EXISTS {schema};

-- The rest of the migration's transaction works in the migrated schema.
-- name: MigrationUseSchema
SET LOCAL search_path TO {schema};

-- The ledger of applied migrations, one row per migration file.
-- name: MigrationCreateLedger
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- Whether schema $1 has a ledger (a schema never migrated has none).
-- name: MigrationLedgerExists
SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_migrations') AS ledger;

-- The version the schema is at: its highest applied migration, 0 for none.
-- name: MigrationVersion
SELECT coalesce(max(version), 0) AS version FROM {schema}.schema_migrations;

-- name: MigrationRecord
INSERT INTO schema_migrations (version, name) VALUES ($1, $2);
