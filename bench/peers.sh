#!/usr/bin/env bash
# The stores users would pick instead, measured in one run on one cluster
# beside the extension and the raw-SQL limit; writes bench/PEERS.md (which
# bench/run.sh's report includes).
#
#   bench/peers.sh [--runs N] [--duration SECONDS] [--report FILE] [--only pgbench|node]
#
# The peers are installed by this script, never committed: npm ci of
# bench/node/package.json (pinned by its package-lock.json) into a scratch
# directory brings node-postgres, Message DB (@eventide/message-db, whose
# database scripts install its schema into the throwaway cluster) and
# Emmett's PostgreSQL event store (@event-driven-io/emmett-postgresql,
# which creates its tables on first use).
#
# 1. pgbench: one event per transaction to a random one of 10,000 streams
#    (each client its own quarter of them, so that no two clients write one
#    stream at once), with no expected version and with the exact one read
#    in the same statement; es.append, Message DB's write_message and the
#    raw-SQL limit (the baseline of bench/workloads/append_one_*.sh) take
#    turns, run by run; 1 and 4 clients, synchronous_commit on and off.
# 2. bench/node/harness.mjs: the four stores (raw SQL, es, Message DB,
#    Emmett) through node-postgres, a pool of 4 connections each, the same
#    workloads for each: single-event appends (any and exact version, 1 and
#    4 clients), 100-event batches, reading a 1,000-event stream, folding
#    100,000 events, following the log; synchronous_commit off.
# Wake-up notifications are off throughout (event_sourcing.notify = off,
# the default; the peers send none).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

runs=3
duration=5
report=$BENCH/PEERS.md
only=""
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift ;;
        --duration) duration=$2; shift ;;
        --report) report=$2; shift ;;
        --only) only=$2; shift ;;
        *) echo "usage: $0 [--runs N] [--duration SECONDS] [--report FILE] [--only pgbench|node]" >&2; exit 2 ;;
    esac
    shift
done

cd "$ES_ROOT"
es_install_deps
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
es_scratch work peers
mkdir "$work/node"
cp "$BENCH"/node/{package.json,package-lock.json,harness.mjs} "$work/node/"
echo "== installing the peers (npm ci)"
(cd "$work/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
es_give -R "$work/node"
mdb=$work/node/node_modules/@eventide/message-db

es_lock
es_build_install
es_cluster_start "$work/cluster" "${SETTINGS[@]}"
export PGUSER=postgres PGDATABASE=peers
es_psql -d postgres -c "CREATE DATABASE peers"
es_psql -d peers -c "CREATE EXTENSION event_sourcing" -f "$BENCH/sql/raw_schema.sql"
echo "== installing Message DB $(cat "$mdb/database/VERSION.txt") (its own scripts)"
as_pg env PATH="$PG_BINDIR:$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
    DATABASE_NAME=peers CREATE_DATABASE=off bash "$mdb/database/install.sh" >"$work/mdb-install.log" 2>&1 ||
    { cat "$work/mdb-install.log"; exit 1; }
harness() { (cd "$work/node" && node harness.mjs "$@"); }
echo "== setting up each store through its own append"
for store in raw es messagedb emmett; do harness setup "$store"; done
es_psql -d peers -c "VACUUM ANALYZE"

results=$work/results.tsv
: >"$results"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t0=$(date +%s)
PAYLOAD_SQL="'{\"amount\": 42, \"currency\": \"EUR\", \"note\": \"benchmark event payload\"}'"

# pgbench_script STORE MODE: one event per transaction, no expected version
# (any) or the exact one read in the statement (exact), to a stream of the
# client's own quarter of acct-1 .. acct-10000
pgbench_script() {
    echo '\set n 1 + :client_id % 4 + 4 * random(0, 2499)'
    case $1-$2 in
        es-any) echo "SELECT es.append('acct-' || :n, NULL, es.event('Deposited', $PAYLOAD_SQL));" ;;
        es-exact) echo "SELECT es.append('acct-' || :n, es.stream_version('acct-' || :n), es.event('Deposited', $PAYLOAD_SQL));" ;;
        messagedb-any) echo "SELECT message_store.write_message(gen_random_uuid()::text, 'acct-' || :n, 'Deposited', $PAYLOAD_SQL);" ;;
        # Message DB's versions count from 0: its stream_version is ours - 1
        messagedb-exact) echo "SELECT message_store.write_message(gen_random_uuid()::text, 'acct-' || :n, 'Deposited', $PAYLOAD_SQL, NULL, message_store.stream_version('acct-' || :n));" ;;
        raw-any) cat <<SQL
WITH v AS (INSERT INTO raw.streams AS s (stream_id, category, version, created_at, updated_at)
           VALUES ('acct-' || :n, 'acct', 1, now(), now())
           ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now()
           RETURNING s.stream_id, s.version)
INSERT INTO raw.events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, occurred_at)
SELECT v.stream_id, v.version, es.uuid_v7(), 'Deposited', 1, $PAYLOAD_SQL, NULL, now() FROM v;
SQL
            ;;
        raw-exact) cat <<SQL
WITH cur AS (SELECT version FROM raw.streams WHERE stream_id = 'acct-' || :n),
     v AS (UPDATE raw.streams AS s SET version = cur.version + 1, updated_at = now()
           FROM cur WHERE s.stream_id = 'acct-' || :n AND s.version = cur.version
           RETURNING s.stream_id, s.version)
INSERT INTO raw.events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, occurred_at)
SELECT v.stream_id, v.version, es.uuid_v7(), 'Deposited', 1, $PAYLOAD_SQL, NULL, now() FROM v;
SQL
            ;;
    esac
}

if [ "$only" != node ]; then
    for mode in any exact; do
        for store in es messagedb raw; do
            pgbench_script "$store" "$mode" >"$work/$store-$mode.sql"
        done
        es_give "$work"/*-"$mode".sql
        for c in 1 4; do
            for sync in on off; do
                echo "== pgbench: append_$mode, $c client(s), synchronous_commit $sync"
                for r in $(seq 1 "$runs"); do
                    for store in es messagedb raw; do
                        es_psql -d peers -c CHECKPOINT
                        opts="-c synchronous_commit=$sync"
                        [ $store = messagedb ] && opts="$opts -c search_path=message_store,public"
                        PGOPTIONS=$opts es_pg pgbench -n -M prepared -c "$c" -j "$c" -T "$duration" \
                            -f "$work/$store-$mode.sql" peers >"$work/pgbench.log" 2>&1 ||
                            { cat "$work/pgbench.log"; exit 1; }
                        tps=$(awk '/^tps = / { print $3 }' "$work/pgbench.log")
                        printf 'pgbench\tappend_%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$c" "$sync" "$store" "$r" "$tps" | tee -a "$results"
                    done
                done
            done
        done
    done
fi

if [ "$only" != pgbench ]; then
    for spec in "ping 1" "append_any 1" "append_any 4" "append_exact 1" "append_exact 4" \
                "append_batch 1" "append_batch 4" "read_stream 1" "fold 1" "follow 1"; do
        read -r wl c <<<"$spec"
        echo "== node: $wl, $c client(s)"
        for r in $(seq 1 "$runs"); do
            for store in raw es messagedb emmett; do
                # the round trip is the same for every store: measured on one
                [ "$wl" = ping ] && [ "$store" != raw ] && continue
                line=$(PGOPTIONS="-c synchronous_commit=off" harness run "$store" "$wl" "$c" "$duration")
                # store workload clients ops ops/s events/s conflicts
                awk -F'\t' -v r="$r" '{ printf "node\t%s\t%s\toff\t%s\t%s\t%s\n", $2, $3, $1, r, $6 }' <<<"$line" | tee -a "$results"
            done
        done
    done
fi
elapsed=$(( $(date +%s) - t0 ))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
cp "$results" "$BENCH/out/peers-results.tsv" 2>/dev/null || { mkdir -p "$BENCH/out"; cp "$results" "$BENCH/out/peers-results.tsv"; }

# medians per row and store, and the extension's ratio to each
table() {	# DRIVER STORES...
    local driver=$1; shift
    awk -F'\t' -v driver="$driver" -v stores="$*" '
        function median(arr, m,   i, j, t) {
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
            return m % 2 ? arr[(m + 1) / 2] : (arr[m / 2] + arr[m / 2 + 1]) / 2
        }
        $1 == driver {
            k = $2 "\t" $3 "\t" $4
            if (!(k in seen)) { seen[k] = 1; order[++n] = k }
            cnt[k, $5]++; v[k, $5, cnt[k, $5]] = $7
        }
        END {
            ns = split(stores, st, " ")
            for (i = 1; i <= n; i++) {
                k = order[i]; split(k, f, "\t")
                line = "| " f[1] " | " f[2] " | " f[3]
                for (s = 1; s <= ns; s++) {
                    m = cnt[k, st[s]]
                    for (r = 1; r <= m; r++) a[r] = v[k, st[s], r]
                    med[st[s]] = m ? median(a, m) : 0
                    line = line " | " (m ? sprintf("%.0f", med[st[s]]) : "–")
                }
                for (s = 1; s <= ns; s++) if (st[s] != "es")
                    line = line " | " (med[st[s]] > 0 && med["es"] > 0 ? sprintf("**%.2f**", med["es"] / med[st[s]]) : "–")
                print line " |"
            }
        }' "$results"
}

{
    echo "## Peers: Message DB and Emmett beside the extension (\`bench/peers.sh\`)"
    echo
    echo "One run of \`bench/peers.sh --runs $runs --duration $duration\`, started $started, took $((elapsed / 60)) min, on the"
    echo "machine described above (load average at the start $load_start, at the end $load_end)."
    echo "**The machine was shared with other work and noisy**: each figure is the median of $runs runs"
    echo "of $duration s, the stores taking turns run by run; read the ratios, not the absolute"
    echo "figures, and re-run before quoting. The peers are installed by the script (npm ci of"
    echo "\`bench/node/package.json\`: Message DB $(cat "$mdb/database/VERSION.txt") from \`@eventide/message-db\` $(node -p "require('$mdb/package.json').version"), installed into"
    echo "the throwaway cluster by its own database scripts; \`@event-driven-io/emmett-postgresql\`"
    echo "$(cd "$work/node" && node -p "require('./node_modules/@event-driven-io/emmett-postgresql/package.json').version"), which creates its tables itself), never committed. Wake-up notifications off."
    echo "Ratio = es / peer (higher: the extension is faster)."
    echo
    echo "### pgbench: one event per transaction"
    echo
    echo "A random one of 10,000 streams with one event each at the start, each client"
    echo "its own quarter of them. \`any\`: no expected version; \`exact\`: the version read in the same"
    echo "statement (\`es.stream_version\` / Message DB's \`stream_version\`). Message DB's"
    echo "\`write_message\` takes an advisory lock per *category* (all these streams are in one), so"
    echo "its writers queue behind each other. Raw SQL: the upsert (any) or compare-and-set (exact)"
    echo "of the stream's row and the insert of the event, in one statement, without gap-safe"
    echo "positions or idempotency. \`pgbench -n -M prepared -c C -j C -T $duration\`; transactions per second."
    echo
    echo "| workload | clients | synchronous_commit | es.append | Message DB | raw SQL | es / Message DB | es / raw |"
    echo "|---|---:|:---:|---:|---:|---:|---:|---:|"
    table pgbench es messagedb raw
    echo
    echo "### node-postgres: the same client for every store"
    echo
    echo "\`bench/node/harness.mjs\`: one Node process per store and run, a \`pg.Pool\` of 4 connections,"
    echo "C concurrent callers, \`synchronous_commit = off\`; events per second. Each store is used the"
    echo "way its API offers: appends with \`es.append\` (one statement, the batch as a JSON array"
    echo "turned into \`es.event\`s), Message DB's \`write_message\` (one call per message: a batch is"
    echo "one statement calling it 100 times), Emmett's \`appendToStream\`; reads with"
    echo "\`es.read_stream\`, \`get_stream_messages\`, Emmett's \`readStream\`; the fold with \`es.fold\`"
    echo "and a rules reducer (in the server), the others in Node over their reads (Message DB in"
    echo "pages of 1,000; Emmett's \`aggregateStream\`), raw SQL as \`sum()\` in the server (the"
    echo "limit); following the log: the first 100,000 events in pages of 1,000 with \`es.read_all\`,"
    echo "Message DB's \`get_category_messages\` (all streams are in one category), Emmett's"
    echo "\`readMessagesBatch\` and an ordered raw \`SELECT\` (not gap-safe). Exact-version appends use"
    echo "the version the harness last saw for the stream (a conflict reloads them all)."
    echo "Setup: 10,000 streams of one event, 20 of 1,000 and one of 100,000, in each store through"
    echo "its own append. \`ping\` is \`SELECT 1\` through the same kind of pool (events/s = round"
    echo "trips/s): single-event appends cannot go faster than it, so where a store's figure is"
    echo "close to it, that row measures Node and the machine more than the store."
    echo
    echo "| workload | clients | synchronous_commit | raw SQL | es | Message DB | Emmett | es / raw | es / Message DB | es / Emmett |"
    echo "|---|---:|:---:|---:|---:|---:|---:|---:|---:|---:|"
    table node raw es messagedb emmett
    echo
    echo "Raw figures, one line per run: \`bench/out/peers-results.tsv\` (not committed). Reproduce:"
    echo "\`bench/peers.sh --runs $runs --duration $duration\` (writes this section to \`bench/PEERS.md\`)."
} >"$report"
echo "== report: $report (${elapsed} s)"
