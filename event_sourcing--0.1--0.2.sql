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
