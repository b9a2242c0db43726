#!/usr/bin/env bash
# Async projections: catch-up speed and the cost to appenders.
#  1. 1,000,000 events appended (1,000 per es.append), then one
#     es.run_projections(1000000) through a no-op PL/pgSQL handler:
#     events per second.
#  2. pgbench appenders (one event per transaction) with no projection,
#     then with an async projection registered (never run): the ratio.
# Usage: ES_PG_ROOT=/tmp/pg-x bash bench/async_projections.sh [events] [seconds]
set -eu
source "$(dirname "$0")/lib.sh"
cd "$ES_ROOT"
events=${1:-1000000}
seconds=${2:-15}

es_lock
es_build_install
es_scratch dir bench_async
es_cluster_start "$dir" "shared_buffers = 512MB" "max_wal_size = 4GB" "synchronous_commit = off"
es_store bench
es_psql -d bench <<SQL
CREATE FUNCTION noop(e es.events) RETURNS void LANGUAGE plpgsql AS 'BEGIN NULL; END';
DO \$\$
BEGIN
    FOR b IN 1..($events / 1000) LOOP
        PERFORM es.append('s-' || b, NULL, VARIADIC
            (SELECT array_agg(es.event('Tick', jsonb_build_object('i', i))) FROM generate_series(1, 1000) i));
        IF b % 100 = 0 THEN COMMIT; END IF;
    END LOOP;
END \$\$;
VACUUM ANALYZE es.events;
SELECT es.create_projection('catch_up', 'noop(es.events)', async => true);
SQL

echo "== catch-up of $events events"
es_psql -d bench -At <<SQL
SELECT pg_catalog.clock_timestamp() AS t0 \gset
SELECT es.run_projections($events) AS applied;
SELECT 'seconds ' || round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2),
       'events/s ' || round($events / extract(epoch FROM clock_timestamp() - :'t0'))::bigint;
SQL
es_psql -d bench -c "SELECT es.drop_projection('catch_up')"

cat >"$dir/append.sql" <<'SQL'
\set s random(1, 100000)
SELECT es.append('w-' || :s, NULL, es.event('Tick', '{"i": 1}'));
SQL
es_give "$dir/append.sql"
bench_tps() {
    es_pg pgbench -n -c 8 -j 8 -T "$seconds" -f "$dir/append.sql" bench | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
echo "== appenders, $seconds s each, alternating"
for round in 1 2; do
    none=$(bench_tps)
    es_psql -d bench -c "SELECT es.create_projection('idle', 'noop(es.events)', async => true)" >/dev/null
    with=$(bench_tps)
    es_psql -d bench -c "SELECT es.drop_projection('idle')" >/dev/null
    echo "round $round: no projection $none tps, async projection registered $with tps, ratio $(echo "scale=3; $none / $with" | bc)"
done
