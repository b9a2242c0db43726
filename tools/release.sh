#!/usr/bin/env bash
# The release mechanics of event_sourcing (CONTRIBUTING.md, "Releasing").
#
#   tools/release.sh open NEXT   (make release-open NEXT=0.3)
#       After the release of the version in development X (its CHANGELOG
#       heading dated, the release commit tagged vX): freezes
#       event_sourcing.sql as event_sourcing--X.sql, records the checksums
#       of every script X shipped in shipped.sha256, and opens NEXT:
#       default_version, META.json, an empty upgrade script
#       event_sourcing--X--NEXT.sql, a CHANGELOG section, .gitignore.
#
#   tools/release.sh freeze      (make release-freeze)
#       Freezes the last release X again from event_sourcing.sql, for as
#       long as X is not published: no tag vX, and the open upgrade script
#       event_sourcing--X--<version in development>.sql still empty.
#
# Both change files only; review them with git diff, run the tests, commit.
set -eu
cd "$(dirname "$0")/.."

ext=event_sourcing

die() {
    echo "release.sh: $*" >&2
    exit 1
}

# the version in development, from the control file (as the Makefile reads it)
current=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$ext.control")
[ -n "$current" ] || die "no default_version in $ext.control"

# statements FILE: the file without comments, blank lines and the \echo guard
statements() {
    sed -e '/^[[:space:]]*\/\*/,/\*\//d' -e 's/--.*//' -e '/^\\echo /d' \
        -e '/^[[:space:]]*$/d' "$1"
}

# The open upgrade script: the one into the version in development.
open_script() {
    local scripts=("$ext"--*--"$current".sql)
    [ -e "${scripts[0]}" ] || return 0
    [ "${#scripts[@]}" = 1 ] || die "more than one upgrade script into $current: ${scripts[*]}"
    echo "${scripts[0]}"
}

cmd_open() {
    local next=${1:-} released=$current script upgrades
    [ -n "$next" ] || die "usage: tools/release.sh open NEXT (e.g. 0.3)"
    [[ "$next" =~ ^[0-9]+\.[0-9]+$ ]] || die "version \"$next\" is not of the form X.Y"
    [ "$(printf '%s\n%s\n' "$released" "$next" | sort -V | tail -n 1)" = "$next" ] &&
        [ "$next" != "$released" ] || die "$next does not come after $released"
    grep -Eq "^## $released \([0-9]{4}-[0-9]{2}-[0-9]{2}\)" CHANGELOG.md ||
        die "CHANGELOG.md has no dated heading \"## $released (YYYY-MM-DD)\": release $released first (date its heading, commit, tag v$released)"
    [ ! -e "$ext--$released.sql" ] || ! grep -qs " $ext--$released.sql\$" shipped.sha256 ||
        die "$ext--$released.sql is already frozen"
    grep -qx "/$ext--$released.sql" .gitignore ||
        die ".gitignore does not have the line /$ext--$released.sql"

    # freeze the install script of the release, and every upgrade script into it
    cp "$ext.sql" "$ext--$released.sql"
    upgrades=$(ls "$ext"--*--"$released".sql 2>/dev/null || true)
    # shellcheck disable=SC2086
    sha256sum "$ext--$released.sql" $upgrades >>shipped.sha256

    script="$ext--$released--$next.sql"
    cat >"$script" <<EOF
/*
 * event_sourcing: the upgrade from $released to $next.
 *
 * The open upgrade script: every change to the schema after $released is
 * appended here, in the order it is made, as well as made in
 * event_sourcing.sql (CONTRIBUTING.md, "The upgrade discipline").
 * test/t/upgrade.sh checks that a store created at $released and updated
 * equals a fresh install of $next.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\\echo Use "ALTER EXTENSION event_sourcing UPDATE TO '$next'" to load this file. \\quit
EOF

    sed -i "s/^\(default_version[[:space:]]*=[[:space:]]*\)'$released'/\1'$next'/" "$ext.control"
    # META.json: the versions outside "meta-spec", X.Y.0 for X.Y
    awk -v old="\"$released.0\"" -v new="\"$next.0\"" '
        /"meta-spec"/ { skip = 1 }
        !skip && /"version"[ \t]*:/ { sub(old, new) }
        skip && /}/ { skip = 0 }
        { print }' META.json >META.json.new
    mv META.json.new META.json
    awk -v next_version="$next" -v released="$released" '
        !done && index($0, "## " released " (") == 1 {
            print "## " next_version " (unreleased)"
            print ""
            done = 1
        }
        { print }' CHANGELOG.md >CHANGELOG.md.new
    mv CHANGELOG.md.new CHANGELOG.md
    sed -i "s|^/$ext--$released\.sql\$|/$ext--$next.sql|" .gitignore

    echo "froze $ext--$released.sql${upgrades:+ and $upgrades} (shipped.sha256); opened $next with $script"
    echo "next: git add $ext--$released.sql $script; review git diff; test/run.sh; commit"
}

cmd_freeze() {
    local script released tags
    script=$(open_script)
    [ -n "$script" ] || die "no upgrade script into $current: nothing has been released"
    released=${script#"$ext"--}
    released=${released%--"$current".sql}
    if [ -e .git ]; then
        tags=$(git tag --list "v$released") || die "cannot read the tags of this checkout"
        [ -z "$tags" ] ||
            die "v$released is tagged: $ext--$released.sql is shipped and stays as it is; put the change in $script"
    fi
    if [ -n "$(statements "$script")" ]; then
        die "$script has changes: $ext.sql is no longer $released; put the change in $script, or take it out of both files before freezing again"
    fi
    grep -qs " $ext--$released.sql\$" shipped.sha256 ||
        die "shipped.sha256 has no line for $ext--$released.sql"

    cp "$ext.sql" "$ext--$released.sql"
    awk -v line="$(sha256sum "$ext--$released.sql")" -v file=" $ext--$released.sql" '
        substr($0, length($0) - length(file) + 1) == file { print line; next }
        { print }' shipped.sha256 >shipped.sha256.new
    mv shipped.sha256.new shipped.sha256
    echo "froze $ext--$released.sql again from $ext.sql (shipped.sha256 updated)"
}

case "${1:-}" in
open) cmd_open "${2:-}" ;;
freeze) cmd_freeze ;;
*) die "usage: tools/release.sh open NEXT | freeze" ;;
esac
