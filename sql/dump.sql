-- pg_dump keeps the user data: the tables and the position sequence are
-- registered as extension configuration (test/t/dump_restore.sh does a
-- real dump and restore).
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SELECT c::regclass::text AS config_relation, cond
FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, cond)
WHERE e.extname = 'event_sourcing'
ORDER BY 1;

-- Only the indexes the queries need: the primary key, event id, and the
-- global position (the log reads in position order).
SELECT indexrelid::regclass::text AS index, indisunique
FROM pg_index WHERE indrelid IN ('es.events'::regclass, 'es.streams'::regclass)
ORDER BY 1;
