# 100-event batches to a random one of 10,000 streams, no expected version.
title="100-event batches, no expected version"
describe="Starts empty; each transaction appends 100 events (distinct small
payloads) to a random one of 10,000 streams, in one statement on both sides.
A: \`es.append(s, NULL, VARIADIC ARRAY[es.event(...), ... x100])\`.
B: a CTE that upserts the counter by 100 and a multi-row
\`INSERT ... SELECT\` of the 100 rows (a VALUES list) numbered from it."
unit=events
per_tx=100
clients="1 4"
sync="on"

setup_sql() { :; }

batch_payload() {	# $1: event number
    printf '{"amount": %d, "currency": "EUR", "note": "benchmark event payload"}' "$1"
}

script_a() {
    echo '\set n random(1, 10000)'
    echo "SELECT es.append('acct-' || :n, NULL, VARIADIC ARRAY["
    for i in $(seq 1 100); do
        printf "  es.event('Deposited', '%s')%s\n" "$(batch_payload "$i")" "$([ "$i" = 100 ] || echo ,)"
    done
    echo "]);"
}

script_b() {
    echo '\set n random(1, 10000)'
    cat <<'SQL'
WITH v AS (INSERT INTO raw.streams AS s (stream_id, category, version, created_at, updated_at)
           VALUES ('acct-' || :n, 'acct', 100, now(), now())
           ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 100, updated_at = now()
           RETURNING s.stream_id, s.version)
INSERT INTO raw.events (stream_id, stream_version, event_id, event_type,
                        schema_version, data, metadata, occurred_at)
SELECT v.stream_id, v.version - 100 + e.k, es.uuid_v7(), e.t, 1, e.d::jsonb, NULL, now()
FROM v, (VALUES
SQL
    for i in $(seq 1 100); do
        printf "  (%d, 'Deposited', '%s')%s\n" "$i" "$(batch_payload "$i")" "$([ "$i" = 100 ] || echo ,)"
    done
    echo ") AS e(k, t, d);"
}
