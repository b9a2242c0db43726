#!/usr/bin/env bash
# Server-side cost of one append written as one statement or as several
# (bench/experiments/statements.sql): needs only PostgreSQL, not the
# extension, so it installs nothing and takes no lock.
set -eu
source "$(dirname "$0")/../../test/lib.sh"
es_scratch dir statements
cp "$(dirname "$0")/statements.sql" "$dir/" && chmod 644 "$dir/statements.sql"
es_cluster_start "$dir/c" "shared_buffers = 1GB" "max_wal_size = 8GB" "synchronous_commit = off"
es_psql -d postgres -f "$dir/statements.sql"
for r in 1 2 3 4; do
    for f in one three two; do
        echo "round $r: $f $(es_psql -d postgres -At -c "SELECT timeit('$f', 30000)") µs per append"
    done
done
