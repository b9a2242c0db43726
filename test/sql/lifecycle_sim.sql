-- lifecycle-merge: this whole file stands in for the write side of the
-- stream lifecycle (branch "lifecycle") until it is merged.  The helpers
-- write the state that the contract gives es.delete_stream,
-- es.truncate_stream and es.tombstone_stream (es.streams.hidden_through /
-- tombstoned, as the superuser) and their lifecycle event in the
-- companion "$" stream (through es.append, which will refuse "$" types
-- once the write side lands).  At the merge, replace every call
-- "pg_temp.delete_stream(" / "pg_temp.truncate_stream(" /
-- "pg_temp.tombstone_stream(" in sql/lifecycle_read_*.sql and
-- specs/lifecycle_read_*.spec with es.delete_stream / es.truncate_stream /
-- es.tombstone_stream, the direct INSERTs into es.retention_registry with
-- es.create_retention, and drop the \i of this file.  Calls are written
-- "SELECT FROM ...", so the output does not depend on what they return.
CREATE FUNCTION pg_temp.lifecycle_event(stream text, type text, extra jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM es.append('$' || stream, NULL, es.event(type,
        jsonb_build_object('stream_id', stream, 'version', es.stream_version(stream)) || extra));
END $$;

CREATE FUNCTION pg_temp.delete_stream(stream text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE es.streams SET hidden_through = version WHERE stream_id = stream;
    PERFORM pg_temp.lifecycle_event(stream, '$deleted');
END $$;

CREATE FUNCTION pg_temp.truncate_stream(stream text, before_version bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE es.streams SET hidden_through = greatest(hidden_through, before_version - 1)
    WHERE stream_id = stream;
    PERFORM pg_temp.lifecycle_event(stream, '$truncated',
        jsonb_build_object('before_version', before_version));
END $$;

CREATE FUNCTION pg_temp.tombstone_stream(stream text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO es.streams (stream_id, category, version, created_at, updated_at, tombstoned)
    VALUES (stream, split_part(stream, '-', 1), 0, now(), now(), true)
    ON CONFLICT (stream_id) DO UPDATE SET tombstoned = true;
    PERFORM pg_temp.lifecycle_event(stream, '$tombstoned');
END $$;
