#!/usr/bin/env bash
# The README's demo (examples/demo.sql with examples/bank.sql) runs through
# without an error, on a fresh cluster, and shows what it promises.
set -eu
source "$(dirname "$0")/../lib.sh"
cd "$ES_ROOT"

es_scratch dir demo
es_cluster_start "$dir"
out=$(es_psql -d postgres -v pghost="$PGHOST" -v pgport="$PGPORT" <examples/demo.sql 2>&1)
echo "$out" | tail -5
if echo "$out" | grep -q 'ERROR'; then
    echo "$out" | grep -B2 -A2 ERROR
    exit 1
fi
for expect in 'SQLSTATE 23514' 'SQLSTATE 40001, version conflict' '{"amount": 12.50}' 'SQLSTATE 0A000'; do
    echo "$out" | grep -qF "$expect" || { echo "missing from the demo: $expect"; exit 1; }
done
