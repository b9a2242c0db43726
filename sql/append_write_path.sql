-- es.append writes events without SPI (src/event_insert.c) and keeps what it
-- knows about es.events per backend: the table as it is now must rule,
-- after the table changes within a session and when appends nest.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

-- Warm the backend's knowledge of es.events.
SELECT es.append('w-1', 0, es.event('E', '{}'));

-- A column added later (as a release's upgrade script would add one) gets
-- its default, and a constraint added later holds; both are seen by this
-- same session at once.  Rolled back: the extension's table stays as made.
BEGIN;
ALTER TABLE es.events ADD COLUMN note text NOT NULL DEFAULT 'from default';
ALTER TABLE es.events ADD CONSTRAINT events_no_forbidden
    CHECK (event_type OPERATOR(pg_catalog.<>) 'Forbidden');
SELECT es.append('w-1', 1, es.event('E', '{}'));
SELECT stream_version, note FROM es.events WHERE stream_id = 'w-1' ORDER BY 1;
SELECT regexp_replace(pg_temp.try($$SELECT es.append('w-1', 2, es.event('Forbidden', '{}'))$$),
                      ' \| Failing row .*\[', ' [');
SELECT es.stream_version('w-1');
-- A row trigger added later fires, its WHEN clause seeing the new row.
CREATE FUNCTION pg_temp.flagged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'flagged: % version %', NEW.stream_id, NEW.stream_version;
    RETURN NULL;
END $$;
CREATE TRIGGER events_flagged AFTER INSERT ON es.events
    FOR EACH ROW WHEN (NEW.data ? 'flag') EXECUTE FUNCTION pg_temp.flagged();
SELECT es.append('w-1', 2, es.event('E', '{}'), es.event('E', '{"flag": true}'));
ROLLBACK;

-- Back to the table as made: no such column, no such constraint.
SELECT es.append('w-1', 1, es.event('Forbidden', '{}'));
SELECT stream_version, event_type FROM es.events WHERE stream_id = 'w-1' ORDER BY 1;

-- Unique keys still hold: an id stored elsewhere, with an exact version.
SELECT regexp_replace(pg_temp.try(format($$SELECT es.append('w-2', 0, es.event('E', '{}', event_id => %L))$$,
    (SELECT event_id FROM es.events WHERE stream_id = 'w-1' AND stream_version = 1))),
    '=\(.*\)', '=(...)');
SELECT count(*) FROM es.events WHERE stream_id = 'w-2';

-- Appends nested in an inline projection's handler, and a batch: each row
-- fires the handler once, after the batch's rows are written, with its own
-- position, recording time and transaction id filled in from the defaults.
CREATE TABLE public.seen (stream_id text, stream_version bigint, nested_version bigint,
                          has_defaults boolean);
CREATE FUNCTION public.on_event(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.seen VALUES (e.stream_id, e.stream_version,
        CASE WHEN e.stream_id LIKE 'w-%' THEN es.append('audit-' || e.stream_id, NULL,
                                                       es.event('Seen', '{}')) END,
        e.global_position IS NOT NULL AND e.recorded_at = now()
        AND e.transaction_id = pg_current_xact_id());
END $$;
SELECT es.create_projection('seen', 'public.on_event(es.events)');
SELECT es.append('w-3', 0, es.event('E', '{}'), es.event('E', '{}'), es.event('E', '{}'));
SELECT * FROM public.seen WHERE stream_id LIKE '%w-3' ORDER BY stream_id, stream_version;
SELECT stream_id, array_agg(global_position ORDER BY stream_version) =
       (SELECT array_agg(p ORDER BY p) FROM unnest(array_agg(global_position)) p) AS in_order
FROM es.events WHERE stream_id LIKE '%w-3' GROUP BY 1 ORDER BY 1;
SELECT es.drop_projection('seen');
DROP FUNCTION public.on_event(es.events);
DROP TABLE public.seen;
