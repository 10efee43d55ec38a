-- 0011: bearer tokens (extension; docs/operations.md, "Security").
--
-- A token is shown once, when `jobnikd token create` makes it; only its SHA-256 is kept
-- (a token is 256 random bits, so a fast hash is enough: there is nothing to guess).
--  * name: what the access log and job events call the caller; unique among the tokens
--    that are not revoked, so a name can be reused after its token was revoked
--    (rotation: create the new one under another name, move clients, revoke the old).
--  * role: admin, producer, worker or reader (lib/domain/access.h).
--  * expires_at: NULL for never; revoked_at: set by `jobnikd token revoke`. Revoked rows
--    stay, so that `token list --all` still shows who had access.
-- Every change notifies 'jobnik_tokens' (payload: the schema) so that each jobnikd
-- reloads its copy of the active tokens at once (http/auth.h).
CREATE TABLE api_token (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text        NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
  role        text        NOT NULL CHECK (role IN ('admin', 'producer', 'worker', 'reader')),
  hash        text        NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  revoked_at  timestamptz
);
CREATE UNIQUE INDEX api_token_active_name ON api_token (name) WHERE revoked_at IS NULL;
