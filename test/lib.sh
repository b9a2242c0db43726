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
# ES_PG_BUILD=DIR (with ES_PG_ROOT): copy the PostgreSQL that test/pgbuild.sh
# built under DIR instead of the system's (see es_variant).  A root notes
# where its copy came from and is copied anew when that changes.
es_pg_root_setup() {
    [ -n "${ES_PG_ROOT:-}" ] || return 0
    local from=${ES_PG_BUILD:-}
    if [ "$(cat "$ES_PG_ROOT/.es_pg_from" 2>/dev/null)" != "$from" ]; then
        rm -rf "$ES_PG_ROOT/usr/lib/postgresql/$PG_MAJOR" "$ES_PG_ROOT/usr/share/postgresql/$PG_MAJOR"
    fi
    if [ ! -x "$ES_PG_ROOT/usr/lib/postgresql/$PG_MAJOR/bin/postgres" ]; then
        mkdir -p "$ES_PG_ROOT/usr/lib/postgresql" "$ES_PG_ROOT/usr/share/postgresql"
        cp -a "$from/usr/lib/postgresql/$PG_MAJOR" "$ES_PG_ROOT/usr/lib/postgresql/"
        cp -a "$from/usr/share/postgresql/$PG_MAJOR" "$ES_PG_ROOT/usr/share/postgresql/"
        if [ -n "$from" ]; then echo "$from" >"$ES_PG_ROOT/.es_pg_from"; else rm -f "$ES_PG_ROOT/.es_pg_from"; fi
    fi
    chmod 755 "$ES_PG_ROOT"
}
es_pg_root_setup
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

# es_variant [assert|asan|ubsan]: test against PostgreSQL built with
# assertions (assert) or with assertions and AddressSanitizer (asan) by
# test/pgbuild.sh, or build the extension with UndefinedBehaviorSanitizer
# for the system's server (ubsan).  Call it before building; without
# an argument it does nothing.  A variant always works in a private root:
# ES_PG_ROOT if set, else one per variant under TMPDIR (locked while in use).
# Sets ES_VARIANT_CFLAGS for the extension's build, exports the sanitizers'
# options and ES_FINDINGS, where sanitizer reports and assertion failures
# are collected (see es_cluster_stop and es_findings_check).
export ES_VARIANT_CFLAGS=${ES_VARIANT_CFLAGS:-}
es_variant() {
    export ES_VARIANT=${1:-}
    [ -n "$ES_VARIANT" ] || return 0
    case "$ES_VARIANT" in
        assert|asan)
            ES_PG_BUILD=$("$ES_ROOT/test/pgbuild.sh" "$ES_VARIANT") || return 1
            export ES_PG_BUILD ;;
        ubsan)
            unset ES_PG_BUILD
            # -fno-sanitize-recover: the first finding ends the backend;
            # -fno-wrapv: signed overflow in our code is a finding too
            ES_VARIANT_CFLAGS="-fsanitize=undefined,float-cast-overflow -fno-sanitize-recover=all -fno-wrapv" ;;
        *) echo "unknown variant: $ES_VARIANT" >&2; return 2 ;;
    esac
    if [ -z "${ES_PG_ROOT:-}" ]; then
        export ES_PG_ROOT=${TMPDIR:-/tmp}/event_sourcing_pg_$ES_VARIANT
        mkdir -p "$ES_PG_ROOT"
        exec 9>"$ES_PG_ROOT.lock"
        flock 9
    fi
    export ES_PG_ROOT
    es_pg_root_setup
    PG_BINDIR=$ES_PG_ROOT/usr/lib/postgresql/$PG_MAJOR/bin
    export ES_FINDINGS
    ES_FINDINGS=$(mktemp -d "${TMPDIR:-/tmp}/es_findings.XXXXXX")
    chmod 1777 "$ES_FINDINGS"
    # abort_on_error: a finding kills the process with SIGABRT, so the
    # postmaster restarts the cluster and the test that caused it fails;
    # log_path: the report is kept whichever cluster or client it came from.
    # (UBSan's runtime, loaded with the extension, starts only at its first
    # report, in a backend whose environment the postmaster has overwritten
    # with its process title: it runs with its defaults, reports to the
    # server log and ends the backend with exit code 1, which the postmaster
    # treats as a crash; es_findings_scan reads the server logs for it.)
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$ES_FINDINGS/asan"
}

# es_findings_check [SERVER_LOG ...]: after a variant's run, print every
# sanitizer report and assertion failure (from ES_FINDINGS and the given
# server logs) and fail if there was one.  Nothing to do without a variant.
es_findings_check() {
    [ -n "${ES_FINDINGS:-}" ] || return 0
    local log
    for log in "$@"; do es_findings_scan "$log"; done
    local found=0
    for log in "$ES_FINDINGS"/*; do
        [ -e "$log" ] || continue
        [ "$found" = 1 ] || echo "== $ES_VARIANT findings"
        found=1
        echo "-- $(basename "$log")"
        cat "$log"
    done
    rm -rf "$ES_FINDINGS"
    unset ES_FINDINGS
    [ "$found" = 0 ]
}

# es_findings_scan SERVER_LOG: keep the assertion failures and sanitizer
# reports a server wrote to its log (its stderr) in ES_FINDINGS.
es_findings_scan() {
    [ -n "${ES_FINDINGS:-}" ] && [ -f "$1" ] || return 0
    if grep -qE '^TRAP:|runtime error:|AddressSanitizer' "$1"; then
        grep -E -A20 '^TRAP:|runtime error:|AddressSanitizer' "$1" \
            >"$ES_FINDINGS/server.$(basename "$(dirname "$1")").$$.$RANDOM"
    fi
}

# The pg_config to build the extension with: the system's (installing into
# ES_PG_ROOT through DESTDIR), or a private build's own copy in the root,
# which finds its headers relative to itself and installs into the root.
es_pg_config() {
    if [ -n "${ES_PG_BUILD:-}" ]; then
        echo "$PG_BINDIR/pg_config"
    else
        echo "/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
    fi
}

# Build and install the extension (extra make arguments are passed on).
es_build_install() {
    echo "== building and installing event_sourcing"
    local destdir=${ES_PG_ROOT:-}
    [ -n "${ES_PG_BUILD:-}" ] && destdir=
    make -C "$ES_ROOT" -s PG_CONFIG="$(es_pg_config)" "$@" >/dev/null
    as_root make -C "$ES_ROOT" -s PG_CONFIG="$(es_pg_config)" \
        ${destdir:+DESTDIR="$destdir"} install >/dev/null
}

# The directory the extension's library is installed in.
es_pkglibdir() {
    if [ -n "${ES_PG_BUILD:-}" ]; then
        "$(es_pg_config)" --pkglibdir
    else
        echo "${ES_PG_ROOT:-}$("$(es_pg_config)" --pkglibdir)"
    fi
}

# es_install_library FILE: install FILE as the extension's library (by
# rename, so that a backend that has the old one mapped keeps it intact).
es_install_library() {
    local dest
    dest=$(es_pkglibdir)/event_sourcing.so
    as_root cp "$1" "$dest.new"
    as_root chmod 755 "$dest.new"
    as_root mv -f "$dest.new" "$dest"
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

# es_cluster_stop DIR [mode]: stop the server started by es_cluster_start
# (and keep what its log says of assertions and sanitizers, see es_variant).
es_cluster_stop() {
    as_pg "$PG_BINDIR/pg_ctl" -D "$1/data" -m "${2:-fast}" -w stop >/dev/null 2>&1 || true
    es_findings_scan "$1/server.log"
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
