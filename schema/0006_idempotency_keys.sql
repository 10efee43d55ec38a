-- 0006: idempotency keys (docs/design.md, "Idempotency keys"; store/idempotency.h).
--
-- One row per (scope, key) of a request sent with an Idempotency-Key header:
--  * scope: the caller ('' until requests are authenticated), so callers never see each
--    other's answers; key: the header's value.
--  * fingerprint: SHA-256 (hex) of the request (method, path, query, body): a later request with
--    the key and another fingerprint is refused (422 IDEMPOTENCY_KEY_REUSED).
--  * While the first request runs, status is NULL and locked_until says how long it owns
--    the key; its answer (status, body) is stored when it ends. A request that failed on
--    the server's side (5xx) deletes its row instead, so a retry does the work.
--  * created_at: keys older than the retention are deleted in batches by the sweeper's
--    leader, through the created_at index; until then they count as absent.
CREATE TABLE idempotency_key (
  scope        text        NOT NULL,
  key          text        NOT NULL,
  fingerprint  text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  status       smallint,
  body         text,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_key_created_at ON idempotency_key (created_at);
