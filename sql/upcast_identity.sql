-- Whom upcaster functions run as: the role that created the step, with the
-- settings captured then, as a restricted operation -- never as the reader.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

CREATE ROLE es_id_alice;
CREATE ROLE es_id_mallory;
CREATE SCHEMA app AUTHORIZATION es_id_alice;
CREATE SCHEMA evil AUTHORIZATION es_id_mallory;
GRANT EXECUTE ON FUNCTION es.create_upcaster(text, integer, jsonb, regprocedure)
    TO es_id_alice;

------------------------------------------------------------------------
-- A reader's settings do not change what an upcaster computes
------------------------------------------------------------------------
-- alice's upcaster calls an unqualified helper and an unqualified
-- operator, and prints a timestamp, an interval and a float: everything a
-- reader's search_path, TimeZone, DateStyle, IntervalStyle and
-- extra_float_digits could change.
SET ROLE es_id_alice;
CREATE FUNCTION app.label(n numeric) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'n=' || n $$;
CREATE FUNCTION app.measured_v2(data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN data || jsonb_build_object(
        'label', label((data->>'n')::numeric),
        'at', ('2024-01-01 12:00:00+00'::timestamptz)::text,
        'every', ('1 day 02:03:04'::interval)::text,
        'third', (1::float8 / 3)::text,
        'by', current_user::text);
END $$;
SET search_path = app, public;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SELECT es.create_upcaster('Measured', 1, fn => 'app.measured_v2(jsonb)');
RESET ALL;
RESET ROLE;
-- the view shows whom it runs as and with which settings (pg_temp last)
SELECT event_type, kind, fn, owner, settings FROM es.upcasters;

SELECT es.append('m-1', 0, es.event('Measured', '{"n": 7}', schema_version => 1));
-- read by its creator's rules, as the superuser with default settings
SELECT data FROM es.read_stream('m-1');

-- mallory shadows the helper and the operator in her own schema, puts it
-- first (before pg_catalog), and changes every captured setting.
SET ROLE es_id_mallory;
CREATE FUNCTION evil.label(n numeric) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'shadowed' $$;
CREATE FUNCTION evil.cat(a jsonb, b jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT '{"hijacked": true}'::jsonb $$;
CREATE OPERATOR evil.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = evil.cat);
SET search_path = evil, pg_catalog, app, public;
SET TimeZone = 'Asia/Kathmandu';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'iso_8601';
SET extra_float_digits = -10;
-- (the shadows work in her own queries)
SELECT label(1), '{}'::jsonb || '{}'::jsonb AS cat, '2024-01-01 12:00:00+00'::timestamptz;
-- the same data on every read path
SELECT data FROM es.read_stream('m-1');
SELECT data FROM es.read_all(0, event_types => '{Measured}');
SELECT data FROM es.upcast('Measured', 1, '{"n": 7}');
RESET ALL;
RESET ROLE;

-- A superuser reader with hostile settings gets the same too.
SET search_path = evil, pg_catalog, app, public;
SET TimeZone = 'America/St_Johns';
SET DateStyle = 'German';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = 3;
SELECT data FROM es.read_stream('m-1');
RESET ALL;

-- A temporary table cannot shadow what the upcaster reads: the captured
-- search_path has pg_temp last.  (A reader whose search_path is the
-- captured one without that pg_temp gets the captured one applied as soon
-- as the session has a temporary schema.)
SET ROLE es_id_alice;
SET search_path = app, public;
CREATE TABLE app.rates (rate numeric);
INSERT INTO app.rates VALUES (2);
CREATE FUNCTION app.rated_v2(data jsonb) RETURNS jsonb LANGUAGE sql STABLE
    AS $$ SELECT data || jsonb_build_object('rate', (SELECT rate FROM rates)) $$;
SELECT es.create_upcaster('Rated', 1, fn => 'app.rated_v2(jsonb)');
RESET search_path;
RESET ROLE;
SET ROLE es_id_mallory;
SET search_path = app, public;
SELECT data FROM es.upcast('Rated', 1, '{}');
CREATE TEMP TABLE rates (rate numeric);
INSERT INTO rates VALUES (666);
GRANT SELECT ON rates TO PUBLIC;
SELECT data FROM es.upcast('Rated', 1, '{}');
RESET search_path;
SELECT data FROM es.upcast('Rated', 1, '{}');
DROP TABLE rates;
RESET ROLE;

------------------------------------------------------------------------
-- An upcaster never runs with the reader's rights
------------------------------------------------------------------------
CREATE TABLE public.secret (s text);
INSERT INTO public.secret VALUES ('top secret');
REVOKE ALL ON public.secret FROM PUBLIC;
SET ROLE es_id_alice;
CREATE FUNCTION app.peek_v2(data jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT data || jsonb_build_object('secret', (SELECT s FROM public.secret)) $$;
SELECT es.create_upcaster('Peeked', 1, fn => 'app.peek_v2(jsonb)');
RESET ROLE;
SELECT es.append('p-1', 0, es.event('Peeked', '{}', schema_version => 1));
-- a superuser reads: alice's code still runs as alice
SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
SELECT pg_temp.try($$SELECT data FROM es.read_stream('p-1')$$);
SELECT pg_temp.try($$SELECT data FROM es.upcast('Peeked', 1, '{}')$$);
SELECT pg_temp.try($$SELECT data FROM es.read_all(0, event_types => '{Peeked}')$$);
-- once alice may read the table, every reader sees what alice sees
GRANT SELECT ON public.secret TO es_id_alice;
SELECT data FROM es.read_stream('p-1');
REVOKE SELECT ON public.secret FROM es_id_alice;

-- ... and as a restricted operation: no effect that outlives the
-- transaction (temporary tables, cursors WITH HOLD, SET ROLE)
SET ROLE es_id_alice;
CREATE FUNCTION app.temp_v2(data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE leftover (x int);
    RETURN data;
END $$;
SELECT es.create_upcaster('Tempting', 1, fn => 'app.temp_v2(jsonb)');
RESET ROLE;
SELECT pg_temp.try($$SELECT data FROM es.upcast('Tempting', 1, '{}')$$);

------------------------------------------------------------------------
-- EXECUTE: the creator's privilege counts, not the reader's
------------------------------------------------------------------------
CREATE FUNCTION public.shared_v2(data jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT data || '{"shared": true}' $$;
REVOKE ALL ON FUNCTION public.shared_v2(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.shared_v2(jsonb) TO es_id_alice;
SET ROLE es_id_alice;
SELECT es.create_upcaster('Shared', 1, fn => 'public.shared_v2(jsonb)');
RESET ROLE;
-- mallory may not execute it, but reads through it
SET ROLE es_id_mallory;
SELECT data FROM es.upcast('Shared', 1, '{}');
RESET ROLE;
-- alice loses the privilege: every reader, superusers included, is refused
REVOKE EXECUTE ON FUNCTION public.shared_v2(jsonb) FROM es_id_alice;
SELECT pg_temp.try($$SELECT data FROM es.upcast('Shared', 1, '{}')$$);
GRANT EXECUTE ON FUNCTION public.shared_v2(jsonb) TO es_id_alice;
SELECT data FROM es.upcast('Shared', 1, '{}');

-- A step written by hand, without an owner, runs as the extension's owner
-- with the settings of whoever wrote it.
SET search_path = app, public;
INSERT INTO es.upcasters_registry (event_type, from_version, fn)
    VALUES ('ByHand', 1, 'app.measured_v2');
RESET search_path;
SELECT event_type, owner, settings FROM es.upcasters WHERE event_type = 'ByHand';
SET ROLE es_id_mallory;
SET search_path = evil, pg_catalog;
SELECT data->>'by' AS by, data->>'label' AS label FROM es.upcast('ByHand', 1, '{"n": 1}');
RESET ALL;
RESET ROLE;

DROP EXTENSION event_sourcing;
DROP SCHEMA app CASCADE;
DROP SCHEMA evil CASCADE;
DROP TABLE public.secret;
DROP FUNCTION public.shared_v2(jsonb);
DROP ROLE es_id_alice;
DROP ROLE es_id_mallory;
