#!/usr/bin/env bash
# Runs every test of event_sourcing: installs what is missing, builds and
# installs the extension, starts a throwaway cluster, then runs the
# pg_regress tests (sql/), the isolation specs (test/specs/) and the shell
# tests (test/t/), and ends with a line "N passed, N failed".
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
# pg_regress writes next to its inputs: give the postgres user a copy.
cp -r sql expected test examples "$work/"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"

es_cluster_start "$work/cluster"
# test/specs/bank.spec loads the example with pg_read_file
cp examples/bank.sql "$work/cluster/data/bank_example.sql"
[ "$(id -u)" = 0 ] && chown postgres: "$work/cluster/data/bank_example.sql"
pgxs=$("$PG_BINDIR/pg_config" --pkglibdir)/pgxs/src/test
passed=0
failed=0

# count "... ok" / "... FAILED" lines of a pg_regress-style run
count_results() {
    local out=$1
    passed=$((passed + $(grep -cE '\.\.\. ok|^ok ' "$out")))
    failed=$((failed + $(grep -cE '\.\.\. FAILED|^not ok ' "$out")))
}

echo "== regression tests"
regress_tests=$(ls sql/*.sql | sed 's|sql/||; s|\.sql$||' | sort)
as_pg "$pgxs/regress/pg_regress" --inputdir="$work" --outputdir="$work/regress" \
    --bindir="$PG_BINDIR" --host="$PGHOST" --port="$PGPORT" \
    --dbname=es_regress $regress_tests >"$work/regress.out" 2>&1
cat "$work/regress.out"
count_results "$work/regress.out"
[ -f "$work/regress/regression.diffs" ] && cat "$work/regress/regression.diffs"

echo "== isolation tests"
iso_tests=$(ls test/specs/*.spec | sed 's|test/specs/||; s|\.spec$||' | sort)
as_pg "$pgxs/isolation/pg_isolation_regress" --inputdir="$work/test" \
    --outputdir="$work/isolation" --bindir="$PG_BINDIR" \
    --host="$PGHOST" --port="$PGPORT" --dbname=es_isolation $iso_tests >"$work/iso.out" 2>&1
cat "$work/iso.out"
count_results "$work/iso.out"
[ -f "$work/isolation/regression.diffs" ] && cat "$work/isolation/regression.diffs"

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
