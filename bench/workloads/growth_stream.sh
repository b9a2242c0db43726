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
        fill_sql "$s" 1 "$1"
    done
}

script_a() {
    append_one_sql "'acct-1'" NULL
}

script_b() {
    cat <<'SQL'
WITH v AS (INSERT INTO raw.streams AS s (stream_id, category, version, created_at, updated_at)
           VALUES ('acct-1', 'acct', 1, now(), now())
           ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now()
           RETURNING s.stream_id, s.version)
SQL
    raw_insert_one_sql
}
