#!/usr/bin/env bash
# Background worker (issue 19), commit-to-handler latency: one pgbench
# client appends one event at a fixed rate; an async projection's handler,
# run by the worker, records how long after the append's statement it saw
# the event.  A: wake-ups on (the appending commit sets the worker's
# latch); B: wake-ups off (the worker finds events every worker_naptime,
# 1 s here).  Median and 99th percentile in ms, interleaved A B A B.
# Standalone (run it directly; it needs a cluster of its own with the
# library preloaded, so bench/run.sh does not source it).
# Usage: ES_PG_ROOT=DIR bash bench/workloads/worker_latency.sh [seconds] [rate] [rounds]
set -eu
source "$(dirname "$0")/../lib.sh"
cd "$ES_ROOT"
seconds=${1:-15}
rate=${2:-20}
rounds=${3:-2}

es_lock
es_build_install >/dev/null
es_scratch dir bench_latency
es_cluster_start "$dir" "shared_buffers = 256MB" "synchronous_commit = on" \
    "shared_preload_libraries = 'event_sourcing'" \
    "event_sourcing.worker_databases = 'bench'" "event_sourcing.worker_naptime = '1s'"
es_store bench
es_psql -d bench <<'SQL'
CREATE TABLE latency (ms double precision);
CREATE FUNCTION seen(e es.events) RETURNS void LANGUAGE sql AS $$
    INSERT INTO latency
    VALUES (extract(epoch FROM clock_timestamp() - (e.data->>'t')::timestamptz) * 1000)
$$;
SELECT es.create_projection('latency', 'seen(es.events)', async => true, tables => '{latency}');
SQL
# the worker started before its database existed: wait for its restart
until [ "$(es_psql -d bench -At -c "SELECT state FROM es.workers")" = idle ]; do sleep 0.2; done
cat >"$dir/append.sql" <<'SQL'
\set s random(1, 1000)
SELECT es.append('l-' || :s, NULL, es.event('Tick', jsonb_build_object('t', clock_timestamp())));
SQL
es_give "$dir/append.sql"

measure() {
    es_psql -d bench -c "ALTER SYSTEM SET event_sourcing.worker_wakeups = $1" \
        -c "SELECT pg_reload_conf()" -c "TRUNCATE latency" >/dev/null
    sleep 1.5
    es_pg pgbench -n -c 1 -R "$rate" -T "$seconds" -f "$dir/append.sql" bench >/dev/null
    until [ "$(es_psql -d bench -At -c "SELECT events_behind FROM es.projections WHERE name = 'latency'")" = 0 ]; do
        sleep 0.2
    done
    es_psql -d bench -At -F ' ' -c "SELECT count(*),
        round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
        round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM latency"
}

echo "== commit-to-handler latency, $rate appends/s for $seconds s: events, median ms, p99 ms"
for round in $(seq 1 "$rounds"); do
    echo "round $round: wake-ups on:  $(measure on)"
    echo "round $round: naptime only: $(measure off)"
done
