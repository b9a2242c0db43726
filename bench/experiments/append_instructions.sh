#!/usr/bin/env bash
# Instructions per single-event append, counted by valgrind's callgrind in a
# single-user backend (postgres --single), so that the count does not depend
# on what else the machine is doing: a before/after measure for changes to
# the append path, where pgbench's transactions/s on a shared machine vary
# by more than the change.
#
#   ES_PG_ROOT=DIR bench/experiments/append_instructions.sh [WORKLOAD...] [-- OPTIONS]
#
# Builds and installs this checkout into ES_PG_ROOT, makes one cluster with
# the bench's tables (bench/sql/raw_schema.sql, bench/sql/guarded_schema.sql)
# and 10,000 streams of one event in each store, then for each workload runs
# N1 and N2 statements (one transaction each) through callgrind and prints
# (instructions(N2) - instructions(N1)) / (N2 - N1): the start-up, the
# first statement's catalog loading and the shutdown cancel out.  Workloads:
#   es_any      es.append(s, NULL, es.event(...))
#   es_exact    es.append(s, es.stream_version(s), es.event(...))
#   raw_any     the plain-SQL CTE of bench/workloads/append_one_any.sh
#   raw_exact   the plain-SQL CTE of bench/workloads/append_one_exact.sh
#   guarded_any / guarded_exact: the plain SQL with the guarantees es.append
#               gives (bench/sql/guarded_schema.sql)
# Environment: N1 (default 200), N2 (default 1200), SYNC (on or off, default
# off), MEASURE=cpu (CPU microseconds instead of instructions: not
# repeatable on a busy machine, but it counts what instructions do not,
# cache misses and system calls; run it several times, alternating builds), ES_CALLGRIND_OUT=DIR keeps the callgrind.out files of the runs
# there, named callgrind.WORKLOAD.SYNC.N (bench/experiments/callgrind_diff.py
# A-FILE B-FILE N shows per-function inclusive instructions per statement).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
n1=${N1:-200}
n2=${N2:-1200}
sync=${SYNC:-off}
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(raw_any guarded_any es_any raw_exact guarded_exact es_exact)

cd "$ES_ROOT"
es_install_deps
es_lock
es_build_install
es_scratch work instructions
es_cluster_start "$work/c" "shared_buffers = 256MB" "max_wal_size = 8GB" "jit = off"
bench_db_plain() {
    es_psql -d postgres -c "CREATE DATABASE bench"
    es_psql -d bench -c "CREATE EXTENSION event_sourcing" -f "$BENCH/sql/raw_schema.sql" \
        -f "$BENCH/sql/guarded_schema.sql"
    for s in es raw guarded; do fill_sql $s 10000 10000 | es_psql -d bench; done
    es_psql -d bench -c "VACUUM ANALYZE"
}
bench_db_plain
as_pg "$PG_BINDIR/pg_ctl" -D "$work/c/data" -w stop >/dev/null

# statements WORKLOAD N: a PREPARE and N one-line EXECUTEs for the
# single-user backend (prepared, as pgbench -M prepared runs them)
statements() {
    local wl=$1 n=$2 i s='$1'
    s="'acct-' || \$1"
    case $wl in
        es_any) echo "PREPARE p(int) AS SELECT es.append($s, NULL, es.event('Deposited', '$PAYLOAD'));" ;;
        es_exact) echo "PREPARE p(int) AS SELECT es.append($s, es.stream_version($s), es.event('Deposited', '$PAYLOAD'));" ;;
        guarded_any)
            echo "PREPARE p(int) AS WITH i AS (SELECT es.uuid_v7() AS id), v AS (INSERT INTO guarded.streams AS s (stream_id, category, version, created_at, updated_at) VALUES ($s, 'acct', 1, now(), now()) ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now() WHERE NOT EXISTS (SELECT FROM guarded.events e WHERE e.event_id = (SELECT id FROM i)) RETURNING s.stream_id, s.version) INSERT INTO guarded.events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, occurred_at) SELECT v.stream_id, v.version, i.id, 'Deposited', 1, '$PAYLOAD', NULL, now() FROM v, i;" ;;
        raw_any)
            echo "PREPARE p(int) AS WITH v AS (INSERT INTO raw.streams AS s (stream_id, category, version, created_at, updated_at) VALUES ($s, 'acct', 1, now(), now()) ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now() RETURNING s.stream_id, s.version) INSERT INTO raw.events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, occurred_at) SELECT v.stream_id, v.version, es.uuid_v7(), 'Deposited', 1, '$PAYLOAD', NULL, now() FROM v;" ;;
        raw_exact|guarded_exact)
            local schema=${wl%_exact}
            echo "PREPARE p(int) AS WITH cur AS (SELECT version FROM $schema.streams WHERE stream_id = $s), v AS (UPDATE $schema.streams AS s SET version = cur.version + 1, updated_at = now() FROM cur WHERE s.stream_id = $s AND s.version = cur.version RETURNING s.stream_id, s.version) INSERT INTO $schema.events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, occurred_at) SELECT v.stream_id, v.version, es.uuid_v7(), 'Deposited', 1, '$PAYLOAD', NULL, now() FROM v;" ;;
        *) echo "unknown workload $wl" >&2; exit 2 ;;
    esac
    for ((i = 0; i < n; i++)); do
        echo "EXECUTE p($((i * 7919 % 10000 + 1)));"
    done
}

# count WORKLOAD N: instructions of a single-user backend running N statements
# (with MEASURE=cpu: its CPU time, user + system, in microseconds)
count() {
    local wl=$1 n=$2 out=$work/callgrind.$1.$2
    statements "$wl" "$n" >"$work/in.sql"
    chmod 644 "$work/in.sql"
    if [ "${MEASURE:-}" = cpu ]; then
        local TIMEFORMAT='%3U %3S' t
        t=$( { time as_pg "$PG_BINDIR/postgres" --single -D "$work/c/data" -c synchronous_commit="$sync" \
            -c jit=off bench <"$work/in.sql" >"$work/out.$wl.$n" 2>&1; } 2>&1 )
        awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%d\n", (a[1] + a[2]) * 1e6 }'
        return
    fi
    as_pg valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$PG_BINDIR/postgres" --single -D "$work/c/data" -c synchronous_commit="$sync" \
        -c jit=off bench <"$work/in.sql" >"$work/out.$wl.$n" 2>"$work/vg.$wl.$n" ||
        { tail -20 "$work/vg.$wl.$n"; exit 1; }
    if grep -q ERROR "$work/out.$wl.$n"; then grep -m3 ERROR "$work/out.$wl.$n" >&2; exit 1; fi
    [ -n "${ES_CALLGRIND_OUT:-}" ] && cp "$out" "$ES_CALLGRIND_OUT/callgrind.$wl.$sync.$n"
    sed -n 's/^summary: //p' "$out"
}

[ -n "${ES_CALLGRIND_OUT:-}" ] && mkdir -p "$ES_CALLGRIND_OUT"
echo "synchronous_commit = $sync; ${MEASURE:-instructions} per append = (I($n2) - I($n1)) / $((n2 - n1))"
for wl in "${workloads[@]}"; do
    a=$(count "$wl" "$n1")
    b=$(count "$wl" "$n2")
    printf '%-14s %8d\n' "$wl" $(( (b - a) / (n2 - n1) ))
done
