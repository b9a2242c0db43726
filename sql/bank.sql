-- The bank account example (examples/bank.sql)
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

-- open, deposit, withdraw, transfer
SELECT bank.open_account('A-1', 'Ada', 100);
SELECT bank.open_account('B-1', 'Bob');
SELECT bank.open_account('A-2', 'Ada', 0.10);
SELECT bank.deposit('A-1', 25.50);
SELECT bank.deposit('A-1', 0.1, 'card');
SELECT bank.withdraw('A-1', 20);
SELECT * FROM bank.transfer('A-1', 'B-1', 55.55);
SELECT * FROM bank.transfer('B-1', 'A-1', 0.05);
SELECT bank.get_account('A-1') - 'opened_at' - 'updated_at' AS a1,
       bank.get_account('B-1') - 'opened_at' - 'updated_at' AS b1;
-- the read model agrees with the events
SELECT a.account_id, a.balance, (es.fold(bank.stream(a.account_id), 'bank_account')->>'balance')::numeric AS folded
FROM bank.accounts a ORDER BY 1;
SELECT account_id, balance FROM bank.accounts_by_owner('Ada');
SELECT count(*) FROM bank.accounts_by_owner('Nobody');
SELECT bank.get_account('nope');
-- each command appended exactly one event to each stream it touched
SELECT stream_id, array_agg(event_type ORDER BY stream_version) FROM es.events GROUP BY 1 ORDER BY 1;

-- refusals: never 40001, nothing appended
SELECT pg_temp.try($$SELECT bank.withdraw('A-1', 1000)$$);
SELECT pg_temp.try($$SELECT bank.withdraw('A-1', 0)$$);
SELECT pg_temp.try($$SELECT bank.deposit('A-1', -5)$$);
SELECT pg_temp.try($$SELECT bank.deposit('A-1', NULL)$$);
SELECT pg_temp.try($$SELECT bank.transfer('A-1', 'B-1', 1000)$$);
SELECT pg_temp.try($$SELECT bank.transfer('A-1', 'A-1', 1)$$);
SELECT pg_temp.try($$SELECT bank.transfer('A-1', 'Z-9', 1)$$);
SELECT pg_temp.try($$SELECT bank.open_account('A-1', 'Eve')$$);
SELECT pg_temp.try($$SELECT bank.open_account('C-1', 'Cy', -1)$$);
SELECT pg_temp.try($$SELECT bank.open_account('', 'Cy')$$);
SELECT pg_temp.try($$SELECT bank.deposit('Z-9', 5)$$);
SELECT pg_temp.try($$SELECT bank.balance_as_of('Z-9', now())$$);
SELECT count(*) AS events FROM es.events;

-- the balance as of a moment: back-dated business time counts where it says
SELECT es.append(bank.stream('H-1'), 0,
    es.event('AccountOpened', '{"account_id": "H-1", "owner": "Hal", "initial_balance": 10}',
             occurred_at => '2024-01-01 00:00+00'),
    es.event('MoneyDeposited', '{"amount": 5}', occurred_at => '2024-01-10 00:00+00'));
SELECT es.append(bank.stream('H-1'), 2,
    es.event('MoneyDeposited', '{"amount": 7}', occurred_at => '2024-01-05 00:00+00'));
SELECT bank.balance_as_of('H-1', '2023-12-31') AS before_opening,
       bank.balance_as_of('H-1', '2024-01-01') AS at_opening,
       bank.balance_as_of('H-1', '2024-01-06') AS with_back_dated,
       bank.balance_as_of('H-1', '2024-01-11') AS later;
SELECT version, event_type, amount, occurred_at FROM bank.account_history('H-1');
SELECT version, event_type, amount FROM bank.account_history('H-1', '2024-01-02', '2024-01-09');
SELECT version, event_type, amount FROM bank.account_history('H-1', to_time => '2024-01-05');
