#!/usr/bin/env bash
# The single-event append against its plain-SQL limits, before and after a
# change, in one run: builds the extension of a git revision (BEFORE, default
# main) and of this checkout into two private copies of PostgreSQL, starts a
# cluster of each, and runs pgbench on the single-event workloads
# (bench/workloads/append_one_any.sh, append_one_exact.sh) interleaved, in
# this order every round:
#   raw@before  es@before  raw@after  es@after  guarded@after
# raw is the workload's plain-SQL side B (bench/sql/raw_schema.sql); guarded
# is the same plain SQL with the guarantees es.append gives and raw lacks
# (gap-safe positions, the idempotency probe: bench/sql/guarded_schema.sql).
# Prints, per workload, client count and synchronous_commit, the median
# transactions/s of each side and the ratios es/raw (before and after),
# es/guarded (after) and after/before, and with one client the same for the
# server backend's CPU time per transaction; the raw figures go to
# bench/out/gap-results.tsv.
#
#   bench/experiments/append_gap.sh [BEFORE]
#   environment: RUNS (3), DURATION (8 s), CLIENTS ("1 4"), SYNC ("on off"),
#                WORKLOADS ("append_one_any append_one_exact"),
#                SIDES (the order above; a subset leaves its ratios empty)
# Installs nothing shared and takes no lock.  The machine's other work shows
# in the spread: compare ratios of sides that ran next to each other.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
before_ref=${1:-main}
runs=${RUNS:-3}
duration=${DURATION:-8}
clients=${CLIENTS:-1 4}
syncs=${SYNC:-on off}
workloads=${WORKLOADS:-append_one_any append_one_exact}
sides=${SIDES:-raw@before es@before raw@after es@after guarded@after}

cd "$ES_ROOT"
es_install_deps
es_scratch work gap
mkdir -p "$BENCH/out"
results=$BENCH/out/gap-results.tsv

# install SRC DEST: build the extension in SRC into a private copy of
# PostgreSQL under DEST (found relative to its binaries)
install_into() {
    local src=$1 dest=$2
    mkdir -p "$dest/usr/lib/postgresql" "$dest/usr/share/postgresql"
    cp -a "/usr/lib/postgresql/$PG_MAJOR" "$dest/usr/lib/postgresql/"
    cp -a "/usr/share/postgresql/$PG_MAJOR" "$dest/usr/share/postgresql/"
    make -C "$src" -s clean >/dev/null
    make -C "$src" -s PG_CONFIG="$(es_pg_config)" >/dev/null
    make -C "$src" -s PG_CONFIG="$(es_pg_config)" DESTDIR="$dest" install >/dev/null
}
echo "== building $before_ref (before) and this checkout (after)"
mkdir "$work/before-src"
git -C "$ES_ROOT" archive "$before_ref" | tar -x -C "$work/before-src"
install_into "$work/before-src" "$work/pg-before"
cp -r "$ES_ROOT/." "$work/after-src"
install_into "$work/after-src" "$work/pg-after"

declare -A host port
system_bindir=$PG_BINDIR
for side in before after; do
    PG_BINDIR=$work/pg-$side$system_bindir
    es_cluster_start "$work/c-$side" "${SETTINGS[@]}" "shared_buffers = 1GB"
    host[$side]=$PGHOST port[$side]=$PGPORT
done

# on SIDE COMMAND...: run COMMAND against the cluster of SIDE
on() {
    local side=$1; shift
    PG_BINDIR=$work/pg-$side$system_bindir PGHOST=${host[$side]} PGPORT=${port[$side]} "$@"
}

# guarded_script WORKLOAD: the plain SQL with the guarantees
guarded_script() {
    if [ "$1" = append_one_any ]; then
        cat <<SQL
\set n random(1, 10000)
WITH i AS (SELECT es.uuid_v7() AS id),
     v AS (INSERT INTO guarded.streams AS s (stream_id, category, version, created_at, updated_at)
           VALUES ('acct-' || :n, 'acct', 1, now(), now())
           ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now()
           WHERE NOT EXISTS (SELECT FROM guarded.events e WHERE e.event_id = (SELECT id FROM i))
           RETURNING s.stream_id, s.version)
INSERT INTO guarded.events (stream_id, stream_version, event_id, event_type,
                            schema_version, data, metadata, occurred_at)
SELECT v.stream_id, v.version, i.id, 'Deposited', 1, '$PAYLOAD', NULL, now()
FROM v, i;
SQL
    else
        script_b | sed 's/raw\./guarded./g'
    fi
}

# measure SIDE CLIENTS SYNC SCRIPT: one pgbench run; sets tps and, with one
# client, cpu: the server backend's CPU time (user + system, from /proc)
# per transaction in microseconds, which the machine's other work disturbs
# far less than the throughput (time spent waiting for a core is not in it)
measure() {
    local side=$1 c=$2 sync=$3 script=$4 pid bpid="" ticks=0 t n
    PGOPTIONS="-c synchronous_commit=$sync" on "$side" bench_pgbench -c "$c" -j "$c" \
        -T "$duration" --max-tries=10 -f "$script" >"$work/pgbench.log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$c" = 1 ] && [ -z "$bpid" ]; then
            bpid=$(on "$side" es_psql -d postgres -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = 'bench' ORDER BY backend_start DESC LIMIT 1" 2>/dev/null || true)
        fi
        # read often: what the backend spends after the last read is lost
        if [ -n "$bpid" ] && read -r -a t 2>/dev/null <"/proc/$bpid/stat"; then
            ticks=$((t[13] + t[14]))
        fi
        sleep 0.05
    done
    wait "$pid" || true
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.log")
    n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.log")
    cpu=""
    if [ "$ticks" -gt 0 ] && [ "${n:-0}" -gt 0 ]; then
        cpu=$(awk -v t="$ticks" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    fi
}

printf 'workload\tclients\tsync\trun\tside\ttps\tcpu_us\n' >"$results"
for wl in $workloads; do
    unset -f setup_sql script_a script_b
    source "$BENCH/workloads/$wl.sh"
    script_a >"$work/$wl-es.sql"
    script_b >"$work/$wl-raw.sql"
    guarded_script "$wl" >"$work/$wl-guarded.sql"
    chmod 644 "$work"/*.sql
    echo "== $wl: $title"
    for side in before after; do
        on $side bench_db >/dev/null
        on $side es_psql -d bench -f "$BENCH/sql/guarded_schema.sql" >/dev/null
        [ "$wl" = append_one_exact ] && fill_sql guarded 10000 10000 | on $side es_psql -d bench >/dev/null
        on $side es_psql -d bench -c "VACUUM ANALYZE"
        for s in es raw guarded; do
            on $side bench_pgbench -c 1 -T 2 -f "$work/$wl-$s.sql" >/dev/null 2>&1
        done
    done
    for c in $clients; do
        for sync in $syncs; do
            for r in $(seq 1 "$runs"); do
                for run in $sides; do
                    script=${run%@*} side=${run#*@}
                    on $side es_psql -d bench -c CHECKPOINT
                    measure "$side" "$c" "$sync" "$work/$wl-$script.sql"
                    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$c" "$sync" "$r" "$run" "$tps" "$cpu" >>"$results"
                done
            done
            awk -F'\t' -v wl="$wl" -v c="$c" -v sync="$sync" '
                function median(side,   n, i, j, t, a) {
                    n = 0; for (k in v) { split(k, p, SUBSEP); if (p[1] == side) a[++n] = v[k] }
                    if (n == 0) return 0
                    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
                }
                function q(a, b) { return b > 0 ? a / b : 0 }
                function cmedian(side,   n, i, j, t, a) {
                    n = 0; for (k in cu) { split(k, p, SUBSEP); if (p[1] == side) a[++n] = cu[k] }
                    if (n == 0) return 0
                    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
                }
                $1 == wl && $2 == c && $3 == sync { v[$5, $4] = $6; if ($7 != "") cu[$5, $4] = $7 }
                END {
                    rb = median("raw@before"); eb = median("es@before"); ra = median("raw@after")
                    ea = median("es@after"); ga = median("guarded@after")
                    printf "   %s client(s), synchronous_commit %s: raw %.0f / es %.0f (before) | raw %.0f / es %.0f / guarded %.0f (after)\n", c, sync, rb, eb, ra, ea, ga
                    printf "      es/raw before %.2f, after %.2f; es/guarded after %.2f; es after/before %.2f\n", q(eb, rb), q(ea, ra), q(ea, ga), q(ea, eb)
                    crb = cmedian("raw@before"); ceb = cmedian("es@before"); cra = cmedian("raw@after")
                    cea = cmedian("es@after"); cga = cmedian("guarded@after")
                    if (cea > 0) {
                        printf "      server CPU per transaction (us): raw %.1f / es %.1f (before) | raw %.1f / es %.1f / guarded %.1f (after)\n", crb, ceb, cra, cea, cga
                        printf "      as throughput ratios: es/raw before %.2f, after %.2f; es/guarded after %.2f; es after/before %.2f\n", q(crb, ceb), q(cra, cea), q(cga, cea), q(ceb, cea)
                    }
                }' "$results"
        done
    done
done
