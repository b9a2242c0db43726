-- The baseline: plain tables shaped like es.events / es.streams, written
-- with plain SQL.  They are made from the extension's own tables (same
-- columns, defaults, checks and indexes; no triggers), so that they cannot
-- drift from them; only the position comes from a sequence of their own.
-- Event ids come from es.uuid_v7(), the same generator es.event() uses, so
-- both sides insert the same kind of key into the unique index on event_id.
CREATE SCHEMA raw;
CREATE TABLE raw.events (LIKE es.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE SEQUENCE raw.events_global_position_seq AS bigint OWNED BY raw.events.global_position;
ALTER TABLE raw.events
    ALTER global_position SET DEFAULT nextval('raw.events_global_position_seq');
CREATE TABLE raw.streams (LIKE es.streams INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
