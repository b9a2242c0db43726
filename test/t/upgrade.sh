#!/usr/bin/env bash
# The upgrade path.  For every released version (the install scripts frozen
# in shipped.sha256): a store created at that version and filled with data
# of every kind (test/sql/upgrade/data.sql) by that version's library (built
# from the commit that froze its install script), then served by the
# current library, which refuses it until ALTER EXTENSION event_sourcing
# UPDATE, must
#  (a) consist of exactly the objects of a fresh install of the version in
#      development: test/sql/extension_members.sql describes every member
#      of the extension with its definition, compared as text (the diff is
#      shown);
#  (b) hold and read the same as before the update, in the session that ran
#      the update and in a new one (test/sql/upgrade/state.sql), and go on
#      working (test/sql/upgrade/continue.sql: folds, upcasting, the inline
#      projection on new appends, the async projection and the
#      subscriptions from their positions), exactly as a store created at
#      the new version with the same data does.
set -eu
source "$(dirname "$0")/../lib.sh"
cd "$ES_ROOT"

current=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" event_sourcing.control)
released=$(sed -n 's/^[0-9a-f]*  event_sourcing--\([0-9.]*\)\.sql$/\1/p' shipped.sha256)
if [ -z "$released" ]; then
    echo "shipped.sha256 lists no released install script"
    exit 1
fi

es_scratch dir upgrade
cp test/sql/extension_members.sql test/sql/upgrade/*.sql "$dir/"
es_give "$dir"/*.sql
es_cluster_start "$dir/cluster"

# describe DB FILE: the extension's objects in DB
describe() {
    es_psql -d "$1" -At -f "$dir/extension_members.sql" >"$2"
}

# same WHAT FILE1 FILE2: the files are equal, or the diff is shown
failed=0
same() {
    if diff -u "$2" "$3" >"$dir/diff"; then
        echo "ok: $1"
    else
        echo "FAILED: $1"
        cat "$dir/diff"
        failed=1
    fi
}

# the new version, installed fresh; and filled with the same data
es_store fresh
describe fresh "$dir/fresh.members"
es_store fresh_data
es_psql -d fresh_data -f "$dir/data.sql" >/dev/null
es_psql -d fresh_data -f "$dir/state.sql" >"$dir/fresh_data.state"
if ! es_psql -d fresh_data -f "$dir/continue.sql" >"$dir/fresh_data.continue" 2>&1; then
    echo "FAILED: a store created at $current does not pass test/sql/upgrade/continue.sql"
    cat "$dir/fresh_data.continue"
    exit 1
fi

current_library=$(es_pkglibdir)/event_sourcing.so
cp "$current_library" "$dir/current.so"
trap 'es_install_library "$dir/current.so"; es_scratch_cleanup' EXIT
if ! git -C "$ES_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    echo "SKIP: not a git checkout, so the released libraries cannot be built"
    exit 0
fi

for version in $released; do
    db="from_${version//./_}"
    echo "== from $version to $current"

    # the released library, built from the commit that froze its script
    commit=$(git -C "$ES_ROOT" log -1 --format=%H -- "event_sourcing--$version.sql")
    mkdir "$dir/lib_$version"
    git -C "$ES_ROOT" archive "$commit" | tar -x -C "$dir/lib_$version"
    if ! make -C "$dir/lib_$version" -s PG_CONFIG="$(es_pg_config)" \
            PG_CFLAGS="$ES_VARIANT_CFLAGS" event_sourcing.so >"$dir/lib_$version.log" 2>&1; then
        echo "FAILED: the library of $version (commit $commit) does not build"
        cat "$dir/lib_$version.log"
        exit 1
    fi
    es_install_library "$dir/lib_$version/event_sourcing.so"

    es_psql -d postgres -c "CREATE DATABASE $db"
    es_psql -d "$db" -c "CREATE EXTENSION event_sourcing VERSION '$version'"
    if ! es_psql -d "$db" -f "$dir/data.sql" >"$dir/$db.data" 2>&1; then
        echo "FAILED: a store created at $version cannot be filled by the library of $version:"
        grep -A 3 'ERROR' "$dir/$db.data"
        exit 1
    fi
    es_psql -d "$db" -f "$dir/state.sql" >"$dir/$db.before"

    # the current library: it refuses the old store until the update, in
    # the session that then runs the update (what a pooled connection
    # sees), which reads the same afterwards; then a new session
    es_install_library "$dir/current.so"
    es_psql -d "$db" -v ON_ERROR_STOP=0 <<SQL >"$dir/$db.refused" 2>&1
SELECT es.stream_version('account-1');
ALTER EXTENSION event_sourcing UPDATE;
\\o $dir/$db.after_same_session
\\i $dir/state.sql
SQL
    if grep -q "ERROR:  extension \"event_sourcing\" is at version $version, but its library is version $current" "$dir/$db.refused" \
            && grep -q 'HINT:  Run ALTER EXTENSION event_sourcing UPDATE.' "$dir/$db.refused"; then
        echo "ok: the library of $current refuses a store at $version until it is updated"
    else
        echo "FAILED: the library of $current does not refuse a store at $version clearly:"
        cat "$dir/$db.refused"
        failed=1
    fi
    es_psql -d "$db" -f "$dir/state.sql" >"$dir/$db.after"
    got=$(es_psql -d "$db" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'event_sourcing'")
    if [ "$got" = "$current" ]; then echo "ok: updated to $got"; else echo "FAILED: updated to $got, not $current"; failed=1; fi

    # (a) the same objects as a fresh install
    describe "$db" "$dir/$db.members"
    same "the objects of $version updated equal a fresh install of $current (- fresh, + updated)" \
        "$dir/fresh.members" "$dir/$db.members"

    # (b) the same data, still working
    same "the data reads the same after the update, in the updating session" \
        "$dir/$db.before" "$dir/$db.after_same_session"
    same "the data reads the same after the update, in a new session" \
        "$dir/$db.before" "$dir/$db.after"
    same "the updated store holds the same as one created at $current with the same data (- created, + updated)" \
        "$dir/fresh_data.state" "$dir/$db.after"
    if es_psql -d "$db" -f "$dir/continue.sql" >"$dir/$db.continue" 2>&1; then
        grep '^ ok: ' "$dir/$db.continue" | sed 's/^ //'
    else
        echo "FAILED: the updated store does not go on working"
        cat "$dir/$db.continue"
        failed=1
    fi
    same "the updated store goes on like one created at $current with the same data (- created, + updated)" \
        "$dir/fresh_data.continue" "$dir/$db.continue"
done
exit "$failed"
