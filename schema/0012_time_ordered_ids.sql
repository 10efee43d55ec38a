-- 0012: time-ordered ids for jobs, stages and tasks (docs/design.md, "Ids").
--
-- new_id() makes a UUID of version 7 (RFC 9562): the first 48 bits are the Unix time in
-- milliseconds, the version and variant bits as the RFC says, the other 74 bits random (from
-- gen_random_uuid()). Random (version 4) ids put every insert, and every update that is not
-- HOT (each claim and report of a task: its status is indexed), on a random leaf page of the
-- primary key: in a table with a long history, each such page is read and, after every
-- checkpoint, written whole to the WAL. Ids made in time order keep the rows that are being
-- worked on together at the right-hand end of the index. They are still UUIDs in the v1
-- format; nothing may read meaning into them. Claim tokens stay random (version 4).
CREATE FUNCTION new_id() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
           set_bit(set_bit(
             overlay(uuid_send(gen_random_uuid())
                     PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                     FROM 1 FOR 6),
             52, 1), 53, 1),
           'hex')::uuid
$$;
