-- Who may register, drop and rebuild projections, and as whom handlers
-- run: always as the projection's registrant, with the settings captured
-- when it was created, whoever appends, rebuilds or runs the catch-up.
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
DROP ROLE IF EXISTS es_other;
DROP ROLE IF EXISTS es_gone;
RESET client_min_messages;
CREATE ROLE es_modeler;
CREATE ROLE es_intruder;
CREATE ROLE es_writer;
CREATE ROLE es_other;
CREATE ROLE es_gone;
CREATE SCHEMA model AUTHORIZATION es_modeler;
CREATE SCHEMA evil AUTHORIZATION es_writer;

-- A handler runs implicitly whenever an event it handles is appended:
-- registering one is not granted to PUBLIC.
SET ROLE es_modeler;
CREATE TABLE model.writes (event text, by_role name, path text, zone text,
                           occurred text, label text);
CREATE FUNCTION model.label(t text) RETURNS text LANGUAGE sql AS $$ SELECT 'model:' || t $$;
-- names its table and a function unqualified, renders a timestamp
CREATE FUNCTION model.record(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO writes VALUES (e.event_type, current_user, current_setting('search_path'),
                               current_setting('TimeZone'), e.occurred_at::text,
                               label(e.event_type));
END $$;
SELECT pg_temp.try($$SELECT es.create_projection('writes', 'model.record(es.events)', tables => '{model.writes}')$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]),
                          es.drop_projection(text), es.rebuild_projection(text),
                          es.run_projections(integer)
    TO es_modeler, es_intruder, es_other, es_gone;

-- Creation captures the creator's settings (search_path with pg_temp
-- last); the back-fill already runs as the creator with them.
SELECT es.append('w-1', 0, es.event('Before', '{}', occurred_at => '2024-01-01 12:00:00+00'));
SET ROLE es_modeler;
SET search_path = model;
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'ISO, YMD';
SELECT es.create_projection('writes', 'model.record(es.events)', tables => '{model.writes}');
RESET search_path;
RESET TimeZone;
RESET DateStyle;
SELECT * FROM model.writes;
-- the registry itself is not readable, its view is: owner, handler and
-- settings of every projection, for every role
SELECT pg_temp.try($$SELECT * FROM es.projections_registry$$);
RESET ROLE;
SET ROLE es_writer;
SELECT name, handler, owner, settings FROM es.projections;
RESET ROLE;

-- An appender without any privilege on the read model (no USAGE on its
-- schema, no INSERT on its table) feeds it: the handler runs as the
-- registrant.  The appender's search_path (with a function shadowing the
-- one the handler calls), TimeZone and DateStyle change nothing.
SET ROLE es_writer;
CREATE FUNCTION evil.label(t text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION evil.writes() RETURNS void LANGUAGE sql AS 'SELECT';
SET search_path = evil, model, public;
SET TimeZone = 'Pacific/Kiritimati';
SET DateStyle = 'SQL, DMY';
SELECT es.append('w-1', 1, es.event('Appended', '{}', occurred_at => '2024-01-01 12:00:00+00'));
SELECT current_user, current_setting('search_path') AS path,
       current_setting('TimeZone') AS zone;   -- nothing leaks out either
SELECT pg_temp.try($$SELECT * FROM model.writes$$);
RESET search_path;
RESET TimeZone;
RESET DateStyle;
RESET ROLE;
SELECT * FROM model.writes ORDER BY event;

-- The handler cannot change identity: it runs as a SECURITY DEFINER
-- function does.
SET ROLE es_modeler;
CREATE FUNCTION model.escape(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET ROLE postgres;
END $$;
SELECT es.create_projection('escape', 'model.escape(es.events)', event_types => '{Escape}');
RESET ROLE;
SELECT pg_temp.try($$SELECT es.append('w-2', NULL, es.event('Escape', '{}'))$$);
SET ROLE es_modeler;
SELECT es.drop_projection('escape');
RESET ROLE;

-- Only the projection's owner (its members, superusers) may drop or
-- rebuild it.
SET ROLE es_intruder;
SELECT pg_temp.try($$SELECT es.drop_projection('writes')$$);
SELECT pg_temp.try($$SELECT es.rebuild_projection('writes')$$);
RESET ROLE;
-- a member may; the rebuild replays as the registrant, with its settings
GRANT es_modeler TO es_intruder;
SET ROLE es_intruder;
SET TimeZone = 'Pacific/Kiritimati';
SELECT es.rebuild_projection('writes');
RESET TimeZone;
RESET ROLE;
REVOKE es_modeler FROM es_intruder;
SELECT * FROM model.writes ORDER BY event;
-- a superuser may; the handler still runs as the registrant
SELECT es.rebuild_projection('writes');
SELECT * FROM model.writes ORDER BY event;

-- Tables: only tables the registrant owns, never a system table or an
-- extension's table, even for a superuser (42501).
CREATE TABLE public.shared_counts (n int);
GRANT ALL ON public.shared_counts TO es_modeler;
SET ROLE es_modeler;
CREATE FUNCTION model.bump(e es.events) RETURNS void LANGUAGE sql
    AS 'INSERT INTO public.shared_counts VALUES (1)';
SELECT pg_temp.try($$SELECT es.create_projection('counts', 'model.bump(es.events)', tables => '{public.shared_counts}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('counts', 'model.bump(es.events)', tables => '{pg_catalog.pg_class}')$$);
RESET ROLE;
SELECT pg_temp.try($$SELECT es.create_projection('counts', 'model.bump(es.events)', tables => '{pg_catalog.pg_authid}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('counts', 'model.bump(es.events)', tables => '{information_schema.sql_features}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('counts', 'model.bump(es.events)', tables => '{es.events}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('counts', 'model.bump(es.events)', tables => '{es.projections_registry}')$$);
SELECT count(*) FROM es.projections WHERE name = 'counts';
-- a member of the table's owner may list it
GRANT es_modeler TO es_intruder;
SET ROLE es_intruder;
SELECT es.create_projection('by-member', 'model.bump(es.events)', event_types => '{Never}',
                            tables => '{model.writes}');
SELECT es.drop_projection('by-member');
RESET ROLE;
REVOKE es_modeler FROM es_intruder;

-- A table given away after creation: appends of the projection's types
-- fail, naming it (the trigger locks its tables as the registrant, after
-- checking it still owns them), and a rebuild, even a superuser's, does
-- not empty it.
ALTER TABLE model.writes OWNER TO postgres;
SELECT pg_temp.try($$SELECT es.append('w-3', NULL, es.event('Appended', '{}'))$$);
SELECT pg_temp.try($$SELECT es.rebuild_projection('writes')$$);
SELECT count(*) AS still_there FROM model.writes;
ALTER TABLE model.writes OWNER TO es_modeler;
SELECT es.append('w-3', NULL, es.event('Appended', '{}', occurred_at => '2024-01-01 12:00:00+00'));

-- The rebuild empties the tables as the registrant: a table the registrant
-- could list but not empty (a TRUNCATE trigger refuses it) stays full.
SET ROLE es_modeler;
CREATE TABLE model.kept (n int);
CREATE FUNCTION model.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = 'es_modeler' THEN
        RAISE EXCEPTION 'es_modeler may not truncate %', TG_TABLE_NAME USING ERRCODE = '42501';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER refuse BEFORE TRUNCATE ON model.kept FOR EACH STATEMENT EXECUTE FUNCTION model.refuse();
CREATE FUNCTION model.keep(e es.events) RETURNS void LANGUAGE sql AS 'INSERT INTO model.kept VALUES (1)';
SELECT es.create_projection('kept', 'model.keep(es.events)', event_types => '{Kept}', tables => '{model.kept}');
RESET ROLE;
SELECT es.append('k-1', NULL, es.event('Kept', '{}'));
SELECT pg_temp.try($$SELECT es.rebuild_projection('kept')$$);
SELECT count(*) AS kept FROM model.kept;
SET ROLE es_modeler;
SELECT es.drop_projection('kept');
RESET ROLE;

-- Async projections: es.run_projections run by a superuser (a scheduler)
-- runs each role's handler as that role.  A handler of an unprivileged
-- role cannot read a superuser-only table even then: its projection stops
-- with the error recorded; es_other's projection runs as es_other.
CREATE TABLE public.secret (s text);
INSERT INTO public.secret VALUES ('only for superusers');
CREATE SCHEMA other AUTHORIZATION es_other;
SET ROLE es_modeler;
CREATE TABLE model.peeked (s text);
CREATE FUNCTION model.peek(e es.events) RETURNS void LANGUAGE sql
    AS 'INSERT INTO model.peeked SELECT s FROM public.secret';
SELECT es.create_projection('peek', 'model.peek(es.events)', event_types => '{Peek}',
                            async => true, tables => '{model.peeked}');
RESET ROLE;
SET ROLE es_other;
CREATE TABLE other.runs (by_role name, what text);
CREATE FUNCTION other.note(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO other.runs VALUES (current_user, 'zone ' || current_setting('TimeZone')) $$;
SET TimeZone = 'Europe/Paris';
SELECT es.create_projection('note', 'other.note(es.events)', event_types => '{Peek}',
                            async => true, tables => '{other.runs}');
RESET TimeZone;
RESET ROLE;
SELECT es.append('p-1', NULL, es.event('Peek', '{}'));
SELECT es.run_projections();
SELECT count(*) AS leaked FROM model.peeked;
SELECT name, error_sqlstate, error_message FROM es.projections WHERE name IN ('peek', 'note') ORDER BY name;
SELECT * FROM other.runs;
-- a role's run applies only its own projections, as themselves
SET ROLE es_other;
SELECT es.append('p-1', NULL, es.event('Peek', '{}'));
SELECT es.run_projections();
RESET ROLE;
SELECT * FROM other.runs;

-- Nested calls: inside a SECURITY DEFINER function of es_intruder called
-- by a superuser, es.append runs es_other's handler as es_other (not as
-- the superuser, not as es_intruder), and the privilege checks of es.*
-- calls use es_intruder, the identity current at the call.
SET ROLE es_other;
CREATE FUNCTION other.audit(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO other.runs VALUES (current_user, e.event_type);
    BEGIN
        PERFORM es.drop_projection('writes');
    EXCEPTION WHEN insufficient_privilege THEN
        INSERT INTO other.runs VALUES (current_user, 'may not drop writes');
    END;
END $$;
SELECT es.create_projection('audit', 'other.audit(es.events)', event_types => '{Audited}',
                            tables => '{other.runs}');
RESET ROLE;
CREATE SCHEMA relay AUTHORIZATION es_intruder;
SET ROLE es_intruder;
CREATE FUNCTION relay.relay() RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM es.append('nested-1', NULL, es.event('Audited', '{}'));
    BEGIN
        PERFORM es.rebuild_projection('writes');
        RETURN 'rebuilt as ' || current_user;
    EXCEPTION WHEN insufficient_privilege THEN
        RETURN 'refused as ' || current_user || ': ' || SQLERRM;
    END;
END $$;
RESET ROLE;
SELECT relay.relay();
SELECT * FROM other.runs WHERE what IN ('Audited', 'may not drop writes');
SELECT name FROM es.projections WHERE name = 'writes';

-- A registrant that no longer exists: its projection fails cleanly, naming
-- itself, and only for the event types it handles.
CREATE FUNCTION public.noop(e es.events) RETURNS void LANGUAGE sql AS 'SELECT';
SET ROLE es_gone;
SELECT es.create_projection('orphan', 'public.noop(es.events)', event_types => '{Orphaned}');
RESET ROLE;
REVOKE ALL ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]),
                       es.drop_projection(text), es.rebuild_projection(text),
                       es.run_projections(integer)
    FROM es_gone;
DROP ROLE es_gone;
SELECT pg_temp.try($$SELECT es.append('o-1', NULL, es.event('Orphaned', '{}'))$$);
SELECT es.append('o-1', NULL, es.event('Adopted', '{}'));
SELECT es.drop_projection('orphan');

SET client_min_messages = warning;
SELECT es.drop_projection(name) FROM es.projections;
DROP SCHEMA model, evil, other, relay CASCADE;
DROP TABLE public.shared_counts, public.secret;
DROP FUNCTION public.noop(es.events);
REVOKE ALL ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]),
                       es.drop_projection(text), es.rebuild_projection(text),
                       es.run_projections(integer)
    FROM es_modeler, es_intruder, es_other;
DROP ROLE es_modeler;
DROP ROLE es_intruder;
DROP ROLE es_writer;
DROP ROLE es_other;
RESET client_min_messages;
