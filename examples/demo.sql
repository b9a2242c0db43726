-- The event_sourcing demo: read by demo.sh, or paste it into psql.
\pset footer off
\set VERBOSITY default
CREATE EXTENSION IF NOT EXISTS event_sourcing;

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

\echo '1. Open an account: append its first event to a new stream (expected version 0).'
SELECT es.append('account-42', 0,
    es.event('AccountOpened', '{"owner": "Ada", "initial_balance": "100.00"}'))
    AS new_version;

\echo '2. Two deposits in one atomic batch, at the version we just saw (1).'
SELECT es.append('account-42', 1,
    es.event('MoneyDeposited', '{"amount": "25.50", "method": "cash"}'),
    es.event('MoneyDeposited', '{"amount": "10.00", "method": "card"}'))
    AS new_version;

\echo '3. Session A and session B both read the account at version 3 ...'
SELECT es.stream_version('account-42') AS version_both_sessions_read;
\echo '   ... session B withdraws first, expecting version 3: it wins.'
SELECT es.append('account-42', 3,
    es.event('MoneyWithdrawn', '{"amount": "30.00"}')) AS session_b_version;
\echo '   ... session A still expects version 3: a version conflict (40001, retry-able).'
SELECT pg_temp.attempt($$SELECT es.append('account-42', 3,
    es.event('MoneyWithdrawn', '{"amount": "90.00"}'))$$) AS session_a;

\echo '4. A retry of an append that already landed (same event id) is idempotent.'
SELECT es.append('account-42', NULL,
    es.event('MoneyDeposited', '{"amount": "1.00"}',
             event_id => '01890a5d-ac96-774b-bcce-b302099a8057')) AS first_try,
       es.append('account-42', NULL,
    es.event('MoneyDeposited', '{"amount": "1.00"}',
             event_id => '01890a5d-ac96-774b-bcce-b302099a8057')) AS retried;

\echo '5. Read the stream: every change, in order.'
SELECT stream_version AS v, event_type, data, occurred_at::date AS on
FROM es.read_stream('account-42');

\echo '6. Read it backwards, the last two events only.'
SELECT stream_version AS v, event_type, data->>'amount' AS amount
FROM es.read_stream('account-42', backwards => true, max_count => 2);

\echo '7. Events are immutable, even for a superuser.'
SELECT pg_temp.attempt($$UPDATE es.events SET data = '{"amount": "1000000"}'$$) AS tamper;
