#!/usr/bin/env bash
# Random fuzzing for a bounded time (ES_FUZZ_SECONDS, default 100) with a
# seed (ES_FUZZ_SEED, default a new one, printed): reducer rules, upcaster
# specs, hand-built es.events rows, swapped functions, hostile user code and
# extreme arguments, as the unprivileged role "fuzz", against a throwaway
# cluster.  Fails on a crash or restart of the server, an internal error
# (XX000) or a statement that outlives its statement_timeout by more than a
# second (ES_FUZZ_SLACK), and prints each failing case as a reproducer.
# Longer runs:  ES_FUZZ_SECONDS=600 ES_FUZZ_SEED=42 bash test/t/fuzz_random.sh
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir fuzz_random
es_cluster_start "$dir" "log_line_prefix = '%m [%p] %e '" "log_min_messages = warning"
out=${ES_FUZZ_OUT:-}
if [ -z "$out" ]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/es_fuzz_out.XXXXXX")
    ES_SCRATCH+=("$out")
fi
status=0
python3 "$ES_ROOT/test/fuzz/fuzz.py" --no-corpus --psql "$PG_BINDIR/psql" \
    --log "$dir/server.log" --out "$out" || status=$?
for f in "$out"/*.sql; do
    [ -e "$f" ] || continue
    echo "== $f"; cat "$f"
done
exit $status
