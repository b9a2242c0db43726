-- The baseline: plain tables shaped like es.events / es.streams (same
-- columns, defaults, checks and indexes), written with plain SQL.  Event
-- ids come from es.uuid_v7(), the same generator es.event() uses, so both
-- sides insert the same kind of key into the unique index on event_id.
CREATE SCHEMA raw;
CREATE SEQUENCE raw.events_global_position_seq AS bigint;
CREATE TABLE raw.events (
    global_position bigint      NOT NULL
                    DEFAULT nextval('raw.events_global_position_seq'),
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
    CONSTRAINT events_pkey PRIMARY KEY (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);
CREATE TABLE raw.streams (
    stream_id   text        NOT NULL,
    category    text        NOT NULL,
    version     bigint      NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT streams_pkey PRIMARY KEY (stream_id)
);
