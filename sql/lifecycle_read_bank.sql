-- Stream lifecycle in the bank example (examples/bank.sql): a deleted
-- account leaves the read model (its projection names $deleted and
-- $tombstoned), and the truncate recipe -- a summary first, then the
-- events before it truncated -- keeps the balance.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
SET timezone = 'UTC';
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bank CASCADE;
RESET client_min_messages;
\set bank :abs_srcdir '/examples/bank.sql'
\set ECHO none
\i :bank
\set ECHO all

SELECT bank.open_account('A-1', 'Ada', 100);
SELECT bank.open_account('B-1', 'Bob', 50);
SELECT bank.deposit('A-1', 25.50);
SELECT bank.withdraw('A-1', 10);
SELECT * FROM bank.transfer('A-1', 'B-1', 15.25);
SELECT bank.deposit('A-1', 1);
SELECT account_id, balance, version FROM bank.accounts ORDER BY account_id;

-- The truncate recipe: a summary, then truncate before it.
SELECT es.fold(bank.stream('A-1'), 'bank_account') AS before;
SELECT FROM es.truncate_stream(bank.stream('A-1'), bank.summarize('A-1'));
SELECT es.fold(bank.stream('A-1'), 'bank_account') AS after;
SELECT version, event_type, amount, data FROM bank.account_history('A-1');
SELECT account_id, balance, version FROM bank.accounts ORDER BY account_id;
-- the account goes on from the summary, in the fold and in the read model
SELECT bank.withdraw('A-1', 1.25);
SELECT bank.deposit('A-1', 2);
SELECT es.fold(bank.stream('A-1'), 'bank_account');
SELECT account_id, balance, version FROM bank.accounts ORDER BY account_id;
SELECT pg_temp.try($$SELECT bank.withdraw('A-1', 1000)$$);
-- a rebuild of the read model from the whole log agrees
SELECT es.rebuild_projection('bank_accounts');
SELECT account_id, balance, version FROM bank.accounts ORDER BY account_id;

-- Deleting an account: it leaves the read model, in the same transaction
SELECT FROM es.delete_stream(bank.stream('B-1'));
SELECT bank.get_account('B-1');
SELECT account_id FROM bank.accounts ORDER BY account_id;
-- commands see no account; its id stays taken
SELECT pg_temp.try($$SELECT bank.deposit('B-1', 5)$$);
SELECT pg_temp.try($$SELECT * FROM bank.transfer('A-1', 'B-1', 5)$$);
SELECT pg_temp.try($$SELECT bank.open_account('B-1', 'Bea')$$);
SELECT count(*) FROM bank.account_history('B-1');
-- a rebuild replays the deletion too
SELECT es.rebuild_projection('bank_accounts');
SELECT account_id, balance, version FROM bank.accounts ORDER BY account_id;
