-- The event_sourcing demo: the bank account of the guide, step by step.
-- Run by demo.sh (which passes the server's host and port for the second
-- session), or paste it into psql in a fresh database.
\pset footer off
\set QUIET on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS event_sourcing;
CREATE EXTENSION IF NOT EXISTS dblink;
DROP SCHEMA IF EXISTS bank CASCADE;
\o /dev/null
\i examples/bank.sql
\o
RESET client_min_messages;

-- Show how a statement failed (SQLSTATE and message) without stopping.
CREATE OR REPLACE FUNCTION pg_temp.attempt(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; con text;
BEGIN
    EXECUTE sql;
    RETURN 'succeeded';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, con = CONSTRAINT_NAME;
    RETURN format('refused: SQLSTATE %s, %s. %s%s', st, msg, det,
                  CASE WHEN con <> '' THEN ' (constraint ' || con || ')' ELSE '' END);
END $$;

\echo
\echo '1. Open two accounts for Ada and one for Bob: each is a stream of events, account-<id>.'
SELECT bank.open_account('ada-1', 'Ada', 100) AS version,
       bank.open_account('ada-2', 'Ada') AS version_2,
       bank.open_account('bob-1', 'Bob', 20) AS version_3;

\echo '2. Deposits and a withdrawal: each command folds the account, decides, appends one event.'
SELECT bank.deposit('ada-1', 50.25) AS version;
SELECT clock_timestamp() AS before_withdrawal \gset
SELECT bank.withdraw('ada-1', 30, 'card') AS version;

\echo '3. An overdraft is refused with a clear error (23514), and nothing is appended.'
SELECT pg_temp.attempt($$SELECT bank.withdraw('bob-1', 500)$$) AS overdraft;

\echo '4. A transfer appends one event to each account, in one transaction.'
SELECT * FROM bank.transfer('ada-1', 'bob-1', 70.25);

\echo '5. The read model, kept current by an inline projection in the same transactions.'
SELECT account_id, owner, balance, status, version FROM bank.accounts ORDER BY account_id;

\echo '6. Accounts by owner, straight from the read model.'
SELECT account_id, balance FROM bank.accounts_by_owner('Ada');

\echo '7. Ada''s balance as of a moment before the withdrawal: the events are the truth, folded as of any time.'
SELECT bank.balance_as_of('ada-1', :'before_withdrawal') AS balance_then,
       bank.balance_as_of('ada-1', now()) AS balance_now;

\echo '8. The account''s history.'
SELECT version, event_type, amount, data->>'method' AS method
FROM bank.account_history('ada-1');

\echo '9. Two sessions, one account: both read bob-1 at the same version ...'
SELECT (bank.load('bob-1')->>'version')::bigint AS version_read \gset
SELECT :version_read AS both_sessions_read_version;
\echo '   ... the other session deposits first (through dblink, a real second connection) ...'
SELECT version AS other_session_deposited_at_version
FROM dblink(format('host=%s port=%s dbname=%s user=%s', :'pghost', :'pgport',
                   current_database(), current_user),
            $$SELECT bank.deposit('bob-1', 5)$$) AS t(version bigint);
\echo '   ... so this session''s append, expecting the version it read, is a conflict (40001: retry).'
SELECT pg_temp.attempt(format($$SELECT es.append(bank.stream('bob-1'), %s,
    es.event('MoneyWithdrawn', '{"amount": 10}'))$$, :version_read)) AS this_session;

\echo '10. Last year''s code stored deposits as {"value": ...} (schema version 1). An upcaster'
\echo '    reads them as today''s {"amount": ...} (version 2); the stored rows never change.'
SELECT es.create_upcaster('MoneyDeposited', 1,
    rules => '[{"op": "move", "from": "$.data.value", "target": "$.amount"}]') AS registered;
SELECT es.append(bank.stream('ada-2'), NULL,
    es.event('MoneyDeposited', '{"value": 12.50}', schema_version => 1)) AS version;
SELECT stream_version AS v, schema_version, data AS stored FROM es.events
WHERE stream_id = bank.stream('ada-2') ORDER BY stream_version;
SELECT stream_version AS v, schema_version, data AS as_read FROM es.read_stream(bank.stream('ada-2'));
SELECT bank.get_account('ada-2')->'balance' AS read_model_balance,
       es.fold(bank.stream('ada-2'), 'bank_account')->'balance' AS folded_balance;

\echo '11. Events are immutable, even for a superuser.'
SELECT pg_temp.attempt($$UPDATE es.events SET data = '{"amount": 1000000}'$$) AS tamper;
