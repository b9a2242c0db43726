#!/usr/bin/env bash
# test/pgbuild.sh FLAVOUR: build PostgreSQL $PG_MAJOR (default 15) from
# Debian's source package for the test variants of test/run.sh, cache it
# and print the root it is installed under (ROOT/usr/lib/postgresql/15/bin/
# postgres, ROOT/usr/share/postgresql/15, as Debian lays it out; headers,
# pg_config and PGXS under ROOT/usr/lib/postgresql/15 too).
#
# FLAVOUR is one of
#   assert  --enable-cassert --enable-debug
#   asan    the same, compiled and linked with -fsanitize=address
#
# The cache is ES_PG_CACHE (default /var/cache/event_sourcing, or
# ~/.cache/event_sourcing when that is not writable), one directory per
# upstream version, flavour and configure flags: a second run finds it and
# builds nothing.  The source is the upstream tarball inside the source
# package that `apt-get source` would fetch; a deb-src entry mirroring the
# system's binary entries for this Debian release is added if there is none.
# Progress goes to stderr, the root alone to stdout.
set -eu -o pipefail
PG_MAJOR=${PG_MAJOR:-15}
flavour=${1:-}
prefix=/usr/lib/postgresql/$PG_MAJOR
configure_flags="--prefix=$prefix --datadir=/usr/share/postgresql/$PG_MAJOR"
configure_flags+=" --enable-cassert --enable-debug --without-icu"
case "$flavour" in
    assert) cflags="-O2 -g"; ldflags="" ;;
    # -O1 and frame pointers: readable ASan stacks at a moderate slow-down
    asan) cflags="-O1 -g -fno-omit-frame-pointer -fsanitize=address"
          ldflags="-fsanitize=address" ;;
    *) echo "usage: $0 assert|asan" >&2; exit 2 ;;
esac
# The build runs programs it has just built (zic, initdb's helpers): leaks
# at their exit are not findings.
export ASAN_OPTIONS=detect_leaks=0

say() { echo "pgbuild: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

cache=${ES_PG_CACHE:-/var/cache/event_sourcing}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/event_sourcing
    mkdir -p "$cache"
fi

# Add deb-src entries for this release's binary entries (deb822 stanzas of
# /etc/apt/sources.list.d/*.sources and one-line entries alike).
add_deb_src() {
    local codename out=/etc/apt/sources.list.d/event_sourcing-src
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    say "adding deb-src entries for $codename ($out.sources/.list)"
    local f files=()
    for f in /etc/apt/sources.list.d/*.sources; do
        [ "$f" = "$out.sources" ] || files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || files=(/dev/null)
    awk -v rel="$codename" '
        function flush() {
            if (stanza != "" && deb && suite && !off) printf "%s\n", stanza
            stanza = ""; deb = 0; suite = 0; off = 0
        }
        /^[ \t]*$/ { flush(); next }
        /^#/ { next }
        /^Enabled:[ \t]*no/ { off = 1 }
        /^Types:/ { if ($0 ~ /[ \t]deb([ \t]|$)/) deb = 1; $0 = "Types: deb-src" }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i ~ "^" rel "(-|$)") suite = 1 }
        { stanza = stanza $0 "\n" }
        END { flush() }
    ' "${files[@]}" | as_root tee "$out.sources" >/dev/null
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
        | awk -v rel="$codename" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ "^" rel "(-|$)") { sub(/^deb/, "deb-src"); print; next } }' \
        | as_root tee "$out.list" >/dev/null
    [ -s "$out.list" ] || as_root rm -f "$out.list"
    as_root apt-get update -qq
}

# The versions of the source package apt knows, newest first.
source_versions() {
    { apt-cache showsrc "postgresql-$PG_MAJOR" 2>/dev/null || true; } \
        | awk '/^Version:/ { print $2 }' | sort -V -r -u
}

versions=$(source_versions)
if [ -z "$versions" ]; then
    [ -e /etc/apt/sources.list.d/event_sourcing-src.sources ] || add_deb_src
    versions=$(source_versions)
fi
if [ -z "$versions" ]; then
    as_root apt-get update -qq
    versions=$(source_versions)
fi
if [ -z "$versions" ]; then
    say "apt knows no source package postgresql-$PG_MAJOR"; exit 1
fi

# The build, run in a subshell with its output in the log.
build() {
    cd "$src"
    # shellcheck disable=SC2086
    ./configure $configure_flags CFLAGS="$cflags" LDFLAGS="$ldflags"
    nice -n 10 make -j2
    make install DESTDIR="$dir/root"
    # pg_regress and the isolation tester, where PGXS looks for them
    nice -n 10 make -j2 -C src/test/regress
    make -C src/test/regress install DESTDIR="$dir/root"
    nice -n 10 make -j2 -C src/test/isolation
    make -C src/test/isolation install DESTDIR="$dir/root"
    # contrib: the demo uses dblink, tests may use others
    nice -n 10 make -j2 -C contrib
    make -C contrib install DESTDIR="$dir/root"
}

# The cache key: configure flags and the build steps above.
key=$( (echo "$configure_flags CFLAGS=$cflags LDFLAGS=$ldflags"; declare -f build) \
    | sha256sum | cut -c1-10)
# cache_dir VERSION: where the build of that Debian version is cached
cache_dir() {
    local upstream=${1%-*}
    echo "$cache/pg$upstream-$flavour-$key"
}

# One build of a flavour at a time (another run may be building it).
exec 8>"$cache/.lock-$flavour"
flock 8

# The newest version that is cached or whose source the archive serves (a
# mirror may list a version in its index before it serves the files).
fetched=
for v in $versions; do
    dir=$(cache_dir "$v")
    if [ -f "$dir/done" ]; then
        echo "$dir/root"; exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir/src"
    if (cd "$dir/src" && apt-get source --download-only -qq "postgresql-$PG_MAJOR=$v" >/dev/null 2>&1); then
        fetched=$v; break
    fi
    say "the archive does not serve the source of postgresql-$PG_MAJOR $v"
    rm -rf "$dir"
done
[ -n "$fetched" ] || { say "no source package could be fetched"; exit 1; }
version=${fetched%-*}
file=$(cd "$dir/src" && ls postgresql-*.orig.tar.* | head -1)

# Build dependencies the upstream tarball needs (it ships the generated
# parser and scanner, so no bison or flex).
missing=()
for p in gcc make zlib1g-dev libreadline-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

start=$(date +%s)
tar -xf "$dir/src/$file" -C "$dir/src"
src=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d -name "postgresql-*" | head -1)
log=$dir/build.log
say "building PostgreSQL $version ($flavour) in $dir (log: $log)"
if ! (build) >"$log" 2>&1; then
    say "build failed; the end of $log:"
    tail -n 40 "$log" >&2
    exit 1
fi
rm -rf "$dir/src"
touch "$dir/done"
say "built in $(( $(date +%s) - start )) s"
echo "$dir/root"
