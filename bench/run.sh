#!/usr/bin/env bash
# The benchmark driver of event_sourcing.
#
#   bench/run.sh            full run: writes bench/REPORT.md
#   bench/run.sh --quick    a short run (under two minutes): bench/out/REPORT-quick.md
#   options: --only NAME[,NAME]  --runs N  --duration SECONDS  --report FILE
#            --report-only  (write the report again from the last run's
#                            results in bench/out/, e.g. after editing PROFILE.md)
#            --private-install  (install into a private copy of PostgreSQL in
#                            the run's temporary directory instead of the
#                            system's; touches nothing shared, so it takes no
#                            install lock)
#
# Builds and installs the extension, starts a throwaway cluster tuned for
# this machine, and for each workload of bench/workloads/ runs its
# extension side (A) and its plain-SQL baseline (B) interleaved, A B A B ...,
# with pgbench; then writes a report of medians, spreads and ratios.
#
# A workload is one file, bench/workloads/NAME.sh, sourced by this script.
# It sets: title, describe (a paragraph for the report), label_a and
# label_b (the columns' names; default es.append / plain SQL), conflicts
# (no: the retry and conflict columns mean nothing here), unit (tps or
# events), per_tx (events per transaction), clients and sync (lists: every
# combination is measured), optionally levels / quick_levels (store sizes)
# and size_label (the heading of the size column);
# and defines setup_sql (SQL run once in a fresh database), script_a and
# script_b (the two pgbench scripts), and, with levels, grow_sql LEVEL (SQL
# bringing both stores to that size).  $BENCH is this directory; the SQL
# several workloads share is printed by functions of bench/lib.sh.  To add
# one, write the file and add its name to WORKLOADS below.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

WORKLOADS=(
    append_one_exact
    append_one_any
    append_batch
    growth_store
    growth_stream
    fold_rules
    fold_plpgsql
    fold_short
    fold_agg_plpgsql
    fold_rules_vs_plpgsql
    fold_snapshots
    upcast_read
    upcast_read_fn
    projection_append
    projection_rebuild
    log_poll
    async_catchup
    read_stream
    read_all_page
    lifecycle_read
    dcb_append_if
    dcb_enrol
    dcb_tag_query
)

mode=full
runs=3
duration=10
only=""
report=""
report_only=no
private=no
while [ $# -gt 0 ]; do
    case $1 in
        --quick) mode=quick; duration=2 ;;
        --only) only=$2; shift ;;
        --runs) runs=$2; shift ;;
        --duration) duration=$2; shift ;;
        --report) report=$2; shift ;;
        --report-only) report_only=yes ;;
        --private-install) private=yes ;;
        *) echo "usage: $0 [--quick] [--only NAME[,NAME]] [--runs N] [--duration S] [--report FILE] [--report-only] [--private-install]" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$report" ] || { [ $mode = full ] && report=$BENCH/REPORT.md || report=$BENCH/out/REPORT-quick.md; }
[ -n "$only" ] && IFS=, read -r -a WORKLOADS <<<"$only"
mkdir -p "$BENCH/out"

psql_bench() { es_psql -d bench "$@"; }
last_position() {	# schema
    psql_bench -At -c "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM $1.events_global_position_seq"
}

# run_side WORKLOAD LEVEL CLIENTS SYNC SIDE RUN SCRIPT: one pgbench run
run_side() {
    local wl=$1 level=$2 c=$3 sync=$4 side=$5 run=$6 script=$7 schema log
    schema=$([ "$side" = A ] && echo es || echo raw)
    log="$work/$wl-$level-$c-$sync-$side-$run.log"
    psql_bench -c CHECKPOINT
    local before after events
    before=$(last_position "$schema")
    events=$(psql_bench -At -c "SELECT count(*) FROM $schema.events")
    PGOPTIONS="-c synchronous_commit=$sync" bench_pgbench -c "$c" -j "$c" -T "$duration" \
        --max-tries=10 -f "$script" >"$log" 2>&1 ||
        { cat "$log"; echo "pgbench failed: $wl $side"; exit 1; }
    after=$(last_position "$schema")
    awk -v wl="$wl" -v level="$level" -v c="$c" -v sync="$sync" -v side="$side" \
        -v run="$run" -v per="$per_tx" -v unit="$unit" -v written=$((after - before)) \
        -v events="$events" '
        /^tps = / { tps = $3 }
        /^number of transactions actually processed:/ { split($0, a, ": "); split(a[2], b, "/"); processed = b[1] + 0 }
        /^number of transactions retried:/ { retried = $5 + 0 }
        /^number of failed transactions:/ { failed = $5 + 0 }
        END {
            fig = unit == "events" ? tps * per : tps
            nowrite = processed - written / per; if (nowrite < 0) nowrite = 0
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%d\t%d\t%d\t%d\t%d\t%d\n",
                wl, level, c, sync, side, run, tps, fig, processed, written, retried + 0, failed + 0, events, nowrite
        }' "$log" | tee -a "$results" | awk -F'\t' -v u="$([ "$unit" = events ] && echo events/s || echo tps)" '{ printf "   %s run %s: %s %s\n", $5, $6, $8, u }'
}

# Run every workload, A B A B ..., into bench/out/results-MODE.tsv, and
# record what the report needs about the run in bench/out/meta-MODE.sh.
measure() {
    cd "$ES_ROOT"
    es_install_deps
    es_scratch work bench
    if [ $private = yes ]; then
        # PostgreSQL finds its share and lib directories relative to its
        # binaries, so a copy of the installation is a private one
        echo "== building and installing event_sourcing into a private copy of PostgreSQL"
        mkdir -p "$work/pg/usr/lib/postgresql" "$work/pg/usr/share/postgresql"
        cp -a "/usr/lib/postgresql/$PG_MAJOR" "$work/pg/usr/lib/postgresql/"
        cp -a "/usr/share/postgresql/$PG_MAJOR" "$work/pg/usr/share/postgresql/"
        make -C "$ES_ROOT" -s PG_CONFIG="$PG_BINDIR/pg_config" >/dev/null
        make -C "$ES_ROOT" -s PG_CONFIG="$PG_BINDIR/pg_config" DESTDIR="$work/pg" install >/dev/null
        PG_BINDIR=$work/pg$PG_BINDIR
    else
        es_lock
        es_build_install
    fi
    es_cluster_start "$work/cluster" "${SETTINGS[@]}"
    results=$BENCH/out/results-$mode.tsv
    printf 'workload\tlevel\tclients\tsync\tside\trun\ttps\tfigure\tprocessed\twritten\tretried\tfailed\tevents_before\tnowrite\n' >"$results"
    load_start=$(cut -d' ' -f1-3 /proc/loadavg)
    started=$(date -u '+%Y-%m-%d %H:%M UTC')
    t0=$(date +%s)

    for wl in "${WORKLOADS[@]}"; do
        unset -f setup_sql script_a script_b grow_sql
        levels="" quick_levels="" title="" describe="" unit=tps per_tx=1 clients=1 sync=on
        source "$BENCH/workloads/$wl.sh"
        if [ $mode = quick ]; then
            clients=${clients%% *}; sync=${sync%% *}
            [ -n "$levels" ] && levels=${quick_levels:-${levels##* }}
        fi
        echo "== $wl: $title"
        script_a >"$work/$wl-a.sql"
        script_b >"$work/$wl-b.sql"
        bench_db
        for level in ${levels:--}; do
            if [ "$level" != - ]; then
                echo " -- growing both stores to $level events"
                grow_sql "$level" | psql_bench
            fi
            psql_bench -c "VACUUM ANALYZE"
            if [ $mode = full ]; then	# warm both sides up, unrecorded
                for sc in a b; do
                    bench_pgbench -c 1 -T 3 -f "$work/$wl-$sc.sql" >/dev/null 2>&1
                done
            fi
            for c in $clients; do
                for s in $sync; do
                    echo " -- level $level, $c client(s), synchronous_commit $s"
                    for r in $(seq 1 "$runs"); do
                        run_side "$wl" "$level" "$c" "$s" A "$r" "$work/$wl-a.sql"
                        run_side "$wl" "$level" "$c" "$s" B "$r" "$work/$wl-b.sql"
                    done
                done
            done
        done
    done
    elapsed=$(( $(date +%s) - t0 ))
    load_end=$(cut -d' ' -f1-3 /proc/loadavg)
    pg_version=$(es_psql -d postgres -At -c "SELECT version()")

    {
        declare -p started elapsed load_start load_end pg_version duration runs
        echo "WORKLOADS=(${WORKLOADS[*]})"
        echo "private=$private"
        echo "fs=$(df -T "$work" | awk 'NR == 2 { print $2 }')"
    } >"$BENCH/out/meta-$mode.sh"
}

# Write the report from bench/out/results-MODE.tsv and meta-MODE.sh.
write_report() {
    local results=$BENCH/out/results-$mode.tsv
    source "$BENCH/out/meta-$mode.sh"
    # median and range of the figure per workload/level/clients/sync/side, and
    # the ratio A/B of the medians with the range of the per-pair ratios
    summary=$(awk -F'\t' 'NR > 1 {
            k = $1 "\t" $2 "\t" $3 "\t" $4
            if (!(k in seen)) { seen[k] = 1; order[++n] = k }
            v[k, $5, $6] = $8; runs[k] = ($6 > runs[k] ? $6 : runs[k])
            ret[k, $5] += $11; fail[k, $5] += $12
            lost[k, $5] += $14
            if (!(k in ev)) ev[k] = $13
        }
        function median(arr, m,   i, j, t) {
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
            return m % 2 ? arr[(m + 1) / 2] : (arr[m / 2] + arr[m / 2 + 1]) / 2
        }
        END {
            for (i = 1; i <= n; i++) {
                k = order[i]; m = runs[k]
                for (s = 0; s < 2; s++) {
                    side = s ? "B" : "A"; lo[side] = 1e18; hi[side] = 0
                    for (r = 1; r <= m; r++) { x = v[k, side, r]; a[r] = x; if (x < lo[side]) lo[side] = x; if (x > hi[side]) hi[side] = x }
                    med[side] = median(a, m)
                }
                rlo = 1e18; rhi = 0
                for (r = 1; r <= m; r++) if (v[k, "B", r] > 0) { q = v[k, "A", r] / v[k, "B", r]; if (q < rlo) rlo = q; if (q > rhi) rhi = q }
                printf "%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t%d\n",
                    k, ev[k], med["A"], lo["A"], hi["A"], med["B"], lo["B"], hi["B"],
                    (med["B"] > 0 ? med["A"] / med["B"] : 0), rlo, rhi,
                    ret[k, "A"], fail[k, "A"], lost[k, "A"], lost[k, "B"], m
            }
        }' "$results")

    {
        echo "# Benchmark report"
        echo
        if [ $mode = full ]; then
            echo "**Full run** of \`bench/run.sh\`, started $started, took $((elapsed / 60)) min."
        else
            echo "**Quick run** (\`bench/run.sh --quick\`: ${duration} s runs, first client count and commit mode of each workload only), started $started, took ${elapsed} s. Not for quoting."
        fi
        echo "Each figure is the median of $runs pgbench runs of ${duration} s, with the lowest and highest in"
        echo "brackets; A (the extension) and B (plain SQL) ran interleaved, A B A B ..., each run after a"
        echo "\`CHECKPOINT\`$([ $mode = full ] && echo ", after 3 s of unrecorded warm-up of each side at every store size"). Ratio = median A / median B, with the range of the ratios of each A B pair."
        echo "Both sides run with \`pgbench -n -M prepared --max-tries=10\` on the same cluster, in the same database."
        echo
        echo "Load average (1, 5, 15 min) at the start: $load_start; at the end: $load_end. The machine was"
        echo "shared with other work while this ran unless the load average says otherwise: treat small"
        echo "differences as noise and re-run on a quiet machine before quoting."
        echo
        echo "## Machine and settings"
        echo
        echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r); data directory on $fs"
        echo "- $pg_version"
        [ "$private" = yes ] && echo "- The extension installed into a private copy of this PostgreSQL installation (\`--private-install\`): the same binaries"
        echo "- pgbench on the same machine, one thread per client, Unix socket"
        echo "- Cluster settings (everything else default; \`fsync = on\`, \`full_page_writes = on\`, autovacuum on):"
        echo
        for s in "${SETTINGS[@]}"; do echo "      $s"; done
        echo
        echo "## Results"
        for wl in "${WORKLOADS[@]}"; do
            unset -f setup_sql script_a script_b grow_sql
            levels="" title="" describe="" unit=tps per_tx=1 size_label="store size (events)"
            label_a="es.append" label_b="plain SQL" conflicts=yes
            source "$BENCH/workloads/$wl.sh"
            fig=$([ "$unit" = events ] && echo "events/s" || echo "transactions/s")
            echo
            echo "### $title (\`$wl\`)"
            echo
            echo "$describe"
            echo
            echo "| $size_label | clients | synchronous_commit | A: $label_a, $fig | B: $label_b, $fig | ratio A/B | retried (A) | conflicts that wrote nothing (A / B) |"
            echo "|---:|---:|:---:|---:|---:|---:|---:|---:|"
            printf '%s\n' "$summary" | awk -F'\t' -v wl="$wl" -v conflicts="$conflicts" '$1 == wl {
                noisy = ($13 > 0 && $14 / $13 > 1.3) ? " †" : ""
                if (conflicts != "yes") { $15 = "–"; $17 = "–"; $18 = "–" }
                printf "| %s | %s | %s | %s (%s–%s) | %s (%s–%s) | **%s** (%s–%s)%s | %s | %s / %s |\n",
                    $5, $3, $4, $6, $7, $8, $9, $10, $11, $12, $13, $14, noisy, $15, $17, $18
            }'
        done
        echo
        echo "Store size is the number of events in es.events when the first A run of that row started"
        echo "(the runs of earlier rows append too, so a level can be passed before it is topped up)."
        echo "† The ratios of this row's A B pairs differ by more than 30 %: other work on the machine"
        echo "dominated some of its runs; do not read anything into its ratio."
        echo "Raw figures, one line per run: \`bench/out/results-$mode.tsv\` (not committed)."
        echo
        if [ -f "$BENCH/PROFILE.md" ]; then
            cat "$BENCH/PROFILE.md"
            echo
        fi
        # the reads' profile, and the peers' section written by bench/peers.sh
        for part in PROFILE-reads.md PEERS.md; do
            if [ -f "$BENCH/$part" ]; then
                cat "$BENCH/$part"
                echo
            fi
        done
        echo "## Reproduce"
        echo
        echo '```sh'
        echo "bench/run.sh            # full run (about $((elapsed / 60 + 1)) min here), writes bench/REPORT.md"
        echo "bench/run.sh --quick    # under two minutes, writes bench/out/REPORT-quick.md"
        echo "bench/profile.sh        # perf profile of the single-event append (see above)"
        echo "bench/peers.sh          # Message DB and Emmett beside the extension: bench/PEERS.md"
        echo '```'
    } >"$report"
    echo "== report: $report (${elapsed} s)"
}

# one compound command, read whole before it runs: editing this file during
# a run cannot change what the run does next
{
    [ "$report_only" = yes ] || measure
    write_report
    exit
}
