-- The privilege matrix: every function, table, view and sequence of the
-- extension against PUBLIC, an ordinary role, a registrant and the store
-- owner, from the catalog (test/sql/privilege_matrix.sql).  A new object
-- or a changed grant changes this output: decide the grant in
-- event_sourcing.sql, then regenerate this file's expected output and
-- docs/privileges.md with test/privilege_matrix.sh.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set matrix :abs_srcdir '/test/sql/privilege_matrix.sql'
\set ECHO none
\i :setup
\i :matrix
