-- Who may register, drop and rebuild projections, and as whom handlers run.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

SET client_min_messages = warning;
DROP ROLE IF EXISTS es_modeler;
DROP ROLE IF EXISTS es_intruder;
DROP ROLE IF EXISTS es_writer;
RESET client_min_messages;
CREATE ROLE es_modeler;
CREATE ROLE es_intruder;
CREATE ROLE es_writer;
CREATE SCHEMA model AUTHORIZATION es_modeler;

-- A handler runs as every role that appends: registering one is not
-- granted to PUBLIC.
SET ROLE es_modeler;
CREATE TABLE model.writes (event text, by_role name, path text);
CREATE FUNCTION model.record(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO writes VALUES (e.event_type, current_user, current_setting('search_path'));
END $$;
SELECT pg_temp.try($$SELECT es.create_projection('writes', 'model.record(es.events)', tables => '{model.writes}')$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]),
                          es.drop_projection(text), es.rebuild_projection(text)
    TO es_modeler, es_intruder;

-- The creator back-fills as itself, with its own search_path.
SELECT es.append('w-1', 0, es.event('Before', '{}'));
SET ROLE es_modeler;
SET search_path = model;
SELECT es.create_projection('writes', 'model.record(es.events)', tables => '{model.writes}');
RESET search_path;
SELECT * FROM model.writes;
-- the registry itself is not readable, its view is
SELECT pg_temp.try($$SELECT * FROM es.projections_registry$$);
SELECT name, owner FROM es.projections;
RESET ROLE;

-- Appenders run the handler as themselves, with their search_path: without
-- the privileges the handler needs, the append fails and stores nothing.
SET ROLE es_writer;
SET search_path = model, public;
SELECT pg_temp.try($$SELECT es.append('w-1', 1, es.event('Denied', '{}'))$$);
SELECT es.stream_version('w-1');
RESET ROLE;
GRANT USAGE ON SCHEMA model TO es_writer;
GRANT INSERT ON model.writes TO es_writer;
SET ROLE es_writer;
SELECT es.append('w-1', 1, es.event('Allowed', '{}'));
SELECT current_user;   -- the owner's identity does not leak out
RESET ROLE;
RESET search_path;
SELECT * FROM model.writes ORDER BY event;

-- Only the projection's owner (its members, superusers) may drop or
-- rebuild it.
SET ROLE es_intruder;
SELECT pg_temp.try($$SELECT es.drop_projection('writes')$$);
SELECT pg_temp.try($$SELECT es.rebuild_projection('writes')$$);
RESET ROLE;
GRANT es_modeler TO es_intruder;
SET ROLE es_intruder;
SET search_path = model;
SELECT es.rebuild_projection('writes');
RESET search_path;
RESET ROLE;
REVOKE es_modeler FROM es_intruder;
-- the rebuild replayed as its caller
SELECT * FROM model.writes ORDER BY event;
-- a superuser may
SET search_path = model;
SELECT es.rebuild_projection('writes');
RESET search_path;
SELECT * FROM model.writes ORDER BY event;
SET ROLE es_modeler;
SELECT es.drop_projection('writes');
RESET ROLE;

-- The rebuild empties the tables as its caller: a caller that may write
-- a table but not TRUNCATE it gets PostgreSQL's own error, and nothing
-- changes.
CREATE TABLE public.shared_counts (n int);
GRANT INSERT ON public.shared_counts TO es_modeler;
SET ROLE es_modeler;
CREATE FUNCTION model.bump(e es.events) RETURNS void LANGUAGE sql
    AS 'INSERT INTO public.shared_counts VALUES (1)';
SELECT es.create_projection('counts', 'model.bump(es.events)', tables => '{public.shared_counts}');
SELECT pg_temp.try($$SELECT es.rebuild_projection('counts')$$);
RESET ROLE;
SELECT count(*) FROM public.shared_counts;
SELECT es.rebuild_projection('counts');
SELECT count(*) FROM public.shared_counts;
SELECT es.drop_projection('counts');

DROP SCHEMA model CASCADE;
DROP TABLE public.shared_counts;
REVOKE ALL ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]),
                       es.drop_projection(text), es.rebuild_projection(text)
    FROM es_modeler, es_intruder;
DROP ROLE es_modeler;
DROP ROLE es_intruder;
DROP ROLE es_writer;
