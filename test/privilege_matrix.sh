#!/usr/bin/env bash
# The privilege matrix, generated from the catalog: runs
# test/sql/privilege_matrix.sql (through sql/security_privilege_matrix.sql,
# the way pg_regress runs a test) on a throwaway cluster and writes
#   expected/security_privilege_matrix.out   the regression test's expected output
#   docs/privileges.md                       the same rows, with what they mean
#
#   test/privilege_matrix.sh           build and install the extension, write both files
#   test/privilege_matrix.sh --check   compare both files with what would be written
#                                      (the extension installed already); exit 1 if they differ
set -eu
source "$(dirname "$0")/lib.sh"
cd "$ES_ROOT"

mode="write"
case ${1:-} in
    '') ;;
    --check) mode=check ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
if [ $mode = write ]; then
    es_install_deps
    es_lock
    es_build_install
fi

es_scratch work privileges
mkdir -p "$work/src/sql" "$work/src/test"
cp sql/security_privilege_matrix.sql "$work/src/sql/"
cp -r test/sql "$work/src/test/"
es_give -R "$work/src"
es_cluster_start "$work/cluster"
es_psql -d postgres -c "CREATE DATABASE matrix"
# as pg_regress runs a test: psql -X -a -q, the source directory in PG_ABS_SRCDIR
as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres PG_ABS_SRCDIR="$work/src" \
    "$PG_BINDIR/psql" -X -a -q -d matrix \
    <"$work/src/sql/security_privilege_matrix.sql" >"$work/matrix.out" 2>&1

{
    cat <<'MD'
# Privileges: every function, table and view, by role

Generated from the catalog by `test/privilege_matrix.sh`; do not edit by
hand. Each row is a member of the extension (`pg_depend`), each cell what
`has_function_privilege`, `has_table_privilege`, `has_sequence_privilege`
or `has_schema_privilege` answers for that role on a fresh install. The
regression test `sql/security_privilege_matrix.sql` expects exactly these
rows and `test/t/security_privilege_doc.sh` checks this page, so a new
function or view fails the suite until its grant is decided (in
`event_sourcing.sql`, beside the object) and both files are regenerated
with `test/privilege_matrix.sh`.

| column | the role |
|---|---|
| PUBLIC | the pseudo-role every role belongs to |
| ordinary role | a role with no grants of its own: what PUBLIC has |
| registrant | a role granted `EXECUTE` on what registering upcasters and projections needs: `es.create_upcaster`, `es.drop_upcaster`, `es.create_projection`, `es.drop_projection`, `es.rebuild_projection`, `es.run_projections` (reducers and subscriptions need no grant) |
| store owner | the extension's owner, the role that created it: it owns the `es` tables, and the C functions run their own SQL as it. `CREATE EXTENSION event_sourcing` needs a superuser, so it holds everything |

Cells list the privileges held: `EXECUTE` for functions; `SELECT`,
`INSERT`, `UPDATE`, `DELETE`, `TRUNCATE` for tables and views; `USAGE`,
`SELECT`, `UPDATE` for the sequence; `USAGE`, `CREATE` for the schema; —
for none. Privileges are not the whole story: only the owner of a registry
entry (or a member of it, or a superuser) may change it (`42501`), and
`UPDATE`, `DELETE` and `TRUNCATE` of `es.events` are refused by triggers for
every role, the store owner included; see [security](security.md).

| object | kind | PUBLIC | ordinary role | registrant | store owner |
|---|---|---|---|---|---|
MD
    grep '^| ' "$work/matrix.out"
} >"$work/privileges.md"

status=0
if [ $mode = write ]; then
    cp "$work/matrix.out" expected/security_privilege_matrix.out
    cp "$work/privileges.md" docs/privileges.md
    echo "wrote expected/security_privilege_matrix.out and docs/privileges.md ($(grep -c '^| `' "$work/privileges.md") objects)"
else
    diff -u expected/security_privilege_matrix.out "$work/matrix.out" || status=1
    diff -u docs/privileges.md "$work/privileges.md" || status=1
    [ $status = 0 ] && echo "docs/privileges.md and expected/security_privilege_matrix.out match the catalog ($(grep -c '^| `' "$work/privileges.md") objects)"
    [ $status = 0 ] || echo "out of date: decide the grants, then run test/privilege_matrix.sh" >&2
fi
exit $status
