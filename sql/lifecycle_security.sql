-- Who may delete, tombstone and truncate streams: not PUBLIC (they hide
-- events for good once purged); a role granted EXECUTE, whose name the
-- lifecycle event records.  The operations run as the store's owner and
-- leak nothing of it.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SET client_min_messages = warning;
DROP ROLE IF EXISTS es_clerk;
RESET client_min_messages;
CREATE ROLE es_clerk;

SELECT p.oid::regprocedure AS function, has_function_privilege('es_clerk', p.oid, 'EXECUTE') AS clerk
FROM pg_proc p
WHERE p.pronamespace = 'es'::regnamespace
  AND p.proname IN ('delete_stream', 'tombstone_stream', 'truncate_stream', 'create_retention',
                    'drop_retention', 'purge', 'refuse_tombstoned')
ORDER BY 1::text;

SET ROLE es_clerk;
SELECT es.append('doc-1', 0, es.event('Written', '{}'), es.event('Edited', '{}'));
SELECT pg_temp.try($$SELECT es.delete_stream('doc-1')$$);
SELECT pg_temp.try($$SELECT es.tombstone_stream('doc-1')$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('doc-1', 2)$$);
SELECT pg_temp.try($$CALL es.purge()$$);
-- the companion streams cannot be written directly, nor the rows forged
SELECT pg_temp.try($$SELECT es.append('$doc-1', NULL, es.event('Opened', '{}'))$$);
SELECT pg_temp.try($$UPDATE es.streams SET tombstoned = false$$);
SELECT pg_temp.try($$UPDATE es.streams SET hidden_through = 0$$);
RESET ROLE;

GRANT EXECUTE ON FUNCTION es.delete_stream(text, bigint), es.tombstone_stream(text, bigint),
                          es.truncate_stream(text, bigint) TO es_clerk;
SET ROLE es_clerk;
SELECT es.truncate_stream('doc-1', 2);
SELECT es.delete_stream('doc-1', 2);
SELECT es.append('doc-2', 0, es.event('Written', '{}'));
SELECT es.tombstone_stream('doc-2', 1);
SELECT current_user;
SELECT pg_temp.try($$SELECT es.append('doc-2', 1, es.event('Edited', '{}'))$$);
RESET ROLE;
-- the lifecycle events name the role that asked
SELECT stream_id, stream_version, event_type, data, metadata
FROM es.events WHERE stream_id LIKE '$%' ORDER BY global_position;

-- Even the store's owner cannot untombstone a stream by hand: the row's
-- trigger refuses any change (only ALTER TABLE ... DISABLE TRIGGER would
-- get past it, as for the immutability triggers).
SELECT pg_temp.try($$UPDATE es.streams SET tombstoned = false WHERE stream_id = 'doc-2'$$);
SET session_replication_role = replica;
SELECT pg_temp.try($$UPDATE es.streams SET tombstoned = false WHERE stream_id = 'doc-2'$$);
RESET session_replication_role;

REVOKE ALL ON FUNCTION es.delete_stream(text, bigint), es.tombstone_stream(text, bigint),
                       es.truncate_stream(text, bigint) FROM es_clerk;
DROP ROLE es_clerk;
