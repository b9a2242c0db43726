/*
 * event_sourcing: the install script of the version in development
 * (default_version in event_sourcing.control); make copies it to
 * event_sourcing--<version>.sql.  A release freezes that copy as shipped,
 * and from then on every change made here is also appended to the open
 * upgrade script (CONTRIBUTING.md, "The upgrade discipline").
 *
 * Read top to bottom, like the reference: storage, writing, reading,
 * upcasting, folding, projections, the log and subscriptions,
 * immutability.  Each object's grants and revokes sit right beside it;
 * the last block holds only what concerns the whole schema.
 *
 * Every registry has one shape: a private table es.<x>_registry, written
 * only through es.create_<x> / es.drop_<x> (and the functions that move
 * its positions), and a public view es.<x> that every role may read.
 *
 * The extension's own SQL names everything with its schema; the C
 * functions run their statements as the owner of these tables, so callers
 * need only EXECUTE.  Tables and sequences are granted to nobody.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION event_sourcing" to load this file. \quit

------------------------------------------------------------------------
-- Storage
------------------------------------------------------------------------

-- The global position of every event, in the order positions are handed out
-- (not necessarily the order transactions commit in).
-- Keep its CACHE at 1 and never set it back: the gap-safe log (see
-- src/log.c) relies on positions growing in allocation order.
CREATE SEQUENCE es.events_global_position_seq AS bigint;
REVOKE ALL ON SEQUENCE es.events_global_position_seq FROM PUBLIC;

-- nextval() that also makes the transaction's first position visible to
-- readers of the log as an advisory lock (see src/log.c).
CREATE FUNCTION es.next_position(sequence regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_next_position'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION es.next_position(regclass) IS
    'Internal: the default of es.events.global_position; nextval() that locks a transaction''s first position until it ends, so that readers of the log wait for it';
REVOKE ALL ON FUNCTION es.next_position(regclass) FROM PUBLIC;

CREATE TABLE es.events (
    global_position bigint      NOT NULL
                    DEFAULT es.next_position('es.events_global_position_seq'),
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
    data            jsonb       NOT NULL,
    metadata        jsonb,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    tags            text[],
    CONSTRAINT events_pkey PRIMARY KEY (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);
ALTER SEQUENCE es.events_global_position_seq OWNED BY es.events.global_position;

COMMENT ON TABLE es.events IS
    'Every event ever appended, one row each; append-only (see es.refuse_change)';
COMMENT ON COLUMN es.events.global_position IS
    'Position handed out at append time; unique, increasing in allocation order';
COMMENT ON COLUMN es.events.occurred_at IS
    'Business time of the event; defaults to the recording time';
COMMENT ON COLUMN es.events.recorded_at IS
    'Start of the appending transaction';
COMMENT ON COLUMN es.events.transaction_id IS
    'pg_current_xact_id() of the appending transaction';
COMMENT ON COLUMN es.events.tags IS
    'The event''s tags (es.event(..., tags)), matched by es.read_events and es.append_if queries; NULL when it has none';

REVOKE ALL ON TABLE es.events FROM PUBLIC;

-- The log is read in global_position order.  Every index costs appends
-- a little: this one is what makes reading the log after a cursor cheap.
CREATE UNIQUE INDEX events_global_position_key ON es.events (global_position);

-- Tag queries (es.read_events, es.append_if) find tagged events through
-- this index; untagged events are not in it and cost appends nothing here.
-- No pending list (fastupdate): every decision searches the index, and a
-- search reads the whole pending list.
CREATE INDEX events_tags_idx ON es.events USING gin (tags) WITH (fastupdate = off)
    WHERE tags IS NOT NULL;

CREATE TABLE es.streams (
    stream_id   text        NOT NULL,
    category    text        NOT NULL,
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    hidden_through bigint   NOT NULL DEFAULT 0,
    tombstoned  boolean     NOT NULL DEFAULT false,
    CONSTRAINT streams_pkey PRIMARY KEY (stream_id),
    CONSTRAINT streams_version_check CHECK (version >= 0),
    CONSTRAINT streams_hidden_through_check
        CHECK (hidden_through >= 0 AND hidden_through <= version)
);

COMMENT ON TABLE es.streams IS
    'One row per stream: its current version; the row every appender locks';
COMMENT ON COLUMN es.streams.category IS
    'The stream id up to its first "-" (all of it when there is none)';
COMMENT ON COLUMN es.streams.version IS
    'The version of the stream''s last event; 0 only for an id tombstoned before any event was written';
COMMENT ON COLUMN es.streams.hidden_through IS
    'Events at or below this version are hidden from the stream''s reads (es.delete_stream, es.truncate_stream) and may be purged';
COMMENT ON COLUMN es.streams.tombstoned IS
    'The stream is tombstoned (es.tombstone_stream): every event hidden, every append refused, the id never reused';

REVOKE ALL ON TABLE es.streams FROM PUBLIC;

-- pg_dump keeps the events, the streams and the position counter.
SELECT pg_catalog.pg_extension_config_dump('es.events', '');
SELECT pg_catalog.pg_extension_config_dump('es.streams', '');
SELECT pg_catalog.pg_extension_config_dump('es.events_global_position_seq', '');

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

------------------------------------------------------------------------
-- Writing
------------------------------------------------------------------------

-- An event to append, as built by es.event().
CREATE TYPE es.new_event AS (
    event_type     text,
    data           jsonb,
    metadata       jsonb,
    event_id       uuid,
    occurred_at    timestamptz,
    schema_version integer,
    tags           text[]
);

COMMENT ON TYPE es.new_event IS
    'An event to pass to es.append; build it with es.event()';

CREATE FUNCTION es.uuid_v7()
RETURNS uuid
AS 'MODULE_PATHNAME', 'es_uuid7'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION es.uuid_v7() IS
    'A new time-ordered UUID (RFC 9562 version 7), increasing within a session';

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

CREATE FUNCTION es.append(
    stream_id        text,
    expected_version bigint,
    VARIADIC events  es.new_event[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_append'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.append(text, bigint, es.new_event[]) IS
    'Appends events to a stream atomically and returns its new version; expected_version NULL = any, 0 = new stream, n = exactly n, else SQLSTATE 40001 (constraint es_expected_version)';

-- Evaluated by es.append (as the extension's owner) after it has locked
-- the stream's row, in the WHERE of its upsert with no expected version:
-- a retry sent while the first attempt was in progress sees that attempt's
-- events once it has waited for the lock.
CREATE FUNCTION es.append_id_stored(event_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_append_id_stored'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION es.append_id_stored(uuid) IS
    'Internal: whether an event with this id is stored, under a snapshot taken now (READ COMMITTED) or the transaction''s';
REVOKE ALL ON FUNCTION es.append_id_stored(uuid) FROM PUBLIC;

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

------------------------------------------------------------------------
-- Reading
------------------------------------------------------------------------

CREATE FUNCTION es.stream_version(stream_id text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_stream_version'
LANGUAGE C STABLE;

COMMENT ON FUNCTION es.stream_version(text) IS
    'The current version of a stream; 0 when it has no events';

CREATE FUNCTION es.read_stream(
    stream_id    text,
    from_version bigint  DEFAULT NULL,
    max_count    bigint  DEFAULT NULL,
    backwards    boolean DEFAULT false)
RETURNS SETOF es.events
AS 'MODULE_PATHNAME', 'es_read_stream'
LANGUAGE C STABLE ROWS 100;

COMMENT ON FUNCTION es.read_stream(text, bigint, bigint, boolean) IS
    'A stream''s events in version order (backwards: reverse order) from an inclusive from_version, at most max_count of them';

------------------------------------------------------------------------
-- Upcasting
------------------------------------------------------------------------

-- The settings a registration captures: what user code runs with.
CREATE FUNCTION es.capture_settings()
RETURNS text[]
AS 'MODULE_PATHNAME', 'es_capture_settings_sql'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION es.capture_settings() IS
    'The settings a registration captures now, as name=value items: search_path (pg_temp last), TimeZone, DateStyle, IntervalStyle, extra_float_digits';

-- The registry: one row per step, version from_version of event_type to
-- from_version + 1, by rules or by a function.  The function is recorded by
-- its qualified name (its signature is always (jsonb)), not by OID: OIDs do
-- not survive pg_dump, and pg_upgrade refuses reg* columns in user tables.
-- A function step runs as owner, with settings.
CREATE TABLE es.upcasters_registry (
    event_type    text        NOT NULL,
    from_version  integer     NOT NULL
                  CHECK (from_version >= 1 AND from_version < 2147483647),
    rules         jsonb,
    fn            text,
    owner         regrole,
    settings      text[]      NOT NULL DEFAULT es.capture_settings(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT upcasters_registry_pkey PRIMARY KEY (event_type, from_version),
    CONSTRAINT upcasters_registry_rules_or_fn CHECK ((rules IS NULL) <> (fn IS NULL))
);
REVOKE ALL ON TABLE es.upcasters_registry FROM PUBLIC;

COMMENT ON TABLE es.upcasters_registry IS
    'Upcaster steps: version from_version of event_type becomes from_version + 1; read es.upcasters, write through es.create_upcaster / es.drop_upcaster';
COMMENT ON COLUMN es.upcasters_registry.fn IS
    'Qualified name of a function (data jsonb) RETURNS jsonb, resolved when the registry is loaded';
COMMENT ON COLUMN es.upcasters_registry.owner IS
    'The role that created the step: a function step runs as it; it (or a member, or a superuser) may drop it.  NULL for a step written by hand: it belongs to the extension''s owner';
COMMENT ON COLUMN es.upcasters_registry.settings IS
    'The settings captured when the step was created (es.capture_settings()): a function step runs with them';

SELECT pg_catalog.pg_extension_config_dump('es.upcasters_registry', '');

CREATE FUNCTION es.upcasters_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'es_upcasters_changed'
LANGUAGE C;

COMMENT ON FUNCTION es.upcasters_changed() IS
    'Trigger function: any change to es.upcasters_registry invalidates every backend''s compiled registry';
REVOKE ALL ON FUNCTION es.upcasters_changed() FROM PUBLIC;

CREATE TRIGGER upcasters_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON es.upcasters_registry
    FOR EACH STATEMENT EXECUTE FUNCTION es.upcasters_changed();

CREATE VIEW es.upcasters AS
SELECT u.event_type,
       u.from_version,
       u.from_version OPERATOR(pg_catalog.+) 1 AS to_version,
       CASE WHEN u.fn IS NULL THEN 'rules' ELSE 'function' END AS kind,
       u.rules,
       u.fn OPERATOR(pg_catalog.||) '(jsonb)' AS fn,
       COALESCE(u.owner, (SELECT c.relowner::pg_catalog.regrole FROM pg_catalog.pg_class c
                          WHERE c.oid OPERATOR(pg_catalog.=) 'es.events'::pg_catalog.regclass)) AS owner,
       u.settings,
       u.created_at
FROM es.upcasters_registry u;

COMMENT ON VIEW es.upcasters IS
    'Upcaster steps: event type, the versions a step goes from and to, its kind (rules or function), its rules or function, the role a function runs as and the settings it runs with';
GRANT SELECT ON es.upcasters TO PUBLIC;

CREATE FUNCTION es.create_upcaster(
    event_type   text,
    from_version integer,
    rules        jsonb        DEFAULT NULL,
    fn           regprocedure DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'es_create_upcaster'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.create_upcaster(text, integer, jsonb, regprocedure) IS
    'Creates the step from version from_version of an event type to from_version + 1: declarative rules, or a function (data jsonb) RETURNS jsonb';
-- Upcasters run on every read: creating one is the owner's decision.
REVOKE ALL ON FUNCTION es.create_upcaster(text, integer, jsonb, regprocedure) FROM PUBLIC;

CREATE FUNCTION es.drop_upcaster(
    event_type   text,
    from_version integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'es_drop_upcaster'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.drop_upcaster(text, integer) IS
    'Removes the last step of an event type''s upcaster chain, or with from_version NULL the whole chain';
REVOKE ALL ON FUNCTION es.drop_upcaster(text, integer) FROM PUBLIC;

CREATE FUNCTION es.upcast(
    INOUT event_type     text,
    INOUT schema_version integer,
    INOUT data           jsonb)
AS 'MODULE_PATHNAME', 'es_upcast'
LANGUAGE C STABLE;

COMMENT ON FUNCTION es.upcast(text, integer, jsonb) IS
    'What an event stored with this type, schema version and data reads as: the registered upcasters applied';

CREATE FUNCTION es.upcast_generation()
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_upcast_generation_sql'
LANGUAGE C STABLE;

COMMENT ON FUNCTION es.upcast_generation() IS
    'A hash of the upcaster definitions and the functions they call: equal in every session for equal definitions, 0 when none is registered';

CREATE VIEW es.upcaster_chains AS
SELECT u.event_type,
       pg_catalog.min(u.from_version) AS first_version,
       pg_catalog.max(u.from_version) OPERATOR(pg_catalog.+) 1 AS latest_version,
       pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'from_version', u.from_version,
           'to_version', u.from_version OPERATOR(pg_catalog.+) 1,
           'to_type', COALESCE(
               (SELECT r OPERATOR(pg_catalog.->>) 'value'
                FROM pg_catalog.jsonb_array_elements(u.rules) AS r
                WHERE r OPERATOR(pg_catalog.->>) 'op' OPERATOR(pg_catalog.=) 'rename_type'),
               u.event_type),
           'rules', u.rules,
           'function', u.fn OPERATOR(pg_catalog.||) '(jsonb)')
         ORDER BY u.from_version) AS steps
FROM es.upcasters_registry u
GROUP BY u.event_type;

COMMENT ON VIEW es.upcaster_chains IS
    'Each event type''s upcaster chain: its steps in order and the latest schema version';
GRANT SELECT ON es.upcaster_chains TO PUBLIC;

------------------------------------------------------------------------
-- Folding: reducers, snapshots, es.fold, es.fold_agg
------------------------------------------------------------------------

CREATE TABLE es.reducers_registry (
    name           text        NOT NULL,
    initial_state  jsonb       NOT NULL,
    apply          text,
    rules          jsonb,
    snapshot_every integer     CHECK (snapshot_every >= 1),
    owner          regrole     NOT NULL,
    settings       text[]      NOT NULL,
    revision       bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT reducers_registry_pkey PRIMARY KEY (name),
    CONSTRAINT reducers_registry_one_kind CHECK ((apply IS NULL) <> (rules IS NULL))
);
REVOKE ALL ON TABLE es.reducers_registry FROM PUBLIC;

COMMENT ON TABLE es.reducers_registry IS
    'Registered reducers; read es.reducers, write through es.create_reducer / es.drop_reducer';
COMMENT ON COLUMN es.reducers_registry.apply IS
    'Qualified signature of the reducer function, resolved when the reducer is loaded (text, not regprocedure: OIDs do not survive a dump, and pg_upgrade refuses regprocedure columns)';

COMMENT ON COLUMN es.reducers_registry.owner IS
    'The registrant: the role that created the reducer; its function runs as this role';
COMMENT ON COLUMN es.reducers_registry.settings IS
    'Settings captured by es.create_reducer (search_path with pg_temp last, TimeZone, DateStyle, IntervalStyle, extra_float_digits) as name=value; the function runs with them';
COMMENT ON COLUMN es.reducers_registry.revision IS
    'From es.reducer_revisions: new for every es.create_reducer, never reused, not even after drop and re-create';

SELECT pg_catalog.pg_extension_config_dump('es.reducers_registry', '');

CREATE SEQUENCE es.reducer_revisions AS bigint;
REVOKE ALL ON SEQUENCE es.reducer_revisions FROM PUBLIC;
COMMENT ON SEQUENCE es.reducer_revisions IS
    'Revisions of reducers: a snapshot''s fingerprint includes it, so no two definitions share one';
SELECT pg_catalog.pg_extension_config_dump('es.reducer_revisions', '');

CREATE FUNCTION es.reducers_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'es_reducers_changed'
LANGUAGE C;

COMMENT ON FUNCTION es.reducers_changed() IS
    'Trigger function: any change to es.reducers_registry invalidates every backend''s reducer cache';
REVOKE ALL ON FUNCTION es.reducers_changed() FROM PUBLIC;

CREATE TRIGGER reducers_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON es.reducers_registry
    FOR EACH STATEMENT EXECUTE FUNCTION es.reducers_changed();

CREATE VIEW es.reducers AS
SELECT r.name,
       r.owner,
       CASE WHEN r.apply IS NULL THEN 'rules' ELSE 'function' END AS kind,
       r.apply,
       r.rules,
       r.initial_state,
       r.snapshot_every,
       r.settings,
       r.revision,
       r.created_at,
       r.updated_at
FROM es.reducers_registry r;

COMMENT ON VIEW es.reducers IS
    'Registered reducers: name, owner (the role its function runs as), kind (function or rules), the function''s signature or the rules, initial state, snapshot interval, the settings captured at creation (the function runs with them), revision (new for every es.create_reducer, never reused)';
GRANT SELECT ON es.reducers TO PUBLIC;

-- Snapshots are a cache: they are not dumped (a restored function is a new
-- row version, so its old snapshots would be retired anyway).
CREATE TABLE es.snapshots (
    reducer          text        NOT NULL
                     REFERENCES es.reducers_registry (name) ON DELETE CASCADE,
    stream_id        text        NOT NULL,
    stream_version   bigint      NOT NULL,
    state            jsonb       NOT NULL,
    last_occurred_at timestamptz NOT NULL,
    fingerprint      bigint      NOT NULL,
    taken_at         timestamptz NOT NULL,
    CONSTRAINT snapshots_pkey PRIMARY KEY (reducer, stream_id, stream_version)
);
REVOKE ALL ON TABLE es.snapshots FROM PUBLIC;

COMMENT ON TABLE es.snapshots IS
    'State of a stream after versions 1..stream_version under a reducer; last_occurred_at is the latest occurred_at among those events';

CREATE FUNCTION es.create_reducer(
    name           text,
    initial_state  jsonb        DEFAULT '{}',
    apply          regprocedure DEFAULT NULL,
    rules          jsonb        DEFAULT NULL,
    snapshot_every integer      DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'es_create_reducer'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.create_reducer(text, jsonb, regprocedure, jsonb, integer) IS
    'Creates or replaces a reducer: a function (state jsonb, event es.events) RETURNS jsonb, or rules; replacing retires its snapshots';

CREATE FUNCTION es.drop_reducer(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'es_drop_reducer'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.drop_reducer(text) IS
    'Removes a reducer and its snapshots';

CREATE FUNCTION es.fold(
    stream_id  text,
    reducer    text,
    as_of      timestamptz DEFAULT NULL,
    to_version bigint      DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'es_fold'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.fold(text, text, timestamptz, bigint) IS
    'The state of a stream: its upcast events, in version order, up to to_version and occurred at or before as_of, reduced from the initial state';

CREATE FUNCTION es.snapshot(stream_id text, reducer text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_snapshot'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.snapshot(text, text) IS
    'Stores the stream''s current state under the reducer as a snapshot; returns the version it covers';

CREATE FUNCTION es.reducer_fingerprint(reducer text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_reducer_fingerprint_sql'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION es.reducer_fingerprint(text) IS
    'What a snapshot of the reducer must carry to be used: changes with the reducer, its function and the upcasters';

CREATE FUNCTION es.fold_agg_step(internal, es.events, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'es_fold_agg_step'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.fold_agg_step(internal, es.events, text) IS
    'Transition function of es.fold_agg';
REVOKE ALL ON FUNCTION es.fold_agg_step(internal, es.events, text) FROM PUBLIC;

CREATE FUNCTION es.fold_agg_final(internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'es_fold_agg_final'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.fold_agg_final(internal) IS
    'Final function of es.fold_agg';

CREATE AGGREGATE es.fold_agg(event es.events, reducer text) (
    SFUNC = es.fold_agg_step,
    STYPE = internal,
    FINALFUNC = es.fold_agg_final
);

COMMENT ON AGGREGATE es.fold_agg(es.events, text) IS
    'Folds upcast events with a reducer; use ORDER BY stream_version, e.g. GROUP BY stream_id';

CREATE VIEW es.snapshot_coverage AS
SELECT s.reducer,
       s.stream_id,
       count(*)               AS snapshots,
       max(s.stream_version)  AS latest_version,
       st.version             AS stream_version,
       st.version - max(s.stream_version) AS events_since,
       max(s.taken_at)        AS latest_taken_at,
       bool_or(s.fingerprint = es.reducer_fingerprint(s.reducer)) AS current
FROM es.snapshots s
LEFT JOIN es.streams st USING (stream_id)
GROUP BY s.reducer, s.stream_id, st.version;

COMMENT ON VIEW es.snapshot_coverage IS
    'Per reducer and stream: how many snapshots, the latest version covered, how far the stream has moved since, and whether they are current';
GRANT SELECT ON es.snapshot_coverage TO PUBLIC;

------------------------------------------------------------------------
-- Projections: read models maintained by handlers, from a trigger on
-- es.events inside the appending transaction, or caught up from the log.
------------------------------------------------------------------------

-- How far a consumer of the log is behind: the committed events after a
-- position that may match its filters (stored type wanted, or one that an
-- upcaster may rename), and how long the first event after the position
-- has waited.  Shared by the views es.projections and es.subscriptions,
-- which every role reads: it reads es.events as the extension's owner.
CREATE FUNCTION es.log_lag(
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

-- The registry is data (dumped with the events); the trigger below is part
-- of this script, so pg_dump never has to recreate it.  The handler is
-- stored by its qualified signature, resolved when the registry is loaded
-- (a regprocedure column would stop pg_upgrade).
CREATE TABLE es.projections_registry (
    name        text        NOT NULL,
    handler     text        NOT NULL,
    event_types text[],
    async       boolean     NOT NULL DEFAULT false,
    tables      regclass[]  NOT NULL DEFAULT '{}',
    owner       regrole     NOT NULL,
    settings    text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    position    bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    applied_at  timestamptz,
    error_position bigint,
    error_event_id uuid,
    error_sqlstate text,
    error_message  text,
    error_at    timestamptz,
    CONSTRAINT projections_registry_pkey PRIMARY KEY (name),
    CONSTRAINT projections_registry_name_check CHECK (name <> '')
);
REVOKE ALL ON TABLE es.projections_registry FROM PUBLIC;

COMMENT ON TABLE es.projections_registry IS
    'Registered projections; read es.projections, write through es.create_projection / es.drop_projection';
COMMENT ON COLUMN es.projections_registry.handler IS
    'Qualified signature of the handler function (event es.events) RETURNS void';
COMMENT ON COLUMN es.projections_registry.event_types IS
    'Event types (after upcasting) the handler is called for; NULL: every type';
COMMENT ON COLUMN es.projections_registry.tables IS
    'Read-model tables that es.rebuild_projection empties before replaying';
COMMENT ON COLUMN es.projections_registry.owner IS
    'The role that created the projection (its registrant): the handler runs as this role; it, its members and superusers may drop or rebuild it';
COMMENT ON COLUMN es.projections_registry.settings IS
    'The settings the handler runs with, captured from the creator''s session ("name=value": search_path with pg_temp last, TimeZone, DateStyle, IntervalStyle, extra_float_digits)';
COMMENT ON COLUMN es.projections_registry.position IS
    'Async projections: every event at or below this global position has been applied (committed with the handler''s writes)';
COMMENT ON COLUMN es.projections_registry.applied_at IS
    'Async projections: when the position last moved';
COMMENT ON COLUMN es.projections_registry.error_position IS
    'Async projections: global position of the event the handler failed on in the last run (NULL: no error)';
COMMENT ON COLUMN es.projections_registry.error_event_id IS
    'Async projections: id of the event the handler failed on in the last run';
COMMENT ON COLUMN es.projections_registry.error_sqlstate IS
    'Async projections: SQLSTATE of the last run''s error (NULL: the last run succeeded)';
COMMENT ON COLUMN es.projections_registry.error_message IS
    'Async projections: message of the last run''s error';
COMMENT ON COLUMN es.projections_registry.error_at IS
    'Async projections: when the last run failed';

SELECT pg_catalog.pg_extension_config_dump('es.projections_registry', '');

CREATE VIEW es.projections AS
SELECT r.name,
       r.handler,
       r.event_types,
       CASE WHEN r.async THEN 'async' ELSE 'inline' END AS mode,
       r.tables,
       r.owner,
       r.settings,
       r.created_at,
       CASE WHEN r.async THEN r.position END AS position,
       l.events_behind,
       l.oldest_age AS oldest_unapplied_age,
       r.applied_at,
       r.error_position,
       r.error_event_id,
       r.error_sqlstate,
       r.error_message,
       r.error_at
FROM es.projections_registry r
LEFT JOIN LATERAL (SELECT * FROM es.log_lag(r.position, r.event_types, NULL)
                   WHERE r.async) l ON true;

COMMENT ON VIEW es.projections IS
    'Registered projections: name, handler, event types (NULL: all), mode, read-model tables, owner (the role the handler runs as) and the settings it runs with; for async ones their position, lag (events_behind: committed events after the position that may match; oldest_unapplied_age: how long the first event after the position has been waiting) and the last run''s error (NULL: none)';
GRANT SELECT ON es.projections TO PUBLIC;

CREATE FUNCTION es.create_projection(
    name        text,
    handler     regprocedure,
    event_types text[]     DEFAULT NULL,
    async       boolean    DEFAULT false,
    tables      regclass[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'es_create_projection'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]) IS
    'Registers a projection: handler(event es.events) is called, as the creator and with the creator''s settings captured now, for every appended event of the given types, and for the existing history now; an async one is caught up from the log by es.run_projections instead. The tables must be owned by the creator';
-- A handler runs as its registrant, implicitly, whenever any role appends
-- an event it handles: registering one is a privilege to grant, not a
-- default.
REVOKE ALL ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]) FROM PUBLIC;

CREATE FUNCTION es.drop_projection(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'es_drop_projection'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.drop_projection(text) IS
    'Stops a projection; its read-model tables stay';
REVOKE ALL ON FUNCTION es.drop_projection(text) FROM PUBLIC;

CREATE FUNCTION es.rebuild_projection(name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_rebuild_projection'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.rebuild_projection(text) IS
    'Empties a projection''s tables and replays the whole history through its handler, in global order, both as the projection''s owner; returns the number of events replayed';
REVOKE ALL ON FUNCTION es.rebuild_projection(text) FROM PUBLIC;

-- Evaluated by the trigger's WHEN clause for every inserted row: true only
-- for rows written by es.append while an inline projection is registered,
-- so that other inserts (pg_restore's COPY) queue no trigger event at all.
CREATE FUNCTION es.projections_wanted()
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_projections_wanted'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.projections_wanted() IS
    'Internal: whether the row being inserted into es.events must be passed to inline projections';
-- Executable by everyone: whoever inserts into es.events (a restore) runs it.

CREATE FUNCTION es.projections_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'es_projections_trigger'
LANGUAGE C;

COMMENT ON FUNCTION es.projections_trigger() IS
    'Trigger function: passes an event appended by es.append to the handlers of the inline projections';
REVOKE ALL ON FUNCTION es.projections_trigger() FROM PUBLIC;

CREATE TRIGGER events_projections
    AFTER INSERT ON es.events
    FOR EACH ROW WHEN (es.projections_wanted())
    EXECUTE FUNCTION es.projections_trigger();

-- Async projections catch up from the log when this runs (from any
-- scheduler); each handler runs as its registrant, with its settings.
CREATE FUNCTION es.run_projections(max_count integer DEFAULT 10000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_run_projections'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.run_projections(integer) IS
    'Applies to each async projection the caller owns (in name order, skipping those another run holds) its next committed events, at most max_count each, gap-safe, each handler run as its projection''s owner; the position moves with the handler''s writes in the caller''s transaction. A failing projection is rolled back to its last good event and its error recorded in es.projections; the others go on. Returns the number of events applied';
REVOKE ALL ON FUNCTION es.run_projections(integer) FROM PUBLIC;

------------------------------------------------------------------------
-- The log and subscriptions: gap-safe reads in position order, durable
-- consumers, wake-ups (src/log.c, src/subscription.c).  The position
-- sequence, es.next_position and the index on global_position are in
-- "Storage" above.
------------------------------------------------------------------------

CREATE FUNCTION es.log_horizon()
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_log_horizon'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.log_horizon() IS
    'The first global position the log cannot hand out yet: every event below it is committed or will never exist';

CREATE FUNCTION es.read_all(
    after       bigint  DEFAULT 0,
    max_count   bigint  DEFAULT 1000,
    event_types text[]  DEFAULT NULL,
    categories  text[]  DEFAULT NULL)
RETURNS SETOF es.events
AS 'MODULE_PATHNAME', 'es_read_all'
LANGUAGE C VOLATILE ROWS 1000;

COMMENT ON FUNCTION es.read_all(bigint, bigint, text[], text[]) IS
    'The committed events after a global position, in position order, upcast, at most max_count (NULL: all), of the given event types (after upcasting) and stream categories; never skips an event committed late';

-- Subscriptions: durable consumers of the log.  The registry is data, so
-- a dump keeps every subscription's position.
CREATE TABLE es.subscriptions_registry (
    name        text        NOT NULL,
    event_types text[],
    categories  text[],
    position    bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    owner       regrole     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    acked_at    timestamptz,
    CONSTRAINT subscriptions_registry_pkey PRIMARY KEY (name),
    CONSTRAINT subscriptions_registry_name_check CHECK (name <> '')
);
REVOKE ALL ON TABLE es.subscriptions_registry FROM PUBLIC;

COMMENT ON TABLE es.subscriptions_registry IS
    'Subscriptions and their positions; read es.subscriptions, write through es.create_subscription / es.poll / es.drop_subscription';
COMMENT ON COLUMN es.subscriptions_registry.position IS
    'Every event at or below this global position has been delivered and acknowledged (committed)';
COMMENT ON COLUMN es.subscriptions_registry.acked_at IS
    'When the position last moved (the commit of a poll that returned or skipped events)';

SELECT pg_catalog.pg_extension_config_dump('es.subscriptions_registry', '');

CREATE FUNCTION es.create_subscription(
    name        text,
    event_types text[] DEFAULT NULL,
    categories  text[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'es_create_subscription'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.create_subscription(text, text[], text[]) IS
    'Creates a subscription at the beginning of the log, for the given event types (after upcasting) and stream categories (NULL: all)';

CREATE FUNCTION es.drop_subscription(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'es_drop_subscription'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.drop_subscription(text) IS
    'Removes a subscription and its position';

CREATE FUNCTION es.poll(name text, max_count integer DEFAULT 100)
RETURNS SETOF es.events
AS 'MODULE_PATHNAME', 'es_poll'
LANGUAGE C VOLATILE ROWS 100;

COMMENT ON FUNCTION es.poll(text, integer) IS
    'The subscription''s next events (at most max_count), gap-safe; its position moves past them in the caller''s transaction: commit acknowledges, rollback delivers them again. Concurrent pollers of one subscription take turns';

CREATE FUNCTION es.wait(name text, timeout_ms integer DEFAULT 10000)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_wait'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION es.wait(text, integer) IS
    'Waits in the server until the subscription has committed events to poll (true) or timeout_ms passes (false); appenders pay nothing for it';

CREATE VIEW es.subscriptions AS
SELECT r.name,
       r.event_types,
       r.categories,
       r.position,
       l.events_behind,
       l.oldest_age AS oldest_unconsumed_age,
       r.owner,
       r.created_at,
       r.acked_at
FROM es.subscriptions_registry r
CROSS JOIN LATERAL es.log_lag(r.position, r.event_types, r.categories) l;

COMMENT ON VIEW es.subscriptions IS
    'Subscriptions: name, filters, position, lag (events_behind: committed events after the position that may match; oldest_unconsumed_age: how long the first event after the position has been waiting), owner';
GRANT SELECT ON es.subscriptions TO PUBLIC;

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

------------------------------------------------------------------------
-- The background worker, progress and one view over every consumer of
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
-- Immutability
------------------------------------------------------------------------

CREATE FUNCTION es.refuse_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'es_refuse_change'
LANGUAGE C;

COMMENT ON FUNCTION es.refuse_change() IS
    'Trigger function: refuses UPDATE, DELETE and TRUNCATE of es.events for every role; lets through only es.purge''s own DELETE';
REVOKE ALL ON FUNCTION es.refuse_change() FROM PUBLIC;

CREATE TRIGGER events_immutable
    BEFORE UPDATE OR DELETE ON es.events
    FOR EACH STATEMENT EXECUTE FUNCTION es.refuse_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON es.events
    FOR EACH STATEMENT EXECUTE FUNCTION es.refuse_change();

-- The triggers fire with session_replication_role = replica too (which
-- skips ordinary triggers): only ALTER TABLE ... DISABLE TRIGGER, which
-- needs the table's owner, gets past them.  A restore's COPY inserts, so
-- it never fires them.
ALTER TABLE es.events ENABLE ALWAYS TRIGGER events_immutable;
ALTER TABLE es.events ENABLE ALWAYS TRIGGER events_no_truncate;

------------------------------------------------------------------------
-- The schema: every role may look up the objects above; what it may do
-- with them is granted beside each one.
------------------------------------------------------------------------

GRANT USAGE ON SCHEMA es TO PUBLIC;
