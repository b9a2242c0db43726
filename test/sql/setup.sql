-- Included by every regression test: a fresh extension (and no schema
-- "app" left by an earlier test), and a helper that
-- runs a statement and shows how it failed (SQLSTATE, message, detail,
-- constraint) or 'ok', keeping the surrounding transaction usable.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS event_sourcing CASCADE;
DROP SCHEMA IF EXISTS app CASCADE;
CREATE EXTENSION event_sourcing;
CREATE OR REPLACE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; con text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
        det = PG_EXCEPTION_DETAIL, con = CONSTRAINT_NAME;
    RETURN st || ': ' || msg || coalesce(' | ' || nullif(det, ''), '')
        || coalesce(' [' || nullif(con, '') || ']', '');
END $$;
RESET client_min_messages;
