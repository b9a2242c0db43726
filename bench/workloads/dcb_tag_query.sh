# A tag query over 1,000,000 events: es.read_events against the same query
# in plain SQL over the same index.
title="Tag query over 1,000,000 events: es.read_events vs indexed SQL"
describe="1,000,000 events in 10,000 streams, each tagged with one of 10,000
tags (100 events a tag), on both sides. Each transaction reads the events
of a random tag in position order. A: \`es.read_events('[{\"tags\": [t]}]')\`
(gap-safe: below the log's horizon, upcast). B: \`SELECT * FROM raw.events
WHERE tags @> ARRAY[t] ORDER BY global_position\` over the same partial
GIN index."
unit=tps
per_tx=1
clients="1 4"
sync="on"

setup_sql() {
    for s in es raw; do
        cat <<SQL
INSERT INTO $s.events (stream_id, stream_version, event_id, event_type, data, tags)
SELECT 'acct-' || (i % 10000), i / 10000 + 1, es.uuid_v7(), 'Deposited', '$PAYLOAD', ARRAY['t:' || (i::bigint * 7919 % 10000)]
FROM generate_series(0, 999999) i;
INSERT INTO $s.streams (stream_id, category, version, created_at, updated_at)
SELECT 'acct-' || i, 'acct', 100, now(), now() FROM generate_series(0, 9999) i;
SQL
    done
}

script_a() {
    cat <<'SQL'
\set t random(0, 9999)
SELECT count(*) FROM es.read_events(jsonb_build_array(jsonb_build_object('tags', jsonb_build_array('t:' || :t))));
SQL
}

script_b() {
    cat <<'SQL'
\set t random(0, 9999)
SELECT count(*) FROM (SELECT * FROM raw.events WHERE tags @> ARRAY['t:' || :t] ORDER BY global_position) e;
SQL
}
