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
    fill_sql es 10000 10000
    fill_sql raw 10000 10000
}

script_a() {
    echo '\set n random(1, 10000)'
    append_one_sql "'acct-' || :n" "es.stream_version('acct-' || :n)"
}

script_b() {
    cat <<'SQL'
\set n random(1, 10000)
WITH cur AS (SELECT version FROM raw.streams WHERE stream_id = 'acct-' || :n),
     v AS (UPDATE raw.streams AS s SET version = cur.version + 1, updated_at = now()
           FROM cur WHERE s.stream_id = 'acct-' || :n AND s.version = cur.version
           RETURNING s.stream_id, s.version)
SQL
    raw_insert_one_sql
}
