#!/usr/bin/env bash
# Background worker (issue 19), the appenders' cost: pgbench clients append
# one event per transaction to random streams, with an async projection
# (no-op PL/pgSQL handler) registered.  A: the worker disabled and
# wake-ups off (worker_enabled = off, worker_wakeups = off: appenders do
# nothing for the worker, nothing applies the projection while they run);
# B: the worker running, woken by the appending commits and applying the
# events as they come.  Transactions per second, interleaved A B A B, B/A,
# and how many runs the worker needed for B's commits.
# Standalone (run it directly; it needs a cluster of its own with the
# library preloaded, so bench/run.sh does not source it).
# Usage: ES_PG_ROOT=DIR bash bench/workloads/worker_append.sh [seconds] [clients] [rounds]
set -eu
source "$(dirname "$0")/../lib.sh"
cd "$ES_ROOT"
seconds=${1:-15}
clients=${2:-8}
rounds=${3:-3}

es_lock
es_build_install >/dev/null
es_scratch dir bench_wappend
es_cluster_start "$dir" "shared_buffers = 512MB" "max_wal_size = 4GB" \
    "synchronous_commit = off" "shared_preload_libraries = 'event_sourcing'" \
    "event_sourcing.worker_databases = 'bench'"
es_store bench
es_psql -d bench <<'SQL'
CREATE FUNCTION noop(e es.events) RETURNS void LANGUAGE plpgsql AS 'BEGIN NULL; END';
SELECT es.create_projection('follow', 'noop(es.events)', async => true);
SQL
until [ "$(es_psql -d bench -At -c "SELECT state FROM es.workers")" = idle ]; do sleep 0.2; done
cat >"$dir/append.sql" <<'SQL'
\set s random(1, 100000)
SELECT es.append('w-' || :s, NULL, es.event('Tick', '{"i": 1}'));
SQL
es_give "$dir/append.sql"

tps() {
    es_psql -d bench -c "ALTER SYSTEM SET event_sourcing.worker_enabled = $1" \
        -c "ALTER SYSTEM SET event_sourcing.worker_wakeups = $1" \
        -c "SELECT pg_reload_conf()" >/dev/null
    # start from a caught-up projection either way
    es_psql -d bench -At -c "SELECT es.run_projections(1000000)" >/dev/null
    sleep 1
    es_pg pgbench -n -c "$clients" -j "$clients" -T "$seconds" -f "$dir/append.sql" bench |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

echo "== appenders: $clients clients, one event per transaction, $seconds s each, tps"
for round in $(seq 1 "$rounds"); do
    a=$(tps off)
    b=$(tps on)
    echo "round $round: worker off $a, worker on $b, on/off $(echo "scale=3; $b / $a" | bc)"
done
es_psql -d bench -At -F ' ' -c "SELECT 'worker totals: runs', runs, 'wake-ups', wakeups, 'events applied', applied FROM es.workers"
