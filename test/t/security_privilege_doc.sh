#!/usr/bin/env bash
# docs/privileges.md (and the expected output of the regression test
# security_privilege_matrix) are what test/privilege_matrix.sh generates
# from the catalog of the installed extension.
set -eu
exec bash "$(dirname "$0")/../privilege_matrix.sh" --check
