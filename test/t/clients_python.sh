#!/usr/bin/env bash
# The Python client example (examples/clients/python, psycopg 3 from the
# Debian package python3-psycopg, installed here when missing) against a
# throwaway cluster: concurrent command handlers with the retry loop end at
# exactly the expected version; a subscription consumer and an async
# projection runner see every committed event exactly once while writers
# commit and roll back concurrently (examples/clients/python/check.py says
# what it checks).
set -eu
source "$(dirname "$0")/../lib.sh"

# psycopg 3 from Debian's package is importable by the system's python3
python=python3
if ! "$python" -c 'import psycopg' 2>/dev/null; then
    if ! /usr/bin/python3 -c 'import psycopg' 2>/dev/null; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-psycopg >/dev/null
    fi
    python=/usr/bin/python3
fi

es_scratch dir clients_python
es_cluster_start "$dir" "max_connections = 40"
es_store clients
PGUSER=postgres PGDATABASE=clients "$python" "$ES_ROOT/examples/clients/python/check.py"
