#!/usr/bin/env bash
# The scripts shipped in releases are unchanged (their checksums are in
# shipped.sha256), every script has its \echo guard, there is one open
# upgrade script, and the control file, META.json and CHANGELOG.md agree on
# the version in development: make check-version.
set -eu
source "$(dirname "$0")/../lib.sh"
make -s -C "$ES_ROOT" PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" check-version
