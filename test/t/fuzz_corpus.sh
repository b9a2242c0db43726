#!/usr/bin/env bash
# Replays the fuzz corpus (test/fuzz/corpus: each past finding, each defect
# of issue 13, as a concrete input) against a throwaway cluster, as the
# unprivileged role "fuzz" (superuser where an entry says so).  Fails on a
# crash or restart of the server, an internal error (XX000) or a statement
# that outlives its statement_timeout by more than a second.  Entries listed
# in test/fuzz/known_failures are skipped.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir fuzz_corpus
es_cluster_start "$dir" "log_line_prefix = '%m [%p] %e '" "log_min_messages = warning"
out=$(mktemp -d "${TMPDIR:-/tmp}/es_fuzz_out.XXXXXX")
ES_SCRATCH+=("$out")
status=0
python3 "$ES_ROOT/test/fuzz/fuzz.py" --no-random --psql "$PG_BINDIR/psql" \
    --log "$dir/server.log" --out "$out" || status=$?
for f in "$out"/*.sql; do
    [ -e "$f" ] || continue
    echo "== $f"; cat "$f"
done
exit $status
