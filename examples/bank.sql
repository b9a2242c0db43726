-- The bank account of the guide, on event_sourcing: schema "bank".
--
-- Write side: commands load an account with es.fold (a declarative
-- reducer), decide, and append with the version they loaded as the expected
-- version, so two concurrent commands on one account can never both pass
-- their checks against the same state: one of them gets SQLSTATE 40001 and
-- retries.  Refusals (overdraft, non-positive amount, existing or unknown
-- account) are never 40001, so that a client's retry loop does not retry
-- them:
--
--	 non-positive amount, overdraft	 23514 (check_violation)
--	 account exists					 23505 (unique_violation)
--	 unknown account					 P0002 (no_data_found)
--
-- Read side: bank.accounts, a read model kept by an inline projection in
-- the appending transaction, and queries over it and over the events.
--
-- Lifecycle: a deleted account (es.delete_stream) leaves the read model,
-- which names the lifecycle event $deleted (and $tombstoned).  A long
-- account keeps its state when its old events are truncated: append a
-- summary first, then truncate before it,
--
--	 SELECT es.truncate_stream(bank.stream('A-1'), bank.summarize('A-1'));
--
-- the reducer starts over from the summary (the rule language's replace).
--
-- Load it with psql after CREATE EXTENSION event_sourcing.

CREATE SCHEMA bank;

------------------------------------------------------------------------
-- The aggregate: one stream per account, "account-<id>"
------------------------------------------------------------------------

CREATE FUNCTION bank.stream(account_id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 'account-' || account_id;

COMMENT ON FUNCTION bank.stream(text) IS 'The stream of an account';

SELECT es.create_reducer('bank_account', '{"balance": 0, "status": "none", "version": 0}',
    snapshot_every => 100, rules => $rules$
{
  "AccountOpened": [
    {"op": "set", "target": "$.account_id", "from": "$.data.account_id"},
    {"op": "set", "target": "$.owner", "from": "$.data.owner"},
    {"op": "set", "target": "$.balance", "from": "$.data.initial_balance", "default": 0},
    {"op": "set", "target": "$.status", "value": "open"}
  ],
  "MoneyDeposited": [{"op": "add", "target": "$.balance", "from": "$.data.amount"}],
  "MoneyWithdrawn": [{"op": "subtract", "target": "$.balance", "from": "$.data.amount"}],
  "TransferCompleted": [
    {"op": "subtract", "target": "$.balance", "from": "$.data.amount",
     "when": {"path": "$.data.from_stream", "equals_stream_id": true}},
    {"op": "add", "target": "$.balance", "from": "$.data.amount",
     "when": {"path": "$.data.to_stream", "equals_stream_id": true}}
  ],
  "BalanceSummarized": [{"op": "replace", "from": "$.data.state"}],
  "*": [{"op": "set", "target": "$.version", "from": "$.stream_version"}]
}
$rules$);

-- Load an account (its state, with its version), or refuse an unknown one.
CREATE FUNCTION bank.load(account_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    state jsonb := es.fold(bank.stream(account_id), 'bank_account');
BEGIN
    IF state->>'status' <> 'open' THEN
        RAISE EXCEPTION 'account "%" does not exist', account_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN state;
END $$;

COMMENT ON FUNCTION bank.load(text) IS 'The current state of an account; P0002 when it does not exist';

-- Refuse amounts that are not positive.
CREATE FUNCTION bank.check_amount(amount numeric) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF amount IS NULL THEN
        RAISE EXCEPTION 'amount must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF amount <= 0 THEN
        RAISE EXCEPTION 'amount must be positive'
            USING ERRCODE = 'check_violation',
                  DETAIL = format('The amount is %s.', amount);
    END IF;
END $$;

COMMENT ON FUNCTION bank.check_amount(numeric) IS 'Refuses a NULL (22004), zero or negative (23514) amount';

------------------------------------------------------------------------
-- Commands
------------------------------------------------------------------------

CREATE FUNCTION bank.open_account(account_id text, owner text, initial_balance numeric DEFAULT 0)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(account_id, '') = '' OR coalesce(owner, '') = '' THEN
        RAISE EXCEPTION 'account_id and owner must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF initial_balance IS NULL OR initial_balance < 0 THEN
        RAISE EXCEPTION 'initial balance must not be negative'
            USING ERRCODE = 'check_violation';
    END IF;
    IF es.stream_version(bank.stream(account_id)) > 0 THEN
        RAISE EXCEPTION 'account "%" already exists', account_id
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN es.append(bank.stream(account_id), 0,
        es.event('AccountOpened', jsonb_build_object(
            'account_id', account_id, 'owner', owner, 'initial_balance', initial_balance)));
END $$;

COMMENT ON FUNCTION bank.open_account(text, text, numeric) IS
    'Opens an account; 23505 when it exists, 23514 for a negative initial balance';

CREATE FUNCTION bank.deposit(account_id text, amount numeric, method text DEFAULT 'cash')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    state jsonb;
BEGIN
    PERFORM bank.check_amount(amount);
    state := bank.load(account_id);
    RETURN es.append(bank.stream(account_id), (state->>'version')::bigint,
        es.event('MoneyDeposited', jsonb_build_object('amount', amount, 'method', method)));
END $$;

COMMENT ON FUNCTION bank.deposit(text, numeric, text) IS
    'Deposits money; P0002 for an unknown account, 23514 for a non-positive amount';

CREATE FUNCTION bank.withdraw(account_id text, amount numeric, method text DEFAULT 'cash')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    state jsonb;
    balance numeric;
BEGIN
    PERFORM bank.check_amount(amount);
    state := bank.load(account_id);
    balance := (state->>'balance')::numeric;
    IF balance < amount THEN
        RAISE EXCEPTION 'insufficient funds in account "%"', account_id
            USING ERRCODE = 'check_violation',
                  DETAIL = format('The balance is %s; the withdrawal is %s.', balance, amount);
    END IF;
    RETURN es.append(bank.stream(account_id), (state->>'version')::bigint,
        es.event('MoneyWithdrawn', jsonb_build_object('amount', amount, 'method', method)));
END $$;

COMMENT ON FUNCTION bank.withdraw(text, numeric, text) IS
    'Withdraws money; 23514 for an overdraft or a non-positive amount, P0002 for an unknown account';

-- A transfer appends one TransferCompleted event to each account, in one
-- transaction.  The appends (which lock the accounts' stream rows) run in
-- the order of the stream ids, whatever the direction, so two opposite
-- transfers at once cannot deadlock: the second waits, then gets 40001.
CREATE FUNCTION bank.transfer(from_account text, to_account text, amount numeric)
RETURNS TABLE (from_version bigint, to_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    source jsonb;
    target jsonb;
    transfer jsonb;
    balance numeric;
BEGIN
    PERFORM bank.check_amount(amount);
    IF from_account = to_account THEN
        RAISE EXCEPTION 'cannot transfer from an account to itself'
            USING ERRCODE = 'check_violation';
    END IF;
    source := bank.load(from_account);
    target := bank.load(to_account);
    balance := (source->>'balance')::numeric;
    IF balance < amount THEN
        RAISE EXCEPTION 'insufficient funds in account "%"', from_account
            USING ERRCODE = 'check_violation',
                  DETAIL = format('The balance is %s; the transfer is %s.', balance, amount);
    END IF;
    transfer := jsonb_build_object('transfer_id', es.uuid_v7(),
        'from_account', from_account, 'to_account', to_account,
        'from_stream', bank.stream(from_account), 'to_stream', bank.stream(to_account),
        'amount', amount);
    IF bank.stream(from_account) < bank.stream(to_account) THEN
        from_version := es.append(bank.stream(from_account), (source->>'version')::bigint,
                                  es.event('TransferCompleted', transfer));
        to_version := es.append(bank.stream(to_account), (target->>'version')::bigint,
                                es.event('TransferCompleted', transfer));
    ELSE
        to_version := es.append(bank.stream(to_account), (target->>'version')::bigint,
                                es.event('TransferCompleted', transfer));
        from_version := es.append(bank.stream(from_account), (source->>'version')::bigint,
                                  es.event('TransferCompleted', transfer));
    END IF;
    RETURN NEXT;
END $$;

COMMENT ON FUNCTION bank.transfer(text, text, numeric) IS
    'Moves money between two accounts: one event in each, one transaction; 23514 for an overdraft';

-- A summary of the account: its whole state in one event, so that the
-- events before it can be truncated (es.truncate_stream(stream, version))
-- and the account still folds to the same state.  Returns its version.
CREATE FUNCTION bank.summarize(account_id text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    state jsonb := bank.load(account_id);
BEGIN
    RETURN es.append(bank.stream(account_id), (state->>'version')::bigint,
        es.event('BalanceSummarized', jsonb_build_object('state', state - 'version')));
END $$;

COMMENT ON FUNCTION bank.summarize(text) IS
    'Appends a BalanceSummarized event with the account''s state and returns its version: truncate the stream before it';

------------------------------------------------------------------------
-- The read model: bank.accounts, kept by an inline projection
------------------------------------------------------------------------

CREATE TABLE bank.accounts (
    account_id text        PRIMARY KEY,
    owner      text        NOT NULL,
    balance    numeric     NOT NULL,
    status     text        NOT NULL,
    version    bigint      NOT NULL,
    opened_at  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX accounts_owner_idx ON bank.accounts (owner);

CREATE FUNCTION bank.project_account(event es.events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    amount numeric := (event.data->>'amount')::numeric;
BEGIN
    CASE event.event_type
    WHEN '$deleted', '$tombstoned' THEN
        -- lifecycle events: in the "$" stream, about the account's stream
        DELETE FROM bank.accounts
        WHERE account_id = substr(event.data->>'stream_id', length('account-') + 1);
        RETURN;
    WHEN 'BalanceSummarized' THEN
        amount := 0;
    WHEN 'AccountOpened' THEN
        INSERT INTO bank.accounts
        VALUES (event.data->>'account_id', event.data->>'owner',
                coalesce((event.data->>'initial_balance')::numeric, 0), 'open',
                event.stream_version, event.occurred_at, event.occurred_at);
        RETURN;
    WHEN 'MoneyDeposited' THEN
        NULL;
    WHEN 'MoneyWithdrawn' THEN
        amount := -amount;
    WHEN 'TransferCompleted' THEN
        IF event.data->>'from_stream' = event.stream_id THEN
            amount := -amount;
        END IF;
    END CASE;
    UPDATE bank.accounts
    SET balance = balance + amount, version = event.stream_version,
        updated_at = event.occurred_at
    WHERE account_id = substr(event.stream_id, length('account-') + 1);
END $$;

SELECT es.create_projection('bank_accounts', 'bank.project_account(es.events)',
    event_types => ARRAY['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn', 'TransferCompleted',
                         'BalanceSummarized', '$deleted', '$tombstoned'],
    tables => ARRAY['bank.accounts']::regclass[]);

------------------------------------------------------------------------
-- Queries
------------------------------------------------------------------------

CREATE FUNCTION bank.get_account(account_id text) RETURNS jsonb
LANGUAGE sql STABLE
RETURN (SELECT to_jsonb(a) FROM bank.accounts a WHERE a.account_id = get_account.account_id);

COMMENT ON FUNCTION bank.get_account(text) IS
    'The account from the read model (account_id, owner, balance, status, ...); NULL when unknown';

CREATE FUNCTION bank.accounts_by_owner(owner text) RETURNS SETOF bank.accounts
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT * FROM bank.accounts a WHERE a.owner = accounts_by_owner.owner ORDER BY a.account_id;
END;

COMMENT ON FUNCTION bank.accounts_by_owner(text) IS 'The accounts of an owner, from the read model';

CREATE FUNCTION bank.balance_as_of(account_id text, as_of timestamptz) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
    state jsonb;
BEGIN
    IF es.stream_version(bank.stream(account_id)) = 0 THEN
        RAISE EXCEPTION 'account "%" does not exist', account_id
            USING ERRCODE = 'no_data_found';
    END IF;
    state := es.fold(bank.stream(account_id), 'bank_account', as_of => as_of);
    -- not yet opened at that moment: no balance
    RETURN CASE WHEN state->>'status' = 'open' THEN (state->>'balance')::numeric END;
END $$;

COMMENT ON FUNCTION bank.balance_as_of(text, timestamptz) IS
    'The balance from the events that occurred at or before as_of; NULL before the account was opened';

CREATE FUNCTION bank.account_history(account_id text, from_time timestamptz DEFAULT NULL,
                                     to_time timestamptz DEFAULT NULL)
RETURNS TABLE (version bigint, event_type text, amount numeric, occurred_at timestamptz, data jsonb)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT e.stream_version, e.event_type, (e.data->>'amount')::numeric, e.occurred_at, e.data
    FROM es.read_stream(bank.stream(account_history.account_id)) e
    WHERE (account_history.from_time IS NULL OR e.occurred_at >= account_history.from_time)
      AND (account_history.to_time IS NULL OR e.occurred_at <= account_history.to_time)
    ORDER BY e.stream_version;
END;

COMMENT ON FUNCTION bank.account_history(text, timestamptz, timestamptz) IS
    'The events of an account, in order, optionally between two moments (inclusive)';
