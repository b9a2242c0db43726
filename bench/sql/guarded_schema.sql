-- A second baseline: plain tables like the raw ones (bench/sql/raw_schema.sql),
-- written with plain SQL, but with the guarantees that es.append gives and
-- the raw baseline lacks, paid the cheapest way plain SQL can:
-- * gap-safe positions: global_position defaults to es.next_position() on
--   the baseline's own sequence (the position lock under the barrier that
--   es.events uses, so that a reader of the log never skips an event that
--   commits late);
-- * idempotent retry: the script of a workload with no expected version
--   probes the unique index on event_id for the batch's id in the WHERE of
--   its upsert, as es.append does (a retry then writes nothing); with an
--   expected version a retry is recognised only on a conflict, which these
--   workloads do not have, so that case costs nothing extra on either side.
-- No triggers: projections and immutability are not part of either baseline.
CREATE SCHEMA guarded;
CREATE TABLE guarded.events (LIKE es.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE SEQUENCE guarded.events_global_position_seq AS bigint OWNED BY guarded.events.global_position;
ALTER TABLE guarded.events
    ALTER global_position SET DEFAULT es.next_position('guarded.events_global_position_seq');
CREATE TABLE guarded.streams (LIKE es.streams INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
