# One event per transaction to a random one of 10,000 streams, no expected
# version (NULL).
title="One event per transaction, no expected version (NULL)"
describe="Starts empty; each transaction appends one event to a random one of
10,000 streams with no expected version, in one statement on both sides.
A: \`es.append(s, NULL, es.event(...))\` (which also looks the event id up
for idempotent retry). B: a CTE that upserts the stream's counter
(\`INSERT ... ON CONFLICT DO UPDATE SET version = version + 1 RETURNING\`)
and inserts the event row from it."
unit=tps
per_tx=1
clients="1 4"
sync="on off"

setup_sql() { :; }

script_a() {
    cat <<'SQL'
\set n random(1, 10000)
SELECT es.append('acct-' || :n, NULL,
                 es.event('Deposited', '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}'));
SQL
}

script_b() {
    cat <<'SQL'
\set n random(1, 10000)
WITH v AS (INSERT INTO raw.streams AS s (stream_id, category, version, created_at, updated_at)
           VALUES ('acct-' || :n, 'acct', 1, now(), now())
           ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now()
           RETURNING s.stream_id, s.version)
INSERT INTO raw.events (stream_id, stream_version, event_id, event_type,
                        schema_version, data, metadata, occurred_at)
SELECT v.stream_id, v.version, es.uuid_v7(), 'Deposited', 1,
       '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}', NULL, now()
FROM v;
SQL
}
