#!/usr/bin/env bash
# Per-call cost of es.read_stream and es.fold on a 10-event stream with
# nothing hidden, this checkout against another revision (default main),
# interleaved round by round in one run: two private installation roots
# ($ES_PG_ROOT and $ES_PG_ROOT-base), two clusters, the same statements,
# each calling the function CALLS times.  Prints milliseconds per statement.
#   ES_PG_ROOT=DIR bench/experiments/lifecycle_read_cost.sh [REV] [ROUNDS] [CALLS]
set -eu
: "${ES_PG_ROOT:?set ES_PG_ROOT (a private installation root)}"
rev=${1:-main} rounds=${2:-7} calls=${3:-20000}
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/test/lib.sh"
es_scratch dir lifecycle_read_cost
git -C "$here" archive "$rev" | tar -x -C "$dir" --one-top-level=base
chmod -R a+rX "$dir"
# start ROOT SRC DIR: build and install SRC into ROOT, start a cluster in DIR
start() {
    ( export ES_PG_ROOT=$1; source "$2/test/lib.sh"; es_build_install >/dev/null
      es_cluster_start "$3"; echo "$PGHOST $PGPORT" )
}
read -r h_base p_base < <(start "$ES_PG_ROOT-base" "$dir/base" "$dir/c_base")
read -r h_new p_new < <(start "$ES_PG_ROOT" "$here" "$dir/c_new")
ES_CLUSTERS+=("$dir/c_base" "$dir/c_new")
cat >"$dir/setup.sql" <<'SQL'
CREATE EXTENSION event_sourcing;
SELECT es.append('acct-1', 0, VARIADIC (SELECT array_agg(es.event('Deposited',
    jsonb_build_object('amount', i)) ORDER BY i) FROM generate_series(1, 10) i));
SELECT es.create_reducer('sum_rules', '{"balance": 0}',
    rules => '{"Deposited": [{"op": "add", "target": "$.balance", "from": "$.data.amount"}]}');
INSERT INTO es.retention_registry (category, max_count, owner) VALUES ('other', 5, current_user::regrole);
SQL
cat >"$dir/q.sql" <<SQL
\\timing on
SELECT count(*) FROM generate_series(1, $calls) g,
    LATERAL (SELECT count(*) FROM es.read_stream('acct-' || (1 + g % 1)::text)) r;
SELECT count(*) FROM generate_series(1, $calls) g,
    LATERAL (SELECT es.fold('acct-' || (1 + g % 1)::text, 'sum_rules') f) r;
SQL
chmod 644 "$dir"/*.sql
psql_on() { # ROOT HOST PORT ARGS...
    local root=$1 h=$2 p=$3; shift 3
    as_pg "$root/usr/lib/postgresql/$PG_MAJOR/bin/psql" -X -q -h "$h" -p "$p" -d postgres "$@"
}
psql_on "$ES_PG_ROOT-base" "$h_base" "$p_base" -f "$dir/setup.sql" >/dev/null
psql_on "$ES_PG_ROOT" "$h_new" "$p_new" -f "$dir/setup.sql" >/dev/null
echo "round side read_stream_ms fold_ms   ($calls calls each)"
for r in $(seq 1 "$rounds"); do
    echo "$r $rev $(psql_on "$ES_PG_ROOT-base" "$h_base" "$p_base" -f "$dir/q.sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | paste -sd' ')"
    echo "$r this $(psql_on "$ES_PG_ROOT" "$h_new" "$p_new" -f "$dir/q.sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | paste -sd' ')"
done
