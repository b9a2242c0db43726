# One event per transaction to a random one of 10,000 streams, with the
# exact expected version, read in the same statement.
title="One event per transaction, exact expected version"
describe="10,000 streams with one event each to start with. Each transaction
picks a random stream, reads its version and appends one event expecting
exactly that version, in one statement (one round trip) on both sides.
A: \`es.append(s, es.stream_version(s), es.event(...))\`. B: a CTE that reads
\`raw.streams.version\`, updates the counter \`WHERE version = <read>\`
and inserts the event row from the RETURNING clause."
unit=tps
per_tx=1
clients="1 4"
sync="on off"

setup_sql() {
    echo "\\set s es"
    echo "\\set streams 10000"
    echo "\\set events 10000"
    echo "\\i $BENCH/sql/fill.sql"
    echo "\\set s raw"
    echo "\\i $BENCH/sql/fill.sql"
}

script_a() {
    cat <<'SQL'
\set n random(1, 10000)
SELECT es.append('acct-' || :n, es.stream_version('acct-' || :n),
                 es.event('Deposited', '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}'));
SQL
}

script_b() {
    cat <<'SQL'
\set n random(1, 10000)
WITH cur AS (SELECT version FROM raw.streams WHERE stream_id = 'acct-' || :n),
     v AS (UPDATE raw.streams AS s SET version = cur.version + 1, updated_at = now()
           FROM cur WHERE s.stream_id = 'acct-' || :n AND s.version = cur.version
           RETURNING s.stream_id, s.version)
INSERT INTO raw.events (stream_id, stream_version, event_id, event_type,
                        schema_version, data, metadata, occurred_at)
SELECT v.stream_id, v.version, es.uuid_v7(), 'Deposited', 1,
       '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}', NULL, now()
FROM v;
SQL
}
