/*
 * event_sourcing: the upgrade from 0.1 to 0.2.
 *
 * The open upgrade script: every change to the schema after 0.1 is
 * appended here, in the order it is made, as well as made in
 * event_sourcing.sql (CONTRIBUTING.md, "The upgrade discipline").
 * test/t/upgrade.sh checks that a store created at 0.1 and updated
 * equals a fresh install of 0.2.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION event_sourcing UPDATE TO '0.2'" to load this file. \quit

------------------------------------------------------------------------
-- Stream lifecycle (issue 17): the state of a stream's visibility
------------------------------------------------------------------------

ALTER TABLE es.streams
    ADD COLUMN hidden_through bigint NOT NULL DEFAULT 0,
    ADD COLUMN tombstoned boolean NOT NULL DEFAULT false,
    DROP CONSTRAINT streams_version_check,
    ADD CONSTRAINT streams_version_check CHECK (version >= 0),
    ADD CONSTRAINT streams_hidden_through_check
        CHECK (hidden_through >= 0 AND hidden_through <= version);

COMMENT ON COLUMN es.streams.version IS
    'The version of the stream''s last event; 0 only for an id tombstoned before any event was written';
COMMENT ON COLUMN es.streams.hidden_through IS
    'Events at or below this version are hidden from the stream''s reads (es.delete_stream, es.truncate_stream) and may be purged';
COMMENT ON COLUMN es.streams.tombstoned IS
    'The stream is tombstoned (es.tombstone_stream): every event hidden, every append refused, the id never reused';

-- Retention policies by category (es.create_retention / es.drop_retention):
-- each stream of the category keeps only its events recorded within
-- max_age and its last max_count events; the others are hidden from the
-- stream's reads at once and removed by es.purge.
CREATE TABLE es.retention_registry (
    category    text        NOT NULL,
    max_age     interval,
    max_count   bigint,
    owner       regrole     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT retention_registry_pkey PRIMARY KEY (category),
    CONSTRAINT retention_registry_limit_check
        CHECK (max_age IS NOT NULL OR max_count IS NOT NULL),
    CONSTRAINT retention_registry_max_age_check CHECK (max_age > interval '0'),
    CONSTRAINT retention_registry_max_count_check CHECK (max_count >= 1)
);
REVOKE ALL ON TABLE es.retention_registry FROM PUBLIC;

COMMENT ON TABLE es.retention_registry IS
    'Retention policies by stream category; read es.retention, write through es.create_retention / es.drop_retention';

SELECT pg_catalog.pg_extension_config_dump('es.retention_registry', '');

------------------------------------------------------------------------
-- Stream lifecycle (issue 17): the read side
------------------------------------------------------------------------

-- The stream reads keep the policies in a per-backend cache; DML sends no
-- invalidation by itself, so any change to the registry does (visibility.c).
CREATE FUNCTION es.retention_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'es_retention_changed'
LANGUAGE C;

COMMENT ON FUNCTION es.retention_changed() IS
    'Trigger function: any change to es.retention_registry invalidates every backend''s cache of retention policies';
REVOKE ALL ON FUNCTION es.retention_changed() FROM PUBLIC;

CREATE TRIGGER retention_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON es.retention_registry
    FOR EACH STATEMENT EXECUTE FUNCTION es.retention_changed();

-- Lifecycle events ("$" types) reach a consumer of the log only when its
-- type filter names them; their category is that of the stream they
-- concern.
CREATE OR REPLACE FUNCTION es.log_lag(
    after           bigint,
    event_types     text[],
    categories      text[],
    OUT events_behind bigint,
    OUT oldest_age    interval)
RETURNS record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT (SELECT pg_catalog.count(*) FROM es.events e
        WHERE e.global_position OPERATOR(pg_catalog.>) after
          AND CASE WHEN event_types IS NULL
                   THEN NOT pg_catalog.starts_with(e.event_type, '$')
                   ELSE e.event_type OPERATOR(pg_catalog.=) ANY (event_types)
                        OR e.event_type IN (SELECT u.event_type FROM es.upcasters_registry u)
              END
          AND (categories IS NULL
               OR pg_catalog.split_part(pg_catalog.ltrim(e.stream_id, '$'), '-', 1)
                  OPERATOR(pg_catalog.=) ANY (categories))),
       (SELECT pg_catalog.now() OPERATOR(pg_catalog.-) e.recorded_at FROM es.events e
        WHERE e.global_position OPERATOR(pg_catalog.>) after
        ORDER BY e.global_position LIMIT 1)
$$;

COMMENT ON FUNCTION es.log_lag(bigint, text[], text[]) IS
    'Internal: the lag of a consumer of the log at a position with filters (NULL: every type but the lifecycle events, every category): committed events after it that may match, and the age of the first event after it';
-- Dynamic consistency boundaries (issue 18): tags, es.read_events,
-- es.append_if
------------------------------------------------------------------------

ALTER TABLE es.events ADD COLUMN tags text[];

COMMENT ON COLUMN es.events.tags IS
    'The event''s tags (es.event(..., tags)), matched by es.read_events and es.append_if queries; NULL when it has none';

-- Tag queries (es.read_events, es.append_if) find tagged events through
-- this index; untagged events are not in it and cost appends nothing here.
-- No pending list (fastupdate): every decision searches the index, and a
-- search reads the whole pending list.
CREATE INDEX events_tags_idx ON es.events USING gin (tags) WITH (fastupdate = off)
    WHERE tags IS NOT NULL;

ALTER TYPE es.new_event ADD ATTRIBUTE tags text[];

DROP FUNCTION es.event(text, jsonb, jsonb, uuid, timestamptz, integer);

CREATE FUNCTION es.event(
    event_type     text,
    data           jsonb,
    metadata       jsonb       DEFAULT NULL,
    event_id       uuid        DEFAULT NULL,
    occurred_at    timestamptz DEFAULT NULL,
    schema_version integer     DEFAULT NULL,
    tags           text[]      DEFAULT NULL)
RETURNS es.new_event
AS 'MODULE_PATHNAME', 'es_event'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION es.event(text, jsonb, jsonb, uuid, timestamptz, integer, text[]) IS
    'Builds an event to append; a missing event_id gets a UUIDv7, a missing occurred_at the recording time; tags are matched by es.read_events and es.append_if queries';

-- Dynamic consistency boundaries (src/dcb.c, docs/consistency-boundaries.md):
-- read the events that match a query, decide, and append only if no new
-- matching event arrived since.
CREATE FUNCTION es.read_events(
    query          jsonb,
    after_position bigint DEFAULT 0,
    max_count      bigint DEFAULT NULL)
RETURNS SETOF es.events
AS 'MODULE_PATHNAME', 'es_read_events'
LANGUAGE C VOLATILE ROWS 100;

COMMENT ON FUNCTION es.read_events(jsonb, bigint, bigint) IS
    'The committed events after a global position that match the query ([{"types": [...], "tags": [...]}, ...]), in position order, upcast, at most max_count (NULL: all); gap-safe: the last position returned (or after_position) is the bound to pass to es.append_if';

CREATE FUNCTION es.append_if(
    query            jsonb,
    after_position   bigint,
    stream_id        text,
    expected_version bigint,
    VARIADIC events  es.new_event[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_append_if'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.append_if(jsonb, bigint, text, bigint, es.new_event[]) IS
    'es.append, only if no event matching the query was appended after after_position (events of the calling transaction excepted), else SQLSTATE 40001 (constraint es_append_condition)';
-- Background worker, progress, observability (issue 19): the background worker, progress and one view over every consumer of
-- the log (src/worker.c, src/progress.c).  The C functions read shared
-- memory: without shared_preload_libraries they return no rows.
------------------------------------------------------------------------

CREATE FUNCTION es.worker_status(
    OUT database      text,
    OUT pid           integer,
    OUT state         text,
    OUT started_at    timestamptz,
    OUT last_run_at   timestamptz,
    OUT runs          bigint,
    OUT applied       bigint,
    OUT wakeups       bigint,
    OUT errors        bigint,
    OUT last_error    text,
    OUT last_error_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'es_worker_status'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION es.worker_status() IS
    'Internal: the background workers as shared memory holds them (none without shared_preload_libraries); read es.workers';

CREATE VIEW es.workers AS
SELECT * FROM es.worker_status();

COMMENT ON VIEW es.workers IS
    'Background workers (event_sourcing.worker_databases, the library preloaded): database, process, state (starting, idle, running, backing off, disabled, no extension, not running), when it last ran, runs, events applied, wake-ups by appending commits, errors outside handlers and the last of them';
GRANT SELECT ON es.workers TO PUBLIC;

CREATE FUNCTION es.progress_status(
    OUT pid        integer,
    OUT database   oid,
    OUT phase      text,
    OUT projection text,
    OUT done       bigint,
    OUT total      bigint,
    OUT events     bigint,
    OUT rate       double precision,
    OUT started_at timestamptz,
    OUT updated_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'es_progress_status'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION es.progress_status() IS
    'Internal: back-fills, rebuilds and catch-ups in progress in every backend (none without shared_preload_libraries); read es.progress';

CREATE VIEW es.progress AS
SELECT p.pid,
       d.datname AS database,
       p.phase,
       p.projection,
       p.done,
       p.total,
       CASE WHEN p.total OPERATOR(pg_catalog.>) 0
            THEN pg_catalog.round(100.0 OPERATOR(pg_catalog.*) p.done
                                  OPERATOR(pg_catalog./) p.total, 1)
       END AS percent,
       p.events,
       pg_catalog.round(p.rate::pg_catalog.numeric, 1) AS events_per_second,
       p.started_at,
       p.updated_at
FROM es.progress_status() p
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) p.database;

COMMENT ON VIEW es.progress IS
    'Back-fills, rebuilds and catch-ups in progress, readable from any session while they run (needs shared_preload_libraries; without it, they send NOTICEs to their own session, see event_sourcing.progress_notice_interval): phase, projection, log positions walked (done) of total, events passed to the handler and their rate';
GRANT SELECT ON es.progress TO PUBLIC;

CREATE VIEW es.consumers AS
SELECT 'projection'::text AS kind,
       p.name,
       p.mode,
       p.owner,
       p.event_types,
       NULL::text[] AS categories,
       p.position,
       CASE WHEN p.mode OPERATOR(pg_catalog.=) 'inline' THEN 0
            ELSE p.events_behind END AS events_behind,
       p.oldest_unapplied_age,
       p.applied_at AS last_applied_at,
       p.error_sqlstate AS last_error_sqlstate,
       p.error_message AS last_error,
       p.error_position AS last_error_position,
       p.error_at AS last_error_at,
       CASE WHEN p.mode OPERATOR(pg_catalog.=) 'async'
            THEN COALESCE(w.state, 'no worker') END AS worker_state,
       w.last_run_at AS worker_last_run_at
FROM es.projections p
LEFT JOIN es.workers w
       ON p.mode OPERATOR(pg_catalog.=) 'async'
      AND w.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
UNION ALL
SELECT 'subscription'::text,
       s.name,
       'poll'::text,
       s.owner,
       s.event_types,
       s.categories,
       s.position,
       s.events_behind,
       s.oldest_unconsumed_age,
       s.acked_at,
       NULL::text,
       NULL::text,
       NULL::bigint,
       NULL::timestamptz,
       NULL::text,
       NULL::timestamptz
FROM es.subscriptions s;

COMMENT ON VIEW es.consumers IS
    'Every consumer of the log: projections (inline: never behind; async: caught up by es.run_projections or the background worker) and subscriptions (polled), with position, lag (events_behind, oldest_unapplied_age), when the position last moved, the last error, and for async projections the state of the database''s worker and when it last ran';
GRANT SELECT ON es.consumers TO PUBLIC;

------------------------------------------------------------------------
-- Stream lifecycle: delete, tombstone, truncate, retention, purge
-- (src/lifecycle.c, docs/lifecycle.md).  The columns of es.streams and
-- es.retention_registry are in "Storage" above.
------------------------------------------------------------------------

CREATE FUNCTION es.delete_stream(
    stream_id        text,
    expected_version bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_delete_stream'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.delete_stream(text, bigint) IS
    'Soft delete: the stream''s events so far are hidden from its reads, its version is kept (an append continues it), a $deleted event goes to the stream ''$'' || stream_id; returns the version. expected_version as for es.append (40001, constraint es_expected_version)';
REVOKE ALL ON FUNCTION es.delete_stream(text, bigint) FROM PUBLIC;

CREATE FUNCTION es.tombstone_stream(
    stream_id        text,
    expected_version bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_tombstone_stream'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.tombstone_stream(text, bigint) IS
    'Hard delete: every event of the stream is hidden and may be purged, every later append fails with SQLSTATE 55000 (constraint es_stream_tombstoned), the id is never used again (an id never written is reserved); a $tombstoned event goes to the stream ''$'' || stream_id; returns the version';
REVOKE ALL ON FUNCTION es.tombstone_stream(text, bigint) FROM PUBLIC;

CREATE FUNCTION es.truncate_stream(
    stream_id      text,
    before_version bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_truncate_stream'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.truncate_stream(text, bigint) IS
    'Hides the stream''s events before before_version (at most its version + 1) from its reads; a $truncated event goes to the stream ''$'' || stream_id; returns the version';
REVOKE ALL ON FUNCTION es.truncate_stream(text, bigint) FROM PUBLIC;

-- Refuses any change of a tombstoned stream's row: the version check of
-- an append that expected its version, whatever the path.
CREATE FUNCTION es.refuse_tombstoned()
RETURNS trigger
AS 'MODULE_PATHNAME', 'es_refuse_tombstoned'
LANGUAGE C;

COMMENT ON FUNCTION es.refuse_tombstoned() IS
    'Trigger function: refuses, with SQLSTATE 55000 (constraint es_stream_tombstoned), any UPDATE of a tombstoned stream''s row in es.streams';
REVOKE ALL ON FUNCTION es.refuse_tombstoned() FROM PUBLIC;

CREATE TRIGGER streams_tombstoned
    BEFORE UPDATE ON es.streams
    FOR EACH ROW WHEN (OLD.tombstoned)
    EXECUTE FUNCTION es.refuse_tombstoned();
ALTER TABLE es.streams ENABLE ALWAYS TRIGGER streams_tombstoned;

CREATE VIEW es.retention AS
SELECT r.category,
       r.max_age,
       r.max_count,
       r.owner,
       r.created_at
FROM es.retention_registry r;

COMMENT ON VIEW es.retention IS
    'Retention policies: each stream of the category keeps only its events recorded within max_age and its last max_count events (NULL: no such limit); owner may drop the policy';
GRANT SELECT ON es.retention TO PUBLIC;

CREATE FUNCTION es.create_retention(
    category  text,
    max_age   interval DEFAULT NULL,
    max_count bigint   DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'es_create_retention'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.create_retention(text, interval, bigint) IS
    'Creates the retention policy of a stream category: events recorded before now() - max_age, and all but the last max_count events of each stream, are hidden from the stream''s reads at once and removed by es.purge';
REVOKE ALL ON FUNCTION es.create_retention(text, interval, bigint) FROM PUBLIC;

CREATE FUNCTION es.drop_retention(category text)
RETURNS void
AS 'MODULE_PATHNAME', 'es_drop_retention'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.drop_retention(text) IS
    'Removes the retention policy of a category (its creator, members of that role, superusers): what was not purged yet is visible again';
REVOKE ALL ON FUNCTION es.drop_retention(text) FROM PUBLIC;

-- The one path that removes events: the procedure commits after each
-- batch, and its DELETE is the only one the immutability trigger lets
-- through (opened by the C code itself, never by a caller's setting).
CREATE PROCEDURE es.purge(
    batch_size integer DEFAULT 10000,
    pause_ms   integer DEFAULT 250)
AS 'MODULE_PATHNAME', 'es_purge'
LANGUAGE C;

COMMENT ON PROCEDURE es.purge(integer, integer) IS
    'Physically removes the events that deletions, tombstones, truncations and retention hide (never a lifecycle event), and the snapshots that covered them, batch_size events per transaction, pausing pause_ms milliseconds after each batch; CALL it outside a transaction block';
-- Removing events for good is the store owner's decision: grant EXECUTE
-- to the role that runs it.
REVOKE ALL ON PROCEDURE es.purge(integer, integer) FROM PUBLIC;

COMMENT ON FUNCTION es.refuse_change() IS
    'Trigger function: refuses UPDATE, DELETE and TRUNCATE of es.events for every role; lets through only es.purge''s own DELETE';
