#!/usr/bin/env bash
# What the lock buckets of consistency boundaries cost the log's horizon
# (es.log_horizon, which every es.read_all, es.read_events, es.poll and
# async projection computes, scans the lock table).  HOLDERS transactions
# stay open after appending: with no tags (one position lock and one type
# bucket each), with 3 tags, with 31 tags (32 buckets each, the most a
# transaction holds before it escalates), or past the cap (escalated: one
# escalation lock each).  Then pgbench runs SELECT es.log_horizon() for SECONDS with
# nothing else open and with each kind of holder; prints the rate and the
# lock table's size, alternating the kinds ROUNDS times.
#
#   ES_PG_ROOT=/path/root bench/experiments/dcb_horizon.sh [HOLDERS] [SECONDS] [ROUNDS]
set -eu
source "$(dirname "$0")/../lib.sh"
cd "$ES_ROOT"
holders=${1:-40}
seconds=${2:-8}
rounds=${3:-3}

es_build_install
es_scratch work dcb_horizon
es_cluster_start "$work/cluster" "shared_buffers = 256MB" "max_connections = $((holders + 20))" "jit = off"
es_psql -d postgres -c "CREATE DATABASE bench"
es_psql -d bench -c "CREATE EXTENSION event_sourcing"
echo 'SELECT es.log_horizon();' >"$work/horizon.sql"
chmod 644 "$work/horizon.sql"

# hold KIND: HOLDERS sessions that append and stay in their transaction
pids=()
hold() {
    local kind=$1 i n=0 tries=0
    case $kind in
        untagged) n=0 ;;
        tags3) n=3 ;;
        tagged) n=31 ;;
        escalated) n=60 ;;
    esac
    # events of up to 30 tags each, n tags in all
    events="es.event('Held', '{}')"
    [ "$n" -gt 0 ] && events="VARIADIC (SELECT array_agg(es.event('Held', '{}', tags => t)) FROM (SELECT array_agg('h' || :i || '-' || j) AS t FROM generate_series(1, $n) j GROUP BY j / 30) g)"
    for i in $(seq "$holders"); do
        printf '%s\n' "\\set i $i" "BEGIN;" \
            "SELECT es.append('h-' || :i, NULL, $events);" \
            "SELECT pg_sleep(3600);" |
            PGAPPNAME=holder es_pg psql -X -q -d bench >/dev/null 2>&1 &
        pids+=($!)
    done
    until [ "$(es_psql -d bench -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND query LIKE '%pg_sleep%'")" = "$holders" ]; do
        sleep 0.2
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || { echo "the holders did not all start (see the server log)" >&2; exit 1; }
    done
}
release() {
    es_psql -d bench -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
trap 'release; es_cluster_stop "$work/cluster"' EXIT

for r in $(seq "$rounds"); do
    for kind in none untagged tags3 tagged escalated; do
        [ "$kind" != none ] && hold "$kind"
        locks=$(es_psql -d bench -At -c "SELECT count(*) FROM pg_locks")
        tps=$(es_pg pgbench -n -c 1 -T "$seconds" -f "$work/horizon.sql" bench | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        echo "round $r $kind holders=$([ "$kind" = none ] && echo 0 || echo "$holders") pg_locks=$locks horizon/s=$tps"
        [ "$kind" != none ] && release
    done
done
