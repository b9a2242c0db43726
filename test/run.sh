#!/usr/bin/env bash
# Runs every test of event_sourcing: installs what is missing, builds and
# installs the extension, starts a throwaway cluster, runs make installcheck
# there (the pg_regress tests sql/ and the isolation specs specs/), then the
# shell tests (test/t/) that need clusters of their own, and ends with a line
# "N passed, N failed".
# --assert: against PostgreSQL built with assertions; --asan: built with
# assertions and AddressSanitizer (both built and cached by test/pgbuild.sh);
# --ubsan: the extension built with UBSan (see es_variant in test/lib.sh).
set -u
case "${1:-}" in
    "") variant= ;;
    --assert|--asan|--ubsan) variant=${1#--} ;;
    *) echo "usage: $0 [--assert | --asan | --ubsan]" >&2; exit 2 ;;
esac
source "$(dirname "$0")/lib.sh"
cd "$ES_ROOT"

es_install_deps
es_variant "$variant" || exit 1
es_lock
make -s clean >/dev/null
es_build_install PG_CFLAGS="${ES_TEST_CFLAGS:--Wall -Wextra -Werror} $ES_VARIANT_CFLAGS"

work=$(mktemp -d /tmp/es_test.XXXXXX)
trap 'es_cluster_stop "$work/cluster"; [ -n "${ES_KEEP_RESULTS:-}" ] && cp -r "$work" "$ES_KEEP_RESULTS"; rm -rf "$work"' EXIT
# make installcheck writes results/ next to its inputs: give the postgres
# user a copy of the tree.
mkdir "$work/tree"
cp -r Makefile ./*.control sql expected specs test examples "$work/tree/"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"

es_cluster_start "$work/cluster"
passed=0
failed=0

# count "... ok" / "... FAILED" lines of a pg_regress-style run
count_results() {
    local out=$1
    passed=$((passed + $(grep -cE '\.\.\. ok|^ok ' "$out")))
    failed=$((failed + $(grep -cE '\.\.\. FAILED|^not ok ' "$out")))
}

# make installcheck, in two steps (the regression tests, then the isolation
# specs) so that a failing step does not keep the other from running
for suite in regress isolation; do
    echo "== $suite tests (make installcheck)"
    if [ "$suite" = regress ]; then only=ISOLATION=; else only=REGRESS=; fi
    as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
        make -C "$work/tree" -s PG_CONFIG="$(es_pg_config)" \
        "$only" installcheck >"$work/$suite.out" 2>&1
    status=$?
    cat "$work/$suite.out"
    count_results "$work/$suite.out"
    # a run that failed before any test did counts as one failure
    if [ "$status" != 0 ] && ! grep -qE '\.\.\. FAILED|^not ok ' "$work/$suite.out"; then
        failed=$((failed + 1))
    fi
done
for diffs in "$work"/tree/regression.diffs "$work"/tree/output_iso/regression.diffs; do
    [ -f "$diffs" ] && cat "$diffs"
done

echo "== shell tests"
for t in test/t/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    if bash "$t" >"$work/$name.log" 2>&1; then
        echo "test $name ... ok"
        passed=$((passed + 1))
    else
        echo "test $name ... FAILED"
        sed 's/^/    /' "$work/$name.log"
        failed=$((failed + 1))
    fi
done

if [ -n "$variant" ]; then
    if es_findings_check "$work/cluster/server.log"; then
        echo "test ${variant}_findings ... ok"; passed=$((passed + 1))
    else
        echo "test ${variant}_findings ... FAILED"; failed=$((failed + 1))
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
