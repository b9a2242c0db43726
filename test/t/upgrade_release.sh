#!/usr/bin/env bash
# The release mechanics (tools/release.sh, make release-freeze, make
# release-open), in a copy of the release files: editing a shipped script
# fails make check-version; make release-freeze freezes the last release
# again from event_sourcing.sql, and refuses once the open upgrade script
# has a change or the release is tagged; make release-open NEXT freezes the
# released version, records its scripts and opens the next one, after
# which the Makefile installs every script and the checks pass.
set -eu
source "$(dirname "$0")/../lib.sh"

copy=$(mktemp -d "${TMPDIR:-/tmp}/es_release.XXXXXX")
trap 'rm -rf "$copy"' EXIT
cd "$ES_ROOT"
cp -r Makefile event_sourcing.control META.json CHANGELOG.md .gitignore shipped.sha256 \
    event_sourcing*.sql tools "$copy/"
cd "$copy"

current=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" event_sourcing.control)
released=$(sed -n 's/^[0-9a-f]*  event_sourcing--\([0-9.]*\)\.sql$/\1/p' shipped.sha256 | sort -V | tail -n 1)
next=${current%.*}.$((${current##*.} + 1))
open_script=event_sourcing--$released--$current.sql
echo "== released $released, in development $current, open upgrade script $open_script"

mk() {
    make -s PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" "$@"
}

# fails WHAT PATTERN COMMAND...: the command fails with output matching PATTERN
fails() {
    local what=$1 pattern=$2 out
    shift 2
    if out=$("$@" 2>&1); then
        echo "FAILED: $what: the command succeeded"
        echo "$out"
        exit 1
    fi
    if ! grep -q -- "$pattern" <<<"$out"; then
        echo "FAILED: $what: the output does not say \"$pattern\""
        echo "$out"
        exit 1
    fi
    echo "ok: $what"
    sed 's/^/    /' <<<"$out"
}

# ok WHAT COMMAND...: the command succeeds
ok() {
    local what=$1 out
    shift
    if ! out=$("$@" 2>&1); then
        echo "FAILED: $what"
        echo "$out"
        exit 1
    fi
    echo "ok: $what"
}

ok "make check-version passes" mk check-version

# a shipped script edited
cp "event_sourcing--$released.sql" saved.sql
echo "-- an edit" >>"event_sourcing--$released.sql"
fails "an edited shipped install script fails make check-version" \
    "event_sourcing--$released.sql: FAILED" mk check-version
mv saved.sql "event_sourcing--$released.sql"

# the scripts need their guard
cp "$open_script" saved.sql
sed -i '/^\\echo /d' "$open_script"
fails "an upgrade script without its \\echo guard fails make check-version" \
    "$open_script: no \\\\echo guard" mk check-version
mv saved.sql "$open_script"

# the release is frozen again from a changed event_sourcing.sql, while the
# open upgrade script has no change yet (in this copy: the tree's may have)
sed -i '/^\\echo Use/q' "$open_script"
echo "COMMENT ON SCHEMA es IS 'changed before the release';" >>event_sourcing.sql
ok "a change to event_sourcing.sql passes make check-version" mk check-version
ok "make release-freeze" mk release-freeze
ok "the release is frozen again: its script is event_sourcing.sql" cmp event_sourcing.sql "event_sourcing--$released.sql"
ok "... and its checksum recorded" mk check-version

# but not once the open upgrade script has a change, or the release is tagged
cp "$open_script" saved.sql
echo "COMMENT ON SCHEMA es IS 'changed after the release';" >>"$open_script"
fails "make release-freeze refuses once the open upgrade script has a change" \
    "$open_script has changes" mk release-freeze
mv saved.sql "$open_script"
git init -q . && git add -A && git -c user.name=t -c user.email=t@t commit -qm t && git tag "v$released"
fails "make release-freeze refuses once the release is tagged" "v$released is tagged" mk release-freeze
rm -rf .git

# opening the next version
fails "make release-open refuses before the release is dated in CHANGELOG.md" \
    "no dated heading" mk release-open NEXT="$next"
sed -i "s/^## $current (unreleased)/## $current (2099-01-02)/" CHANGELOG.md
ok "make release-open NEXT=$next" mk release-open NEXT="$next"
ok "$current is frozen: its script is event_sourcing.sql" cmp event_sourcing.sql "event_sourcing--$current.sql"
ok "... its checksum recorded" grep -q "  event_sourcing--$current.sql\$" shipped.sha256
ok "... and its upgrade script's" grep -q "  $open_script\$" shipped.sha256
ok "the new open upgrade script has its guard" \
    grep -qx "\\\\echo Use \"ALTER EXTENSION event_sourcing UPDATE TO '$next'\" to load this file. \\\\quit" \
    "event_sourcing--$current--$next.sql"
ok "default_version is $next" grep -qx "default_version = '$next'" event_sourcing.control
ok "META.json says $next.0 twice" test "$(grep -c "\"version\": \"$next.0\"" META.json)" = 2
ok "CHANGELOG.md has a section for $next above $current" \
    test "$(grep -m 2 '^## ' CHANGELOG.md | tr '\n' ' ')" = "## $next (unreleased) ## $current (2099-01-02) "
ok ".gitignore ignores only the script of $next" \
    test "$(grep '^/event_sourcing--' .gitignore)" = "/event_sourcing--$next.sql"
data=$(mk -f Makefile -f - print-data <<<'print-data: ; @echo $(DATA) / $(DATA_built)')
ok "the Makefile installs every script ($data)" \
    test "$data" = "$(ls event_sourcing--*.sql | grep -vx "event_sourcing--$next.sql" | tr '\n' ' ')/ event_sourcing--$next.sql"
ok "make check-version passes" mk check-version
echo "-- an edit" >>"$open_script"
fails "an edited upgrade script of a release fails make check-version" \
    "$open_script: FAILED" mk check-version
