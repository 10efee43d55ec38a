-- Bearer tokens (schema/0011, store/pg/tokens.cc). Each change also runs TokenNotify in
-- its transaction, so that every jobnikd reloads its copy when it commits.

-- name: TokenInsert
INSERT INTO api_token (name, role, hash, expires_at) VALUES ($1, $2, $3, $4::timestamptz)
RETURNING name, role, created_at, expires_at, revoked_at;

-- name: TokenList
SELECT name, role, created_at, expires_at, revoked_at FROM api_token
WHERE $1::boolean OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))
ORDER BY name, id;

-- name: TokenRevoke
UPDATE api_token SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
RETURNING name;

-- The tokens that may be used now (each jobnikd keeps a copy).
-- name: TokenActive
SELECT hash, name, role, expires_at FROM api_token
WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());

-- name: TokenNotify
SELECT pg_notify('jobnik_tokens', current_schema());

-- Whether an unrevoked token is named $1 (a new one may not take its name).
-- name: TokenNameTaken
SELECT 1 FROM api_token WHERE name = $1 AND revoked_at IS NULL;
