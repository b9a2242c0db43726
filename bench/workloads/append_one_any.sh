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
    echo '\set n random(1, 10000)'
    append_one_sql "'acct-' || :n" NULL
}

script_b() {
    cat <<'SQL'
\set n random(1, 10000)
WITH v AS (INSERT INTO raw.streams AS s (stream_id, category, version, created_at, updated_at)
           VALUES ('acct-' || :n, 'acct', 1, now(), now())
           ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now()
           RETURNING s.stream_id, s.version)
SQL
    raw_insert_one_sql
}
