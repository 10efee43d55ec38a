-- Leadership among the jobnikd instances on one database (store/pg/leadership.cc), on a
-- dedicated connection of its own: a session-level advisory lock per role and schema. It
-- is held as long as that session lives, so it moves to another instance as soon as the
-- leader's connection goes away (the leader died or lost the database).

-- Takes the lock if no other session holds it. $1: "jobnik.<role>.<schema>".
-- name: LeadershipTryLock
SELECT pg_try_advisory_lock(hashtext($1)) AS leader;

-- The leader's session still answers: the lock lives with it.
-- name: LeadershipCheck
SELECT 1 AS alive;
