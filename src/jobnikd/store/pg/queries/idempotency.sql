-- Idempotency keys (schema/0006, store/pg/idempotency.cc). Parameters $1, $2: scope, key.

-- A first request with the key: records it as running for $4 seconds. No row when the key
-- exists (committed, or being inserted by a concurrent request: this waits for it).
-- name: IdempotencyInsert
INSERT INTO idempotency_key (scope, key, fingerprint, locked_until)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
ON CONFLICT (scope, key) DO NOTHING
RETURNING true AS started;

-- The existing key, locked for the rest of Begin's transaction. expired: older than the
-- retention ($3 seconds), as good as absent; abandoned: still running past its hold.
-- name: IdempotencyLookup
SELECT fingerprint, status, body,
       created_at < now() - make_interval(secs => $3) AS expired,
       status IS NULL AND locked_until < now() AS abandoned
FROM idempotency_key
WHERE scope = $1 AND key = $2
FOR UPDATE;

-- Begin over an expired or abandoned key: it starts again with this request ($3
-- fingerprint, held for $4 seconds).
-- name: IdempotencyRestart
UPDATE idempotency_key
SET fingerprint = $3, created_at = now(), locked_until = now() + make_interval(secs => $4),
    status = NULL, body = NULL
WHERE scope = $1 AND key = $2;

-- The first request's answer ($3 status, $4 body).
-- name: IdempotencyFinish
UPDATE idempotency_key
SET status = $3, body = $4, locked_until = NULL
WHERE scope = $1 AND key = $2 AND status IS NULL;

-- The first request failed on the server's side: forget the key.
-- name: IdempotencyAbandon
DELETE FROM idempotency_key
WHERE scope = $1 AND key = $2 AND status IS NULL;

-- Up to $2 keys older than the retention ($1 seconds), oldest first (the created_at index).
-- name: IdempotencyDeleteExpired
DELETE FROM idempotency_key k
USING (
  SELECT scope, key FROM idempotency_key
  WHERE created_at < now() - make_interval(secs => $1)
  ORDER BY created_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
) old
WHERE k.scope = old.scope AND k.key = old.key;
