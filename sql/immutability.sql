-- es.events is append-only for every role, superusers included.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SELECT es.append('s-1', 0, es.event('Created', '{"v": 1}'));

SELECT current_setting('is_superuser') AS superuser;
SELECT pg_temp.try($$UPDATE es.events SET data = '{"v": 2}'$$);
SELECT pg_temp.try($$UPDATE es.events SET data = '{"v": 2}' WHERE false$$);
SELECT pg_temp.try($$DELETE FROM es.events$$);
SELECT pg_temp.try($$TRUNCATE es.events$$);
SELECT pg_temp.try($$TRUNCATE es.events CASCADE$$);
SELECT pg_temp.try($$INSERT INTO es.events (stream_id, stream_version, event_id, event_type, data)
                     VALUES ('s-1', 1, es.uuid_v7(), 'Forged', '{}')
                     ON CONFLICT (stream_id, stream_version) DO UPDATE SET data = '{"v": 3}'$$);
SELECT stream_version, data FROM es.events;

-- The trigger function refuses to be misused.
SELECT pg_temp.try($$SELECT es.refuse_change()$$);
CREATE TABLE scratch (x int);
CREATE TRIGGER t AFTER INSERT ON scratch FOR EACH ROW EXECUTE FUNCTION es.refuse_change();
SELECT pg_temp.try($$INSERT INTO scratch VALUES (1)$$);
DROP TABLE scratch;

-- The triggers fire with session_replication_role = replica too (they are
-- ENABLE ALWAYS): only ALTER TABLE ... DISABLE TRIGGER gets past them.
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'es.events'::regclass AND tgfoid = 'es.refuse_change'::regproc ORDER BY tgname;
SET session_replication_role = replica;
SELECT pg_temp.try($$UPDATE es.events SET data = '{"v": 2}'$$);
SELECT pg_temp.try($$DELETE FROM es.events$$);
SELECT pg_temp.try($$TRUNCATE es.events$$);
RESET session_replication_role;
SELECT stream_version, data FROM es.events;
