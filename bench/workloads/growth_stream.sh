# Append cost as one stream grows: single events appended to one stream.
title="Growth: one event per transaction to one long stream"
describe="Every transaction appends one event to the same stream,
\`acct-1\`, with no expected version, after the stream was topped up
(directly, as above) to each length. A and B as in \"no expected version\".
1 client, synchronous_commit off."
unit=tps
per_tx=1
clients="1"
sync="off"
levels="0 10000 100000"
quick_levels="10000"
size_label="stream length (events)"

setup_sql() { :; }

grow_sql() {	# $1: events in the stream
    for s in es raw; do
        echo "\\set s $s"
        echo "\\set streams 1"
        echo "\\set events $1"
        echo "\\i $BENCH/sql/fill.sql"
    done
}

script_a() {
    cat <<'SQL'
SELECT es.append('acct-1', NULL,
                 es.event('Deposited', '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}'));
SQL
}

script_b() {
    cat <<'SQL'
WITH v AS (INSERT INTO raw.streams AS s (stream_id, category, version, created_at, updated_at)
           VALUES ('acct-1', 'acct', 1, now(), now())
           ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now()
           RETURNING s.stream_id, s.version)
INSERT INTO raw.events (stream_id, stream_version, event_id, event_type,
                        schema_version, data, metadata, occurred_at)
SELECT v.stream_id, v.version, es.uuid_v7(), 'Deposited', 1,
       '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}', NULL, now()
FROM v;
SQL
}
