#!/usr/bin/env bash
# Untagged es.append throughput of this checkout against an earlier commit
# (default: the merge base with main), in one run: the earlier commit is
# built into a second private install ($ES_PG_ROOT-before), each build gets
# a cluster of its own, and pgbench runs alternate between the two, so that
# both sides see the same machine load.  Prints every run and the ratio of
# the medians (after / before).
#
#   ES_PG_ROOT=/path/root bench/experiments/untagged_append_before_after.sh [REV] [ROUNDS] [SECONDS] [CLIENTS]
#
# The workload: one untagged event per transaction to a random one of
# 10,000 streams, no expected version (what the bookkeeping of the
# consistency boundaries adds to every append: one bucket lock per type).
set -eu
: "${ES_PG_ROOT:?set ES_PG_ROOT to a private install root}"
source "$(dirname "$0")/../lib.sh"
cd "$ES_ROOT"
rev=${1:-$(git merge-base HEAD main)}
rounds=${2:-5}
seconds=${3:-10}
clients=${4:-2}

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

cat >"$work/append.sql" <<SQL
\\set n random(1, 10000)
$(append_one_sql "'acct-' || :n" NULL)
SQL
chmod 644 "$work/append.sql"

run() {
    PGHOST=$work/$1 PGPORT=${port[$1]} es_pg pgbench -n -M prepared -c "$clients" -j "$clients" \
        -T "$2" -f "$work/append.sql" bench | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
for side in before after; do run "$side" 3 >/dev/null; done   # warm up
: >"$work/results"
for r in $(seq "$rounds"); do
    order="before after"
    [ $((r % 2)) = 0 ] && order="after before"	# ABBA: neither side always runs second
    for side in $order; do
        tps=$(run "$side" "$seconds")
        echo "round $r $side $tps" | tee -a "$work/results"
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
        printf "median tps: before %.0f, after %.0f, after/before %.3f\n", mb, ma, ma / mb
    }' "$work/results"
