# Shared by demo.sh, test/run.sh, the shell tests (test/t/) and the bench
# (bench/lib.sh): install what is missing, build and install the extension,
# run a throwaway PostgreSQL cluster in a scratch directory, and its client
# programs.
# Source it; it defines functions and changes nothing by itself.

ES_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
# ES_PG_ROOT=DIR: work in a private copy of the PostgreSQL installation under
# DIR (PostgreSQL finds its share and lib directories relative to its
# binaries), so that several checkouts can be tested at once.
if [ -n "${ES_PG_ROOT:-}" ]; then
    if [ ! -x "$ES_PG_ROOT/usr/lib/postgresql/$PG_MAJOR/bin/postgres" ]; then
        mkdir -p "$ES_PG_ROOT/usr/lib/postgresql" "$ES_PG_ROOT/usr/share/postgresql"
        cp -a "/usr/lib/postgresql/$PG_MAJOR" "$ES_PG_ROOT/usr/lib/postgresql/"
        cp -a "/usr/share/postgresql/$PG_MAJOR" "$ES_PG_ROOT/usr/share/postgresql/"
    fi
    chmod 755 "$ES_PG_ROOT"
fi
PG_BINDIR=${ES_PG_ROOT:-}/usr/lib/postgresql/$PG_MAJOR/bin

# Run a command as root (directly, or through sudo).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Run a command as the cluster's owner: postgres when we are root
# (initdb refuses root), ourselves otherwise.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Install the server headers (and what they pull in) if they are missing.
es_install_deps() {
    if [ ! -f "/usr/include/postgresql/$PG_MAJOR/server/postgres.h" ]; then
        echo "== installing postgresql-server-dev-$PG_MAJOR"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "postgresql-server-dev-$PG_MAJOR" make gcc >/dev/null
    fi
}

# Hold a machine-wide lock from here until the calling script exits: the
# extension installs into one place, so two checkouts of it (or a benchmark
# and a test run) must not install and test at the same time.
es_lock() {
    [ -n "${ES_PG_ROOT:-}" ] && return 0
    exec 9>"${TMPDIR:-/tmp}/event_sourcing.lock"
    flock 9
}

# Build and install the extension (extra make arguments are passed on).
es_build_install() {
    echo "== building and installing event_sourcing"
    make -C "$ES_ROOT" -s PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config "$@" >/dev/null
    as_root make -C "$ES_ROOT" -s PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config \
        ${ES_PG_ROOT:+DESTDIR="$ES_PG_ROOT"} install >/dev/null
}

# A free TCP port on this machine.
es_free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 20000))
        if ! (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"; return 0
        fi
    done
    return 1
}

# es_give PATH...: hand files to the cluster's owner (when we are root).
es_give() {
    if [ "$(id -u)" = 0 ]; then chown postgres: "$@"; fi
}

# es_scratch VAR [NAME]: make a temporary directory the cluster's owner can
# write and put its path in VAR.  When the script exits, every cluster
# es_cluster_start started is stopped and every such directory removed.
ES_SCRATCH=()
ES_CLUSTERS=()
es_scratch() {
    local -n es_scratch_var=$1
    es_scratch_var=$(mktemp -d "${TMPDIR:-/tmp}/es_${2:-test}.XXXXXX")
    chmod 755 "$es_scratch_var"
    es_give "$es_scratch_var"
    ES_SCRATCH+=("$es_scratch_var")
    trap es_scratch_cleanup EXIT
}
es_scratch_cleanup() {
    local d
    for d in ${ES_CLUSTERS[@]+"${ES_CLUSTERS[@]}"}; do es_cluster_stop "$d" immediate; done
    for d in ${ES_SCRATCH[@]+"${ES_SCRATCH[@]}"}; do rm -rf "$d"; done
}

# es_cluster_start DIR [setting=value ...]: initdb into DIR/data and start
# a server listening on a Unix socket in DIR only.  Sets PGHOST and PGPORT.
es_cluster_start() {
    local dir=$1; shift
    mkdir -p "$dir"
    es_give "$dir"
    ES_CLUSTERS+=("$dir")
    export PGPORT
    PGPORT=$(es_free_port)
    export PGHOST=$dir
    as_pg "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust --no-sync \
        -E UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        echo "port = $PGPORT"
        echo "fsync = on"
        echo "max_prepared_transactions = 10"
        for s in "$@"; do echo "$s"; done
    } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
    # 9>&-: the server must not inherit es_lock's descriptor, or a cluster
    # left running would hold the machine-wide lock for as long as it lives
    as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null 9>&-
}

# es_cluster_stop DIR [mode]: stop the server started by es_cluster_start.
es_cluster_stop() {
    as_pg "$PG_BINDIR/pg_ctl" -D "$1/data" -m "${2:-fast}" -w stop >/dev/null 2>&1 || true
}

# es_pg PROGRAM [ARGS]: a client program of the installation (pgbench,
# pg_dump, ...) as the cluster's superuser, against the server that PGHOST
# and PGPORT name (PGOPTIONS passed on).
es_pg() {
    local program=$1; shift
    as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
        ${PGOPTIONS:+PGOPTIONS="$PGOPTIONS"} "$PG_BINDIR/$program" "$@"
}

# psql as the cluster's superuser, quiet, stopping at the first error.
es_psql() {
    es_pg psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# es_store DB: a new database DB, with the extension.
es_store() {
    es_psql -d postgres -c "CREATE DATABASE \"$1\""
    es_psql -d "$1" -c "CREATE EXTENSION event_sourcing"
}

# es_writers DB: eight pgbench clients each run 150 transactions of the
# statements on stdin (psql variables allowed), rolling back one in five,
# against DB; then a row in DB's table stop tells the consumers running
# alongside to finish.
es_writers() {
    local db=$1 d
    es_scratch d writers
    {
        echo '\set rollback random(1, 5)'
        echo 'BEGIN;'
        cat
        printf '%s\n' '\if :rollback = 1' 'ROLLBACK;' '\else' 'COMMIT;' '\endif'
    } >"$d/writer.sql"
    es_give "$d/writer.sql"
    es_pg pgbench -n -c 8 -j 8 -t 150 -f "$d/writer.sql" "$db"
    es_psql -d "$db" -c "INSERT INTO stop VALUES (now())"
}

# es_copy_db SRC DST: pg_dump database SRC and pg_restore it into DST.
es_copy_db() {
    local d
    es_scratch d dump
    es_pg pg_dump -Fc -f "$d/db.dump" "$1"
    es_pg pg_restore --exit-on-error -d "$2" "$d/db.dump"
}

# es_same_rows DB1 DB2 QUERY: QUERY returns the same in both databases
# (both results shown).
es_same_rows() {
    local a b
    a=$(es_psql -d "$1" -At -c "$3")
    b=$(es_psql -d "$2" -At -c "$3")
    printf '%s:\n%s\n%s:\n%s\n' "$1" "$a" "$2" "$b"
    [ "$a" = "$b" ]
}
