#!/usr/bin/env bash
# es.purge of 1,000,000 hidden events while 4 clients append.
#
#   bench/workloads/lifecycle_purge.sh [--events N] [--window SECONDS] [--rounds N]
#                                      [--batch N] [--pause MS]
#   (ES_BENCH_SYNC=off for synchronous_commit = off; default on)
#
# Not an A/B pair of pgbench scripts like the other workloads (bench/run.sh
# does not run it): it is run on its own, on a throwaway cluster with the
# bench's settings.  Each round fills a fresh store with N hidden events
# (N / 100 streams of 100 events, half deleted with es.delete_stream, half
# tombstoned) beside 10,000 live streams, starts 4 pgbench clients
# appending one event to a random live stream (no expected version), and
# measures, in the same pgbench run and interleaved:
#
#   before   appends per second over a window without purge
#   purge    appends per second while CALL es.purge() runs, and the
#            purge's rate (hidden events removed per second)
#   after    appends per second over a window without purge
#
# The appenders' ratio is purge / mean(before, after): the goal is at
# least 0.8.  Then the sizes of es.events and its indexes before the
# purge, after it and VACUUM (the space is reusable, the files do not
# shrink), and after VACUUM FULL (which locks the table: an operator's
# choice, not part of the purge).  Appends are counted from the position
# sequence, which only es.append moves.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")/.." && pwd)
source "$BENCH/lib.sh"

events=1000000
window=20
rounds=1
batch=10000
pause=0
while [ $# -gt 0 ]; do
    case $1 in
        --events) events=$2; shift ;;
        --window) window=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --batch) batch=$2; shift ;;
        --pause) pause=$2; shift ;;
        *) echo "usage: $0 [--events N] [--window SECONDS] [--rounds N] [--batch N] [--pause MS]" >&2; exit 2 ;;
    esac
    shift
done
streams=$((events / 100))

cd "$ES_ROOT"
es_install_deps
es_scratch work purge_bench
es_lock
es_build_install
# the bench's settings, with a smaller buffer pool for a shared machine
es_cluster_start "$work/cluster" "${SETTINGS[@]}" "shared_buffers = 1GB" "synchronous_commit = ${ES_BENCH_SYNC:-on}"

psql_bench() { es_psql -d bench "$@"; }
position() { psql_bench -At -c "SELECT last_value FROM es.events_global_position_seq"; }
now_s() { date +%s.%N; }
sizes() {
    psql_bench -At -c "SELECT format('%s live events; table %s, indexes %s',
        (SELECT count(*) FROM es.events),
        pg_size_pretty(pg_table_size('es.events')), pg_size_pretty(pg_indexes_size('es.events')))"
}

cat >"$work/append.sql" <<SQL
\set n random(1, 10000)
$(append_one_sql "'live-' || :n" NULL)
SQL
es_give "$work/append.sql"

echo "== CALL es.purge($batch, $pause) of $events hidden events ($streams streams) while 4 clients append;" \
     "windows of ${window} s; synchronous_commit = ${ES_BENCH_SYNC:-on}"
for round in $(seq 1 "$rounds"); do
    es_psql -d postgres -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
    psql_bench >/dev/null <<SQL
CREATE EXTENSION event_sourcing;
-- the hidden events: $streams streams of 100 events, written directly
INSERT INTO es.events (stream_id, stream_version, event_id, event_type, data, occurred_at)
SELECT 'old-' || i, k, es.uuid_v7(), 'Deposited',
       jsonb_build_object('amount', k, 'currency', 'EUR', 'note', 'benchmark event payload'), now()
FROM generate_series(1, $streams) i CROSS JOIN generate_series(1, 100) k
ORDER BY 1, 2;
INSERT INTO es.streams (stream_id, category, version, created_at, updated_at)
SELECT 'old-' || i, 'old', 100, now(), now() FROM generate_series(1, $streams) i;
-- live streams, one event each
INSERT INTO es.events (stream_id, stream_version, event_id, event_type, data, occurred_at)
SELECT 'live-' || i, 1, es.uuid_v7(), 'Deposited', '{"amount": 1}', now()
FROM generate_series(1, 10000) i;
INSERT INTO es.streams (stream_id, category, version, created_at, updated_at)
SELECT 'live-' || i, 'live', 1, now(), now() FROM generate_series(1, 10000) i;
SELECT count(es.delete_stream('old-' || i)) FROM generate_series(1, $streams, 2) i;
SELECT count(es.tombstone_stream('old-' || i)) FROM generate_series(2, $streams, 2) i;
VACUUM ANALYZE;
CHECKPOINT;
SQL
    before_sizes=$(sizes)
    hidden=$(psql_bench -At -c "SELECT count(*) FROM es.events WHERE stream_id LIKE 'old-%'")

    es_pg pgbench -n -M prepared -c 4 -j 4 -T 100000 -f "$work/append.sql" bench \
        >"$work/pgbench-$round.log" 2>&1 &
    pgbench_pid=$!
    sleep 5                                   # warm-up
    t0=$(now_s); p0=$(position)
    sleep "$window"
    t1=$(now_s); p1=$(position)
    psql_bench -c "CALL es.purge($batch, $pause)"
    t2=$(now_s); p2=$(position)
    sleep "$window"
    t3=$(now_s); p3=$(position)
    # stop the appenders: pgbench (run as the cluster's owner) ends when
    # its clients' backends do
    psql_bench -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                       WHERE datname = 'bench' AND application_name = 'pgbench'" >/dev/null
    wait "$pgbench_pid" 2>/dev/null || true

    left=$(psql_bench -At -c "SELECT count(*) FROM es.events WHERE stream_id LIKE 'old-%'")
    purged=$((hidden - left))
    psql_bench -c "VACUUM es.events"
    vacuumed_sizes=$(sizes)
    psql_bench -c "VACUUM FULL es.events"
    full_sizes=$(sizes)
    awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v p0="$p0" -v p1="$p1" -v p2="$p2" \
        -v p3="$p3" -v purged="$purged" -v left="$left" -v round="$round" 'BEGIN {
        before = (p1 - p0) / (t1 - t0); during = (p2 - p1) / (t2 - t1); after = (p3 - p2) / (t3 - t2)
        printf "round %d: appends/s before %.0f, during purge %.0f, after %.0f: ratio %.2f\n",
            round, before, during, after, during / ((before + after) / 2)
        printf "round %d: purge removed %d hidden events in %.1f s: %.0f events/s (%d hidden events left)\n",
            round, purged, t2 - t1, purged / (t2 - t1), left
    }'
    echo "round $round: sizes before purge (after VACUUM): $before_sizes"
    echo "round $round: sizes after purge and VACUUM:      $vacuumed_sizes"
    echo "round $round: sizes after VACUUM FULL:           $full_sizes"
done
