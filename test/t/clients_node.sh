#!/usr/bin/env bash
# The Node client example (examples/clients/node, node-postgres pinned by
# its package-lock.json, installed with npm ci into a scratch copy; Node and
# npm installed from Debian when missing) against a throwaway cluster:
# concurrent command handlers with the retry loop end at exactly the
# expected version; a subscription consumer and an async projection runner
# see every committed event exactly once while writers commit and roll back
# concurrently (examples/clients/node/check.js says what it checks).
set -eu
source "$(dirname "$0")/../lib.sh"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

es_scratch dir clients_node
cp "$ES_ROOT"/examples/clients/node/{package.json,package-lock.json,eventstore.js,check.js} "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

es_cluster_start "$dir/cluster" "max_connections = 40"
es_store clients
PGUSER=postgres PGDATABASE=clients node "$dir/check.js"
