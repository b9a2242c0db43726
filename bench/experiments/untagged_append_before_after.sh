#!/usr/bin/env bash
# Untagged es.append throughput of this checkout against an earlier commit
# (default: the merge base with main), in one run: the earlier commit is
# built into a second private install ($ES_PG_ROOT-before), each build gets
# a cluster of its own, and the runs alternate between the two (ABBA), so
# that both sides see the same machine load.  Prints every run and the
# ratio of the medians.
#
#   ES_PG_ROOT=/path/root bench/experiments/untagged_append_before_after.sh [REV] [ROUNDS] [APPENDS]
#
# The workload: one untagged event per transaction to one of 10,000
# streams, no expected version (what the bookkeeping of the consistency
# boundaries adds to every append: one bucket lock per type).
set -eu
: "${ES_PG_ROOT:?set ES_PG_ROOT to a private install root}"
source "$(dirname "$0")/../lib.sh"
cd "$ES_ROOT"
rev=${1:-$(git merge-base HEAD main)}
rounds=${2:-6}
appends=${3:-20000}

after_root=$ES_PG_ROOT
before_root=$ES_PG_ROOT-before
work=$(mktemp -d /tmp/es_before_after.XXXXXX)
chmod 755 "$work"
trap 'for s in before after; do es_cluster_stop "$work/$s"; done; rm -rf "$work"' EXIT

# the earlier commit's sources, built into the second root
mkdir "$work/src"
git archive "$rev" | tar -x -C "$work/src"
(
    export ES_PG_ROOT=$before_root
    source "$work/src/test/lib.sh"
    make -C "$work/src" -s clean >/dev/null
    es_build_install
)
es_build_install

settings=("shared_buffers = 256MB" "max_wal_size = 4GB" "checkpoint_timeout = 30min"
          "jit = off" "synchronous_commit = off")
declare -A port
for side in before after; do
    root=$after_root
    [ "$side" = before ] && root=$before_root
    PG_BINDIR=$root/usr/lib/postgresql/$PG_MAJOR/bin
    es_cluster_start "$work/$side" "${settings[@]}"
    port[$side]=$PGPORT
    es_psql -d postgres -c "CREATE DATABASE bench"
    es_psql -d bench -c "CREATE EXTENSION event_sourcing"
    es_psql -d bench -c "SELECT es.append('acct-' || i, 0, es.event('Opened', '{}')) FROM generate_series(1, 10000) i" >/dev/null
done
PG_BINDIR=$after_root/usr/lib/postgresql/$PG_MAJOR/bin

# CPU time, not wall time: on a shared machine the wall time of a run
# swings by 4x with the other work, the CPU time a backend spends per
# append much less.  Each round runs a procedure in each cluster that
# appends N untagged events, one per transaction (synchronous_commit off),
# and reads its own CPU time from /proc/self/schedstat before and after.
for side in before after; do
    PGHOST=$work/$side PGPORT=${port[$side]} es_psql -d bench <<'SQL'
CREATE FUNCTION public.cpu_ns() RETURNS bigint LANGUAGE sql
RETURN split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
CREATE PROCEDURE public.appends(n int, INOUT ns_per_append bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE t0 bigint; i int;
BEGIN
    t0 := public.cpu_ns();
    FOR i IN 1..n LOOP
        PERFORM es.append('acct-' || (1 + (i * 7919) % 10000), NULL,
                          es.event('Deposited', '{"amount": 42, "currency": "EUR", "note": "benchmark event payload"}'));
        COMMIT;
    END LOOP;
    ns_per_append := (public.cpu_ns() - t0) / n;
END $$;
SQL
done
run() {
    PGHOST=$work/$1 PGPORT=${port[$1]} PGOPTIONS="-c synchronous_commit=off" \
        es_psql -d bench -At -c "CALL public.appends($2)"
}
for side in before after; do run "$side" 2000 >/dev/null; done   # warm up
: >"$work/results"
for r in $(seq "$rounds"); do
    order="before after"
    [ $((r % 2)) = 0 ] && order="after before"	# ABBA: neither side always runs second
    for side in $order; do
        ns=$(run "$side" "$appends")
        echo "round $r $side $ns" | tee -a "$work/results"
    done
done
awk '
    function median(a, n,   i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    $3 == "before" { b[++nb] = $4 }
    $3 == "after" { a[++na] = $4 }
    END {
        mb = median(b, nb); ma = median(a, na)
        printf "median CPU per append: before %.1f us, after %.1f us; throughput after/before %.3f\n", mb / 1000, ma / 1000, mb / ma
    }' "$work/results"
