-- Retention policies by category: es.create_retention, es.drop_retention,
-- the view es.retention; who may manage them; bad input.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SET client_min_messages = warning;
DROP ROLE IF EXISTS es_keeper;
DROP ROLE IF EXISTS es_other;
RESET client_min_messages;
CREATE ROLE es_keeper;
CREATE ROLE es_other;

SELECT es.create_retention('audit', max_age => '30 days');
SELECT es.create_retention('metrics', max_count => 100);
SELECT es.create_retention('session', '1 hour', 10);
SELECT category, max_age, max_count, owner, created_at <= now() AS created_before_now
FROM es.retention ORDER BY category;

-- One policy per category: a second one is refused, not merged.
SELECT pg_temp.try($$SELECT es.create_retention('audit', max_count => 5)$$);
SELECT es.drop_retention('session');
SELECT pg_temp.try($$SELECT es.drop_retention('session')$$);
SELECT es.create_retention('session', max_count => 1);
SELECT category, max_age, max_count FROM es.retention ORDER BY category;

-- Bad input: clear errors, nothing registered.
SELECT pg_temp.try($$SELECT es.create_retention(NULL, max_count => 1)$$);
SELECT pg_temp.try($$SELECT es.create_retention('', max_count => 1)$$);
SELECT pg_temp.try($$SELECT es.create_retention('a-b', max_count => 1)$$);
SELECT pg_temp.try($$SELECT es.create_retention('$account', max_count => 1)$$);
SELECT pg_temp.try($$SELECT es.create_retention(repeat('c', 1025), max_count => 1)$$);
SELECT pg_temp.try($$SELECT es.create_retention('x')$$);
SELECT pg_temp.try($$SELECT es.create_retention('x', NULL, NULL)$$);
SELECT pg_temp.try($$SELECT es.create_retention('x', max_age => '0 seconds')$$);
SELECT pg_temp.try($$SELECT es.create_retention('x', max_age => '-1 day')$$);
SELECT pg_temp.try($$SELECT es.create_retention('x', max_age => '1 month -40 days')$$);
SELECT pg_temp.try($$SELECT es.create_retention('x', max_count => 0)$$);
SELECT pg_temp.try($$SELECT es.create_retention('x', max_count => -9223372036854775808)$$);
SELECT pg_temp.try($$SELECT es.drop_retention(NULL)$$);
SELECT pg_temp.try($$SELECT es.drop_retention('')$$);
SELECT pg_temp.try($$SELECT es.drop_retention('x')$$);
SELECT pg_temp.try($$SELECT es.drop_retention('a-b')$$);
SELECT count(*) FROM es.retention;

-- Who may: creating and dropping policies is not granted to PUBLIC (it
-- hides events and lets purge remove them); the view is readable by all.
SET ROLE es_keeper;
SELECT pg_temp.try($$SELECT es.create_retention('keeper', max_count => 3)$$);
SELECT pg_temp.try($$SELECT es.drop_retention('audit')$$);
SELECT count(*) FROM es.retention;
SELECT pg_temp.try($$SELECT count(*) FROM es.retention_registry$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION es.create_retention(text, interval, bigint),
                          es.drop_retention(text) TO es_keeper, es_other;
SET ROLE es_keeper;
SELECT es.create_retention('keeper', max_count => 3);
SELECT current_user;   -- the owner's identity does not leak out
-- only the policy's creator, its members and superusers may drop it
SELECT pg_temp.try($$SELECT es.drop_retention('audit')$$);
SET ROLE es_other;
SELECT pg_temp.try($$SELECT es.drop_retention('keeper')$$);
RESET ROLE;
GRANT es_keeper TO es_other;
SET ROLE es_other;
SELECT es.drop_retention('keeper');
RESET ROLE;
SELECT category, owner FROM es.retention ORDER BY category;

-- The registry is dumped with the data.
SELECT c.relname FROM pg_extension x, unnest(x.extconfig) AS r(oid)
JOIN pg_class c ON c.oid = r.oid
WHERE x.extname = 'event_sourcing' AND c.relname = 'retention_registry';

REVOKE ALL ON FUNCTION es.create_retention(text, interval, bigint),
                       es.drop_retention(text) FROM es_keeper, es_other;
DROP ROLE es_keeper;
DROP ROLE es_other;
