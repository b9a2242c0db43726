#!/usr/bin/env bash
# Background worker (issue 19), catch-up rate: the worker against
# es.run_projections(batch) called in a loop that commits after each call
# (what a scheduler does), over the same backlog, interleaved A B A B.
# Standalone (run it directly; it needs a cluster of its own with the
# library preloaded, so bench/run.sh does not source it).
# Usage: ES_PG_ROOT=DIR bash bench/workloads/worker_catchup.sh [events] [rounds]
set -eu
source "$(dirname "$0")/../lib.sh"
cd "$ES_ROOT"
events=${1:-200000}
rounds=${2:-3}

es_lock
es_build_install >/dev/null
es_scratch dir bench_worker
es_cluster_start "$dir" "shared_buffers = 512MB" "max_wal_size = 4GB" \
    "synchronous_commit = off" "shared_preload_libraries = 'event_sourcing'" \
    "event_sourcing.worker_databases = 'bench'" "event_sourcing.worker_enabled = off" \
    "event_sourcing.worker_batch_size = 1000"
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
CREATE PROCEDURE run_loop() LANGUAGE plpgsql AS \$\$
BEGIN
    LOOP
        EXIT WHEN es.run_projections(1000) = 0;
        COMMIT;
    END LOOP;
END \$\$;
SQL
last=$(es_psql -d bench -At -c "SELECT max(global_position) FROM es.events")
echo "store: $(es_psql -d bench -At -c "SELECT count(*) FROM es.events") events, last position $last"

# a fresh async projection at position 0
fresh() {
    es_psql -d bench -c "SELECT es.drop_projection('catch_up')" >/dev/null 2>&1 || true
    es_psql -d bench -c "SELECT es.create_projection('catch_up', 'noop(es.events)', async => true)" >/dev/null
}

loop_rate() {
    fresh
    es_psql -d bench -At <<SQL
SELECT clock_timestamp() AS t0 \gset
CALL run_loop();
SELECT round($events / extract(epoch FROM clock_timestamp() - :'t0'))::bigint;
SQL
}

worker_rate() {
    fresh
    # one session: enable the worker, wait in the server (10 ms sleeps)
    # until the projection's position reaches the end, disable it
    es_psql -d bench -At <<SQL
SELECT clock_timestamp() AS t0 \gset
ALTER SYSTEM SET event_sourcing.worker_enabled = on;
SELECT pg_reload_conf() \g /dev/null
DO \$\$
BEGIN
    WHILE (SELECT position FROM es.projections_registry WHERE name = 'catch_up') < $last LOOP
        PERFORM pg_sleep(0.01);
    END LOOP;
END \$\$;
SELECT round($events / extract(epoch FROM clock_timestamp() - :'t0'))::bigint;
ALTER SYSTEM SET event_sourcing.worker_enabled = off;
SELECT pg_reload_conf() \g /dev/null
SQL
}

echo "== catch-up of $events events, batches of 1000, events/s"
for round in $(seq 1 "$rounds"); do
    a=$(loop_rate)
    b=$(worker_rate)
    echo "round $round: es.run_projections(1000) loop $a, worker $b, worker/loop $(echo "scale=3; $b / $a" | bc)"
done
