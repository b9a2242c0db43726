#!/usr/bin/env bash
# The upgrade path.  For every released version (the install scripts frozen
# in shipped.sha256): a store created at that version and filled with data
# of every kind (test/sql/upgrade/data.sql), then ALTER EXTENSION
# event_sourcing UPDATE, must
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

for version in $released; do
    db="from_${version//./_}"
    echo "== from $version to $current"
    es_psql -d postgres -c "CREATE DATABASE $db"
    es_psql -d "$db" -c "CREATE EXTENSION event_sourcing VERSION '$version'"
    if ! es_psql -d "$db" -f "$dir/data.sql" >"$dir/$db.data" 2>&1; then
        echo "FAILED: a store created at $version cannot be filled with the current library:"
        grep -A 3 'ERROR' "$dir/$db.data"
        echo "(the library must serve the declarations of every released script until the update:"
        echo "CONTRIBUTING.md, \"The upgrade discipline\"; a release not yet published is frozen"
        echo "again from event_sourcing.sql with make release-freeze)"
        exit 1
    fi

    # one session: the state, the update, the state again (what a pooled
    # connection sees); then a new session
    es_psql -d "$db" <<SQL
\\o $dir/$db.before
\\i $dir/state.sql
\\o
ALTER EXTENSION event_sourcing UPDATE;
\\o $dir/$db.after_same_session
\\i $dir/state.sql
SQL
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
