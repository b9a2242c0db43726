#!/usr/bin/env bash
# The demo: installs what is missing, builds and installs the extension,
# starts a throwaway PostgreSQL cluster, walks through examples/demo.sql and
# removes the cluster again.  Run as root (or with sudo available).
set -eu
source "$(dirname "$0")/test/lib.sh"
cd "$ES_ROOT"

es_install_deps
es_lock
es_build_install

es_scratch dir demo
es_cluster_start "$dir"
echo "== a throwaway cluster is running on $PGHOST, port $PGPORT"
echo
# psql reads the demo from the repository (it includes examples/bank.sql)
cd "$ES_ROOT"
es_psql -d postgres -v pghost="$PGHOST" -v pgport="$PGPORT" <examples/demo.sql
