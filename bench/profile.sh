#!/usr/bin/env bash
# Where the time of a single-event append goes: runs the exact-expected-
# version workload (bench/workloads/append_one_exact.sh), one client,
# synchronous_commit off, and samples the backend with perf, first for the
# extension's script (A), then for the plain-SQL baseline (B).
#
#   bench/profile.sh [SECONDS]     writes bench/out/profile-{A,B}-{self,children}.txt
#                                  and keeps bench/out/perf-{A,B}.data for perf report
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds=${1:-15}
wl=${ES_PROFILE_WORKLOAD:-append_one_exact}
command -v perf >/dev/null || as_root apt-get install -y -qq linux-perf >/dev/null
mkdir -p "$BENCH/out"

cd "$ES_ROOT"
es_install_deps
es_lock
es_build_install

es_scratch work profile
es_cluster_start "$work/cluster" "${SETTINGS[@]}"
source "$BENCH/workloads/$wl.sh"
script_a >"$work/a.sql"
script_b >"$work/b.sql"
bench_db
es_psql -d bench -c "VACUUM ANALYZE"

for side in A B; do
    script=$work/$([ $side = A ] && echo a || echo b).sql
    PGOPTIONS="-c synchronous_commit=off" bench_pgbench -c 1 -T $((seconds + 4)) \
        -f "$script" >"$work/pgbench-$side.log" 2>&1 &
    bench_pid=$!
    sleep 2
    pid=$(es_psql -d postgres -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = 'bench' LIMIT 1")
    echo "== $side: perf record on backend $pid for $seconds s"
    perf record -q -F 999 --call-graph dwarf,16384 -p "$pid" -o "$BENCH/out/perf-$side.data" -- sleep "$seconds" 2>/dev/null
    wait "$bench_pid"
    grep '^tps' "$work/pgbench-$side.log"
    perf report -i "$BENCH/out/perf-$side.data" --no-children --sort dso,symbol --stdio -g none \
        --percent-limit 0.7 2>/dev/null | grep -v '^$' >"$BENCH/out/profile-$side-self.txt"
    perf report -i "$BENCH/out/perf-$side.data" --children --sort symbol --stdio -g none \
        --percent-limit 1 2>/dev/null | grep -v '^$' >"$BENCH/out/profile-$side-children.txt"
done
echo "== written: bench/out/profile-{A,B}-{self,children}.txt"
