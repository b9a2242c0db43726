-- Callers need only EXECUTE: they append and read through the functions,
-- and cannot write (or forge versions in) the tables directly.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SET client_min_messages = warning;
DROP ROLE IF EXISTS es_app;
RESET client_min_messages;
CREATE ROLE es_app;

SET ROLE es_app;
SELECT es.append('cart-1', 0, es.event('Created', '{}'));
SELECT es.append('cart-1', 1, es.event('ItemAdded', '{"sku": "A"}'));
SELECT current_user;   -- the owner's identity does not leak out of es.append
SELECT es.stream_version('cart-1');
SELECT stream_version, event_type FROM es.read_stream('cart-1');
SELECT pg_temp.try($$INSERT INTO es.events (stream_id, stream_version, event_id, event_type, data)
                     VALUES ('cart-1', 3, es.uuid_v7(), 'Forged', '{}')$$);
SELECT pg_temp.try($$UPDATE es.streams SET version = 100$$);
SELECT pg_temp.try($$DELETE FROM es.streams$$);
SELECT pg_temp.try($$SELECT count(*) FROM es.events$$);
SELECT pg_temp.try($$SELECT nextval('es.events_global_position_seq')$$);
-- Every registry has one shape: a private table es.<x>_registry and a
-- public view es.<x>, readable by every role.
SELECT r AS registry,
       has_table_privilege('es_app', 'es.' || r || '_registry', 'SELECT') AS table_readable,
       has_table_privilege('es_app', 'es.' || r, 'SELECT') AS view_readable,
       (SELECT relkind FROM pg_class WHERE oid = ('es.' || r)::regclass) AS view_kind
FROM unnest(ARRAY['reducers', 'upcasters', 'projections', 'subscriptions']) AS r;
SELECT pg_temp.try($$SELECT count(*) FROM es.reducers_registry$$);
SELECT pg_temp.try($$SELECT count(*) FROM es.reducers$$);
SELECT pg_temp.try($$SELECT count(*) FROM es.upcasters$$);
SELECT pg_temp.try($$SELECT count(*) FROM es.projections$$);
SELECT pg_temp.try($$SELECT count(*) FROM es.subscriptions$$);
-- the lag columns read es.events as the extension's owner (es.log_lag)
SELECT es.create_subscription('es_app_sub', categories => ARRAY['cart']);
SELECT name, position, events_behind, oldest_unconsumed_age IS NOT NULL AS waiting
FROM es.subscriptions;
SELECT es.drop_subscription('es_app_sub');
SELECT pg_temp.try($$SELECT * FROM es.log_lag(0, NULL, NULL)$$);
-- No table or sequence of the extension is granted to anyone.
SELECT c.relname, a.grantee::regrole, a.privilege_type
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'es'::regnamespace AND c.relkind IN ('r', 'S')
  AND a.grantee <> c.relowner;
-- conflicts are reported to the caller as usual
SELECT pg_temp.try($$SELECT es.append('cart-1', 1, es.event('ItemAdded', '{}'))$$);
RESET ROLE;

-- EXECUTE can be taken away like any other privilege.
REVOKE EXECUTE ON FUNCTION es.append(text, bigint, es.new_event[]) FROM PUBLIC;
SET ROLE es_app;
SELECT pg_temp.try($$SELECT es.append('cart-1', 2, es.event('ItemAdded', '{}'))$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION es.append(text, bigint, es.new_event[]) TO PUBLIC;

-- A hostile search_path cannot redirect the extension's own SQL: an
-- operator = that matches everything, found before pg_catalog's.
CREATE SCHEMA evil;
CREATE FUNCTION evil.always(text, text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always);
SELECT es.append('cart-2', 0, es.event('Created', '{}'));
SET search_path = evil, pg_catalog, public;
SELECT 'a'::text = 'b'::text AS hijacked_here;
SELECT count(*) AS cart_1_events FROM es.read_stream('cart-1');
SELECT es.stream_version('cart-2');
SELECT es.append('cart-2', 1, es.event('ItemAdded', '{}'));
RESET search_path;
SELECT stream_id, version FROM es.streams ORDER BY stream_id;
DROP SCHEMA evil CASCADE;
DROP ROLE es_app;
