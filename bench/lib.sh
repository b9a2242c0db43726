# Shared by the bench's scripts (bench/run.sh, bench/profile.sh,
# bench/async_projections.sh) and its workloads (bench/workloads/*.sh,
# sourced by run.sh and profile.sh): the cluster's settings, the benchmark
# database, pgbench, and the SQL that several workloads use.  Source it; it
# sources test/lib.sh and defines functions.

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$BENCH/../test/lib.sh"

# The cluster's settings: bench/settings.conf (synchronous_commit is set per run).
mapfile -t SETTINGS < <(grep -v '^#' "$BENCH/settings.conf" | grep .)

# bench_db: a fresh database "bench" with the extension, the baseline's
# tables (bench/sql/raw_schema.sql) and what the workload's setup_sql prints.
bench_db() {
    es_psql -d postgres -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
    es_psql -d bench -c "CREATE EXTENSION event_sourcing" -f "$BENCH/sql/raw_schema.sql"
    setup_sql | es_psql -d bench
}

# bench_pgbench ARGS: pgbench with prepared statements against "bench".
bench_pgbench() {
    es_pg pgbench -n -M prepared "$@" bench
}

# fill_sql SCHEMA STREAMS EVENTS: psql lines topping store SCHEMA (es or
# raw) up to EVENTS events over STREAMS streams (bench/sql/fill.sql).
fill_sql() {
    printf '\\set s %s\n\\set streams %s\n\\set events %s\n\\i %s\n' \
        "$1" "$2" "$3" "$BENCH/sql/fill.sql"
}

# The event of the single-event workloads: type Deposited, this payload.
PAYLOAD='{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}'

# append_one_sql STREAM EXPECTED [TYPE]: es.append of that event (of
# another type if given), STREAM and EXPECTED being SQL expressions.
append_one_sql() {
    printf "SELECT es.append(%s, %s,\n                 es.event('%s', '%s'));\n" \
        "$1" "$2" "${3:-Deposited}" "$PAYLOAD"
}

# raw_insert_one_sql: side B, the INSERT of that event into raw.events at
# the stream and version returned by the statement's CTE v.
raw_insert_one_sql() {
    cat <<SQL
INSERT INTO raw.events (stream_id, stream_version, event_id, event_type,
                        schema_version, data, metadata, occurred_at)
SELECT v.stream_id, v.version, es.uuid_v7(), 'Deposited', 1,
       '$PAYLOAD', NULL, now()
FROM v;
SQL
}

# The reducers of the fold workloads, computing the same balance: sum_rules
# (declarative rules) and sum_pl (a PL/pgSQL function).
sum_rules_sql() {
    cat <<'SQL'
SELECT es.create_reducer('sum_rules', '{"balance": 0}',
    rules => '{"Deposited": [{"op": "add", "target": "$.balance", "from": "$.data.amount"}]}');
SQL
}
sum_pl_sql() {
    cat <<'SQL'
CREATE FUNCTION sum_pl(state jsonb, event es.events) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('balance', (state->>'balance')::numeric + (event.data->>'amount')::numeric);
END $$;
SELECT es.create_reducer('sum_pl', '{"balance": 0}', 'sum_pl(jsonb, es.events)');
SQL
}
